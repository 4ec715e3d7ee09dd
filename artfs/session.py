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

from artfs.artifact import Artifact
from artfs.errors import NotFound, UsageError
from artfs.fs import registry
from artfs.store import runs as runs_mod
from artfs.store.names import parse_ref
from artfs.store.store import Store

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

    def log_artifact(self, artifact: "Artifact | str", name: str | None = None,
                     type: str | None = None, aliases=None, ttl=..., **_ignored) -> Artifact:
        """Commit a draft (or a path, with ``name`` and ``type``) as a new version."""
        if isinstance(artifact, str):
            path = artifact
            artifact = Artifact(name or os.path.basename(os.path.abspath(path)), type or "dataset")
            if os.path.isdir(path):
                artifact.add_dir(path)
            else:
                artifact.add_file(path)
        if not isinstance(artifact, Artifact):
            raise UsageError(f"log_artifact takes an Artifact or a path, not {artifact!r}")
        if ttl is not ...:  # not given: the artifact's own (default: inherited) ttl
            artifact.ttl = ttl
        artifact._commit(self._store, list(aliases or []), self.id)
        return artifact

    def use_artifact(self, artifact_or_name: "Artifact | str", type: str | None = None,
                     aliases=None, **_ignored) -> Artifact:
        """Resolve ``name[:vN|:alias]`` (or take a logged Artifact) and record it as an input."""
        if isinstance(artifact_or_name, Artifact):
            artifact_or_name._check_committed()
            version = artifact_or_name._version
        else:
            version = self._store.resolve(parse_ref(artifact_or_name))
        if type is not None and version.type != type:
            raise UsageError(f"{version.label} has type {version.type!r}, not {type!r}")
        runs_mod.record_input(self._store, self.id, version)
        for alias in aliases or []:
            self._store.set_alias(version.label, alias)
        return Artifact._from_version(self._store, self._store.resolve(version.label))

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
        registry.flush_reads(self._store.path)
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
