"""W&B's paths (``entity/project/name:alias``) and what they mean in one local store.

W&B keeps artifacts per entity and project on its server; a store has one
namespace of artifacts.  Its projects are those it has seen: ``uncategorized``
(W&B's default), ``$WANDB_PROJECT``, an ``Api(overrides=)`` or run's own, and
every project a run recorded.  A prefix naming one of these resolves the bare
name; another is a NotFound that says so.  The entity part is accepted whatever
it says (W&B's documentation writes ``entity/project/…`` with placeholders), as
is the organization in front of a registry project (``wandb-registry-*``,
``model-registry``), which always exists: one store is one entity and one
organization.  ``default_entity`` is what artfs reports as the entity.
Collection names (registry collections, portfolios) may hold spaces, as W&B's
registered models do; artifact names follow store/names.py.
"""

import getpass
import os
import re
from dataclasses import dataclass

from artfs.errors import NotFound, UsageError
from artfs.store import runs as runs_mod
from artfs.store.names import MAX_NAME, check_name, is_name
from artfs.store.store import Store

DEFAULT_PROJECT = "uncategorized"
_COLLECTION_RE = re.compile(r"[A-Za-z0-9_.\- ]+")
REGISTRY_PREFIX = "wandb-registry-"
LEGACY_REGISTRY = "model-registry"


def is_registry(project: str | None) -> bool:
    return project is not None and (
        project.startswith(REGISTRY_PREFIX) or project == LEGACY_REGISTRY
    )


def default_entity() -> str:
    return os.environ.get("WANDB_ENTITY") or getpass.getuser()


@dataclass(frozen=True)
class Scope:
    """The entity and project a caller works in (a run's, or an Api's overrides)."""

    entity: str | None = None
    project: str | None = None

    def default_project(self) -> str:
        return self.project or os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT

    def projects(self, store: Store) -> set[str]:
        found = {DEFAULT_PROJECT, self.default_project()}
        return found | {project for r in _runs(store) if (project := r.get("project"))}


NO_SCOPE = Scope()


def _runs(store: Store) -> list[dict]:
    return runs_mod.list_runs(store, include_implicit=True, damage=[])


@dataclass(frozen=True)
class Path:
    """A parsed path: ``project`` is None when the caller named none."""

    project: str | None
    name: str
    selector: str | None

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.selector}" if self.selector else self.name

    @property
    def collection_key(self) -> str:
        """The key of the collection this path would name in ``project``."""
        return f"{self.project}/{self.name}"


def split(text: str) -> tuple[list[str], str | None]:
    """``a/b/name:sel`` → (["a", "b", "name"], "sel")."""
    if not isinstance(text, str) or not text:
        raise UsageError(f"expected an artifact name like 'name:v0', got {text!r}")
    head, sep, selector = text.partition(":")
    parts = head.split("/")
    if len(parts) > 3 or not all(parts):
        raise UsageError(f"{text!r} is not a W&B path; write [[entity/]project/]name[:alias]")
    if sep and (not selector or ":" in selector):
        raise UsageError(f"{text!r} needs one version or alias after ':'")
    return parts, (selector if sep else None)


def parse(store: Store, text: str, scope: Scope = NO_SCOPE) -> Path:
    """Check the prefix of ``text`` against the store's entity and projects."""
    parts, selector = split(text)
    name = check_collection_name(parts[-1])
    project = parts[-2] if len(parts) >= 2 else None
    if is_registry(project):
        return Path(project, name, selector)  # parts[0] is the organization: one here
    if project is not None:
        check_project(store, project, scope)
    return Path(project, name, selector)


def check_collection_name(name: str) -> str:
    """A name W&B accepts for a collection: an artifact name, or words with spaces."""
    if is_name(name):
        return name
    if (
        name in (".", "..")
        or len(name) > MAX_NAME
        or not _COLLECTION_RE.fullmatch(name)
        or name.strip() != name
    ):
        return check_name(name, "collection name")  # raises, saying what is wrong with it
    return name


def check_project(store: Store, project: str, scope: Scope) -> str:
    known = scope.projects(store)
    if project not in known and not is_registry(project):
        raise NotFound(
            f"project {project!r} is not in this store (it has "
            f"{', '.join(sorted(known))}); artifacts of all its projects share "
            "one namespace, so drop the prefix or use one of these"
        )
    return project


def project_of(store: Store, path: str | None, scope: Scope) -> tuple[str | None, str | None]:
    """``entity/project`` or ``project`` (Api.runs, artifact_types) → (entity, project)."""
    if not path:
        return None, None
    parts = path.split("/")
    if len(parts) > 2 or not all(parts):
        raise UsageError(f"{path!r} is not a project path; write [entity/]project")
    entity = parts[0] if len(parts) == 2 else None
    return entity, check_project(store, parts[-1], scope)
