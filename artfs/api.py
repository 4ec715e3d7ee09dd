"""``artfs.Api``: querying the store without a run (W&B's public API)."""

import warnings

from artfs.artifact import Artifact
from artfs.session import Run
from artfs.store import runs as runs_mod
from artfs.store.names import check_name, parse_ref
from artfs.store.store import Store


class Api:
    def __init__(self, store: str | None = None, **_ignored):
        self._store = Store.open(store)

    def artifact(self, name: str, type: str | None = None) -> Artifact:
        """``name``, ``name:vN`` or ``name:alias``."""
        version = self._store.resolve(parse_ref(name))
        if type is not None and version.type != type:
            from artfs.errors import UsageError
            raise UsageError(f"{version.label} has type {version.type!r}, not {type!r}")
        return Artifact._from_version(self._store, version)

    def artifact_versions(self, name: str) -> list[Artifact]:
        """Every version of an artifact, oldest first.  A version whose record cannot be
        read is left out with a warning naming it, so the others stay reachable."""
        found = []
        for version in self._store.versions(check_name(name)):
            if version.damage is not None:
                warnings.warn(str(version.error()), stacklevel=2)
                continue
            found.append(Artifact._from_version(self._store, version))
        return found

    def artifacts(self, type: str | None = None, name: str | None = None) -> list[Artifact]:
        """Every version of every artifact, optionally only of one type or name."""
        names = [check_name(name)] if name else self._store.artifact_names()
        return [a for n in names for a in self.artifact_versions(n)
                if type is None or a.type == type]

    def lineage(self, name: str, direction: str = "both", depth: int | None = None,
                include_implicit: bool = False) -> dict:
        """Nodes (versions and runs) and edges around a version, many hops deep."""
        from artfs.lineage.graph import lineage
        return lineage(self._store, name, direction=direction, depth=depth,
                       include_implicit=include_implicit).as_dict()

    def run(self, run_id: str) -> Run:
        return Run(self._store, runs_mod.get_run(self._store, run_id))

    def runs(self, job_type: str | None = None, include_implicit: bool = False) -> list[Run]:
        """Recorded runs, oldest first; implicit ones (reads through a mount outside any
        run) that only read, only when asked for."""
        return [Run(self._store, r) for r in runs_mod.list_runs(
            self._store, job_type=job_type, include_implicit=include_implicit)]
