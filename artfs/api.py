"""``artfs.Api``: querying the store without a run (W&B's public API).

Names may carry W&B's ``entity/project/`` or ``project/`` prefixes (wbpath.py
says which ones a store has); lists come back as paginators (collections.py).
"""

import warnings

from artfs import registry, runfilter
from artfs.artifact import Artifact
from artfs.collections import ArtifactCollection, ArtifactType, Page, collections_of, types_of
from artfs.errors import NotFound, UsageError
from artfs.session import Run
from artfs.store import runs as runs_mod
from artfs.store.names import check_name
from artfs.store.store import Store
from artfs.wbpath import Scope, default_entity, project_of, split


class Api:
    """W&B's ``wandb.Api(overrides=None, timeout=None, api_key=None)``.  ``overrides`` may
    name the default ``entity`` and ``project``; timeout and api_key mean nothing to a
    local store.  ``store=`` (or a path as first argument) opens another store."""

    def __init__(
        self,
        overrides: dict | str | None = None,
        timeout: int | None = None,
        api_key: str | None = None,
        *,
        store: str | None = None,
        **_ignored,
    ):
        if isinstance(overrides, str):  # artfs.Api(STORE_DIR)
            store, overrides = overrides, None
        overrides = dict(overrides or {})
        self._store = Store.open(store)
        self._scope = Scope(overrides.get("entity"), overrides.get("project"))
        self.settings = {
            "entity": overrides.get("entity") or default_entity(),
            "project": self._scope.default_project(),
            **overrides,
        }

    @property
    def default_entity(self) -> str:
        return default_entity()

    @property
    def client(self):
        return None

    def flush(self) -> None:
        """Nothing is cached between calls: every answer is read from the store."""

    # --- artifacts ------------------------------------------------------------------

    def artifact(self, name: str, type: str | None = None) -> Artifact:
        """``[[entity/]project/]name[:vN|:alias]``: a version, or a link of a collection."""
        if name is None:
            raise UsageError("You must specify name= to fetch an artifact.")
        return registry.resolve(self._store, name, self._scope, type)

    def artifact_exists(self, name: str, type: str | None = None) -> bool:
        try:
            self.artifact(name, type)
        except NotFound:
            return False
        return True

    def artifacts(
        self,
        type_name: str | None = None,
        name: str | None = None,
        per_page: int = 50,
        tags: list[str] | None = None,
        order: str | None = None,
        start: str | None = None,
        type: str | None = None,
        **_ignored,
    ) -> Page:
        """Versions of ``name`` (W&B), oldest first unless ``order="-version_index"``;
        without a name, every version of every artifact of ``type_name``."""
        type_name = type_name or type
        if name is None:
            found = [
                a
                for n in self._store.artifact_names()
                for a in self._versions(n)
                if type_name is None or a.type == type_name
            ]
        else:
            found = list(
                self.artifact_collection(type_name, name).artifacts()
                if type_name
                else self._collection_any_type(name).artifacts()
            )
        if tags:
            found = [a for a in found if set(tags) <= set(getattr(a, "tags", None) or [])]
        if order:
            if order.lstrip("+-") not in ("version_index", "created_at", "createdAt"):
                raise UsageError(
                    f"artifacts can be ordered by version_index or created_at, not {order!r}"
                )
            found.sort(
                key=lambda a: (
                    a._committed()[1].number
                    if order.lstrip("+-") == "version_index"
                    else a.created_at
                ),
                reverse=order.startswith("-"),
            )
        return Page(found, start)

    def artifact_versions(
        self, type_name: str, name: str | None = None, per_page: int = 50
    ) -> Page:
        """Deprecated in W&B for ``artifacts(type_name, name)``; the same here.  As before
        in artfs, ``artifact_versions(name)`` lists one artifact's versions."""
        if name is None:
            return Page(self._versions(check_name(type_name)))
        return self.artifacts(type_name, name, per_page)

    def _versions(self, name: str) -> list[Artifact]:
        """Every version, oldest first; a damaged one is left out with a warning naming
        it, so the others stay reachable."""
        found = []
        for version in self._store.versions(name):
            if version.damage is not None:
                warnings.warn(str(version.error()), stacklevel=3)
                continue
            found.append(Artifact._from_version(self._store, version))
        return found

    def _collection_any_type(self, name: str) -> ArtifactCollection:
        parts, _ = split(name)
        for type_name in types_of(self._store):
            try:
                return ArtifactCollection.find(self._store, type_name, name, self._scope)
            except NotFound:
                continue
        raise NotFound(f"no artifact or collection named {parts[-1]!r}; 'artfs ls' lists them")

    def artifact_type(self, type_name: str, project: str | None = None) -> ArtifactType:
        project_of(self._store, project, self._scope)
        if type_name not in types_of(self._store):
            raise NotFound(
                f"no artifact has type {type_name!r}; Api().artifact_types() lists the types"
            )
        return ArtifactType(self._store, type_name)

    def artifact_types(self, project: str | None = None, **_ignored) -> Page:
        project_of(self._store, project, self._scope)
        return Page(ArtifactType(self._store, t) for t in types_of(self._store))

    def artifact_collection(
        self, type_name: str | None = None, name: str | None = None, type: str | None = None
    ) -> ArtifactCollection:
        """W&B's docs also write ``artifact_collection(type=..., name=...)``."""
        kind = type_name or type
        if kind is None or name is None:
            raise UsageError("artifact_collection needs type_name= and name=")
        return ArtifactCollection.find(self._store, kind, name, self._scope)

    def artifact_collections(
        self,
        project_name: str | None = None,
        type_name: str | None = None,
        per_page: int = 50,
        start: str | None = None,
        order: str | None = None,
        **_ignored,
    ) -> Page:
        """An artifact of any project of the store belongs to each (one namespace); link
        collections belong to their own project or registry."""
        _, project = project_of(self._store, project_name, self._scope)
        if type_name is None:
            raise UsageError("artifact_collections needs type_name= (an artifact type)")
        found = collections_of(self._store, type_name, project)
        if project is not None:
            found = [c for c in found if c.is_sequence() or c.project == project]
        if order:
            found.sort(key=lambda c: c.name, reverse=order.startswith("-"))
        return Page(found, start)

    def artifact_collection_exists(self, name: str, type: str | None = None) -> bool:
        try:
            if type is None:
                self._collection_any_type(name)
            else:
                self.artifact_collection(type, name)
        except NotFound:
            return False
        return True

    def lineage(
        self,
        name: str,
        direction: str = "both",
        depth: int | None = None,
        include_implicit: bool = False,
    ) -> dict:
        """Nodes (versions and runs) and edges around a version, many hops deep."""
        from artfs.lineage.graph import lineage

        return lineage(
            self._store, name, direction=direction, depth=depth, include_implicit=include_implicit
        ).as_dict()

    # --- runs -----------------------------------------------------------------------

    def run(self, path: str = "") -> Run:
        """``[[entity/]project/]run_id``."""
        parts = (path or "").split("/")
        if len(parts) > 3 or not parts[-1]:
            raise UsageError(f"{path!r} is not a run path; write [[entity/]project/]RUN_ID")
        if len(parts) > 1:
            project_of(self._store, "/".join(parts[:-1]), self._scope)
        return Run(self._store, runs_mod.get_run(self._store, parts[-1]))

    def runs(
        self,
        path: str | None = None,
        filters: dict | None = None,
        order: str = "+created_at",
        per_page: int = 50,
        job_type: str | None = None,
        include_implicit: bool = False,
        **_ignored,
    ) -> Page:
        """Recorded runs of the project ``path`` names (all runs without one), matching
        ``filters`` (runfilter.py), in ``order``; implicit ones (reads through a mount
        outside any run) that only read, only when asked for."""
        _, project = project_of(self._store, path, self._scope)
        records = runs_mod.list_runs(
            self._store, job_type=job_type, include_implicit=include_implicit
        )
        if project is not None:
            records = [r for r in records if runfilter.field(r, "project") == project]
        records = [r for r in records if runfilter.matches(r, filters or {})]
        return Page(Run(self._store, r) for r in runfilter.sort(records, order or ""))
