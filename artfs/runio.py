"""What a run logs and uses: W&B's ``log_artifact``, ``use_artifact``, ``log_model``,
``use_model`` and ``link_model``, behind the thin methods of ``Run``."""

import os

from artfs import registry
from artfs.artifact import Artifact
from artfs.errors import UsageError, WrongArgument
from artfs.store import runs as runs_mod
from artfs.store.store import Store
from artfs.wbpath import LEGACY_REGISTRY, Scope


def alias_list(aliases) -> list[str]:
    """W&B takes one alias as a string, or a list."""
    if aliases is None:
        return []
    return [aliases] if isinstance(aliases, str) else list(aliases)


def prepare(run_id: str, artifact_or_path, name: str | None, type: str | None) -> Artifact:
    """An Artifact, or a draft of a path as W&B makes one: named ``run-RUNID-BASENAME``,
    of type ``unspecified``, holding the file, the directory's files or the reference."""
    if isinstance(artifact_or_path, Artifact):
        return artifact_or_path
    if not isinstance(artifact_or_path, (str, os.PathLike)):
        raise WrongArgument(
            "You must pass an instance of wandb.Artifact or a valid file path "
            f"to log_artifact, not {artifact_or_path.__class__.__name__}"
        )
    path = os.fspath(artifact_or_path)
    base = (
        os.path.basename(os.path.normpath(path))
        if "://" not in path
        else os.path.basename(path.rstrip("/"))
    )
    artifact = Artifact(name or f"run-{run_id}-{base}", type or "unspecified")
    if os.path.isfile(path):
        artifact.add_file(path)
    elif os.path.isdir(path):
        artifact.add_dir(path)
    elif "://" in path:
        artifact.add_reference(path)
    else:
        raise UsageError(
            f"{path} is not a file, a directory or a reference like "
            "s3://bucket/path; check the path"
        )
    return artifact


def check_type(store: Store, artifact: Artifact) -> None:
    """W&B refuses a version of another type than the artifact's, with ValueError."""
    name = artifact.name.split(":")[0]
    if store.has_artifact(name):
        existing = store.artifact(name)["type"]
        if existing != artifact.type:
            raise UsageError(
                f"Artifact {name} already exists with type {existing!r}; "
                f"cannot create another with type {artifact.type!r}"
            )


def log(
    store: Store,
    run_id: str,
    artifact_or_path,
    name=None,
    type=None,
    aliases=None,
    tags=None,
    ttl=...,
    history_step=None,
) -> Artifact:
    artifact = prepare(run_id, artifact_or_path, name, type)
    if artifact._version is None:  # logged already: as in W&B, the same version
        check_type(store, artifact)
        if ttl is not ...:
            artifact.ttl = ttl
        artifact._commit(store, alias_list(aliases), run_id, history_step)
    if tags is not None:  # tags belong to a logged version: kept as save() keeps them
        artifact.tags = [tags] if isinstance(tags, str) else list(tags)
        artifact.save()
    return artifact


def use(
    store: Store, run_id: str, scope: Scope, artifact_or_name, type=None, aliases=None
) -> Artifact:
    """Record a version as the run's input.  A draft is logged first (by this run), as in
    W&B; a name may be a W&B path or a collection's link."""
    if isinstance(artifact_or_name, Artifact):
        artifact = artifact_or_name
        if artifact._version is None:
            log(store, run_id, artifact, aliases=aliases)
        elif type is not None and artifact.type != type:
            raise UsageError(
                f"Supplied type {type} does not match type {artifact.type} of "
                f"artifact {artifact.name}"
            )
    elif isinstance(artifact_or_name, (str, os.PathLike)):
        artifact = registry.resolve(store, os.fspath(artifact_or_name), scope, type)
        for alias in alias_list(aliases):
            store.set_alias(artifact._committed()[1].label, alias)
    else:
        raise UsageError(
            'You must pass an artifact name (e.g. "pedestrian-dataset:v1"), an '
            "instance of wandb.Artifact, or wandb.Api().artifact() to use_artifact"
        )
    runs_mod.record_input(store, run_id, artifact._committed()[1])
    return artifact


def use_model(store: Store, run_id: str, scope: Scope, name: str) -> str:
    """Use a model and download it: the path of its one file, or of its directory."""
    artifact = use(store, run_id, scope, name)
    if "model" not in artifact.type.lower():
        raise AssertionError(
            "You can only use this method for 'model' artifacts. For an "
            "artifact to be a 'model' artifact, its type property must "
            "contain the substring 'model'."
        )
    path = artifact.download()
    entries = os.listdir(path)
    return os.path.join(path, entries[0]) if len(entries) == 1 else path


def link_model(
    store: Store,
    run_id: str,
    scope: Scope,
    path,
    registered_model_name: str,
    name: str | None = None,
    aliases=None,
):
    """Log ``path`` as a model (a new version of ``name`` unless its files are those of
    the latest) and link it into ``model-registry/REGISTERED_MODEL_NAME``."""
    if "/" in registered_model_name:
        raise AssertionError(
            "Please provide only the name of the registered model. Do not "
            "append the entity or project name."
        )
    draft = prepare(run_id, path, name, "model")
    if store.has_artifact(draft.name):  # a model artifact of its own type: keep that type
        model_type = store.artifact(draft.name)["type"]
        if "model" not in model_type.lower():
            raise AssertionError(
                "You can only use this method for 'model' artifacts. For "
                "an artifact to be a 'model' artifact, its type property "
                "must contain the substring 'model'."
            )
        if model_type != "model":
            draft = prepare(run_id, path, name, model_type)
    log(store, run_id, draft)
    return registry.link(
        store,
        draft,
        f"{LEGACY_REGISTRY}/{registered_model_name}",
        alias_list(aliases),
        run_id,
        scope,
    )
