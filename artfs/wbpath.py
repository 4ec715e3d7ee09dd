"""W&B's paths (``entity/project/name:alias``) and what they mean in one local store.

W&B keeps artifacts per entity and project on its server; a store has one
namespace of artifacts.  So the store's entity and projects are those it has
seen: its entity is ``$WANDB_ENTITY`` or the user's name, plus every entity a
run recorded (``init(entity=)``); its projects are ``uncategorized`` (W&B's
default), ``$WANDB_PROJECT``, an ``Api(overrides=)`` or run's own, and every
project a run recorded.  A prefix naming one of these resolves the bare name;
another is a NotFound that says so.  Registry projects (``wandb-registry-*``,
``model-registry``) always exist: their first part is W&B's organization,
which is accepted whatever it says, since one store is one organization.
"""

import getpass
import os
from dataclasses import dataclass

from artfs.errors import NotFound, UsageError
from artfs.store import runs as runs_mod
from artfs.store.names import check_name
from artfs.store.store import Store

DEFAULT_PROJECT = "uncategorized"
REGISTRY_PREFIX = "wandb-registry-"
LEGACY_REGISTRY = "model-registry"


def is_registry(project: str | None) -> bool:
    return bool(project) and (project.startswith(REGISTRY_PREFIX) or project == LEGACY_REGISTRY)


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
        return found | {r.get("project") for r in _runs(store)} - {None, ""}

    def entities(self, store: Store) -> set[str]:
        found = {default_entity(), *([self.entity] if self.entity else [])}
        return found | {r.get("entity") for r in _runs(store)} - {None, ""}


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
    name = check_name(parts[-1])
    project = parts[-2] if len(parts) >= 2 else None
    if is_registry(project):
        return Path(project, name, selector)  # parts[0] is the organization: one here
    if project is not None:
        check_project(store, project, scope)
    if len(parts) == 3:
        check_entity(store, parts[0], scope)
    return Path(project, name, selector)


def check_project(store: Store, project: str, scope: Scope) -> str:
    known = scope.projects(store)
    if project not in known and not is_registry(project):
        raise NotFound(f"project {project!r} is not in this store (it has "
                       f"{', '.join(sorted(known))}); artifacts of all its projects share "
                       "one namespace, so drop the prefix or use one of these")
    return project


def check_entity(store: Store, entity: str, scope: Scope) -> str:
    known = scope.entities(store)
    if entity not in known:
        raise NotFound(f"entity {entity!r} is not this store's (it knows "
                       f"{', '.join(sorted(known))}); drop the prefix or use one of these")
    return entity


def project_of(store: Store, path: str | None, scope: Scope) -> tuple[str | None, str | None]:
    """``entity/project`` or ``project`` (Api.runs, artifact_types) → (entity, project)."""
    if not path:
        return None, None
    parts = path.split("/")
    if len(parts) > 2 or not all(parts):
        raise UsageError(f"{path!r} is not a project path; write [entity/]project")
    entity = parts[0] if len(parts) == 2 else None
    if entity is not None and not is_registry(parts[-1]):
        check_entity(store, entity, scope)
    return entity, check_project(store, parts[-1], scope)
