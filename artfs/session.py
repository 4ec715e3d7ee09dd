"""``artfs.init`` and ``Run``: one execution of a program, with its inputs and outputs.

``init`` puts the run's id in ``ARTFS_RUN_ID`` so that child processes (and
commits they make) belong to the same run.  A run that is not finished
explicitly is finished when the interpreter exits.  ``artfs.run`` (W&B's
``wandb.run``) is the active run, or None: the module is named ``session`` so
that the name stays free for it.
"""

import atexit
import os
import sys

from artfs import distributed, registry, runio
from artfs.artifact import Artifact
from artfs.errors import NotFound, WrongArgument
from artfs.fs import registry as mounts
from artfs.store import runs as runs_mod
from artfs.store.store import Store
from artfs.wbpath import Scope

RUN_ENV = runs_mod.RUN_ENV
_active: list["Run"] = []


class Run:
    """A W&B-style run.  ``artfs.init()`` starts one; ``artfs.Api().runs()``,
    ``artifact.logged_by()`` and ``artifact.used_by()`` return recorded ones."""

    def __init__(self, store: Store, record: dict):
        self._store = store
        self._record = record
        self.finished = record["status"] != "running"

    id = property(lambda self: self._record["id"])
    name = property(lambda self: self._record["name"])
    job_type = property(lambda self: self._record["job_type"])
    config = property(lambda self: self._record["config"])
    state = property(lambda self: self._record["status"],
                     doc="running, finished, failed, or adhoc (an implicit run)")
    start = property(lambda self: self._record["start"], doc="seconds since the epoch")
    end = property(lambda self: self._record["end"], doc="None while running")
    exit_code = property(lambda self: self._record["exit_code"])
    command = property(lambda self: self._record.get("command"))
    implicit = property(lambda self: bool(self._record.get("implicit")),
                        doc="made by a mount for reads outside any run")

    def log_artifact(self, artifact_or_path: "Artifact | str", name: str | None = None,
                     type: str | None = None, aliases=None, tags=None, **_ignored) -> Artifact:
        """Commit a draft (or a path: W&B's ``run-RUNID-BASENAME`` of type ``unspecified``
        unless ``name``/``type`` say otherwise) as a new version made by this run."""
        return runio.log(self._store, self.id, artifact_or_path, name, type, aliases, tags)

    def use_artifact(self, artifact_or_name: "Artifact | str", type: str | None = None,
                     aliases=None, use_as=None, **_ignored) -> Artifact:
        """Resolve ``[[entity/]project/]name[:vN|:alias]`` (or take an Artifact, logging a
        draft first) and record it as an input; ValueError if its type is not ``type``."""
        return runio.use(self._store, self.id, self._scope(), artifact_or_name, type, aliases)

    # --- models, links and distributed artifacts (runio, registry, distributed) ---------

    def _scope(self) -> Scope:
        return Scope(self._record.get("entity") or None, self._record.get("project") or None)

    def log_model(self, path, name: str | None = None, aliases=None) -> None:
        """Log ``path`` as an artifact of type ``model`` (W&B returns nothing)."""
        runio.log(self._store, self.id, path, name, "model", aliases)

    def use_model(self, name: str) -> str:
        """Use a model artifact and download it: its one file's path, or its directory."""
        return runio.use_model(self._store, self.id, self._scope(), name)

    def link_artifact(self, artifact: Artifact, target_path: str, aliases=None) -> Artifact:
        """Link a version (a draft is logged first) into a registry collection or portfolio."""
        if artifact._version is None:
            self.log_artifact(artifact)
        return registry.link(self._store, artifact, target_path, aliases, self.id,
                             self._scope())

    def link_model(self, path, registered_model_name: str, name: str | None = None,
                   aliases=None) -> Artifact:
        """Log ``path`` as a model and link it into ``model-registry/REGISTERED_MODEL_NAME``."""
        return runio.link_model(self._store, self.id, self._scope(), path,
                                registered_model_name, name, aliases)

    def upsert_artifact(self, artifact_or_path, name: str | None = None,
                        type: str | None = None, aliases=None,
                        distributed_id: str | None = None) -> Artifact:
        """Add this process's files to the artifact shared under ``distributed_id``
        (default: the run's group); nothing is published until ``finish_artifact``."""
        artifact = runio.prepare(self.id, artifact_or_path, name, type)
        return distributed.upsert(self._store, artifact, self._distributed_id(distributed_id),
                                  runio.alias_list(aliases))

    def finish_artifact(self, artifact_or_path, name: str | None = None,
                        type: str | None = None, aliases=None,
                        distributed_id: str | None = None) -> Artifact:
        """Publish one version with every upsert's files and this artifact's own."""
        artifact = runio.prepare(self.id, artifact_or_path, name, type)
        runio.check_type(self._store, artifact)
        return distributed.finish(self._store, artifact, self._distributed_id(distributed_id),
                                  runio.alias_list(aliases), self.id)

    def _distributed_id(self, distributed_id: str | None) -> str:
        found = distributed_id or self._record.get("group")
        if not found:
            raise WrongArgument("Cannot upsert or finish an artifact unless the run is in a "
                                "group (init(group=...)) or distributed_id is given")
        return found

    def logged_artifacts(self) -> list[Artifact]:
        return self._edges("outputs")

    def used_artifacts(self) -> list[Artifact]:
        return self._edges("inputs")

    def _edges(self, db: str) -> list[Artifact]:
        found = []
        for name, number, _ in runs_mod.run_edges(self._store, self.id, db):
            try:
                found.append(self._store.resolve(f"{name}:v{number}"))
            except NotFound:  # removed since: the run's record outlives it
                continue
        return [Artifact._from_version(self._store, v) for v in found]

    def finish(self, exit_code: int = 0) -> None:
        if self.finished:
            return
        self.finished = True
        mounts.flush_reads(self._store.path)
        status = "finished" if exit_code == 0 else "failed"
        self._record = runs_mod.finish_run(self._store, self.id, status=status,
                                           exit_code=exit_code)
        if self in _active:
            _active.remove(self)
        if os.environ.get(RUN_ENV) == self.id:
            del os.environ[RUN_ENV]

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish(0 if exc_type is None else 1)

    def __eq__(self, other) -> bool:
        return isinstance(other, Run) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.name} ({self.state})>"


def init(job_type: str | None = None, name: str | None = None, config: dict | None = None,
         project: str | None = None, store: str | None = None, **_ignored) -> Run:
    """Start a run (W&B's ``wandb.init``); other W&B keyword arguments are accepted and ignored."""
    opened = Store.open(store)
    record = runs_mod.start_run(opened, job_type=job_type, name=name,
                                config=dict(config or {}), project=project, command=sys.argv)
    run = Run(opened, record)
    _active.append(run)
    os.environ[RUN_ENV] = run.id
    return run


def active() -> Run | None:
    """The run ``init`` started last and that is not finished (W&B's ``wandb.run``)."""
    return _active[-1] if _active else None


def finish(exit_code: int = 0, **_ignored) -> None:
    """Finish the active run (W&B's ``wandb.finish``); nothing to do without one."""
    run = active()
    if run is not None:
        run.finish(exit_code)


@atexit.register
def _finish_all() -> None:
    for run in list(_active):
        run.finish(0)
