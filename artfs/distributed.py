"""Distributed writers (W&B's ``upsert_artifact`` / ``finish_artifact``).

Several processes or runs add files to one artifact under a shared
``distributed_id``; one of them finishes it, and one version holds every
process's files.  Until then each upsert is kept, durable, as a version of a
small store of its own under ``STORE/distributed/KEY/`` (KEY hashes the
artifact's name and the id), so processes need nothing but the store
directory to share, and a crash loses no upsert that returned.  Finishing
writes the parts out in the order they were upserted (a path upserted twice
holds the later file, as in W&B), logs them with the finishing run's own
files as one version, and removes the parts.
"""

import copy
import os
import shutil
import tempfile
import time

import blake3

from artfs.artifact import Artifact
from artfs.errors import UsageError
from artfs.store.restore import export
from artfs.store.store import Store

PARTS = "distributed"


def key_of(name: str, distributed_id: str) -> str:
    return blake3.blake3(f"{name}\0{distributed_id}".encode()).hexdigest()[:32]


def parts_dir(store: Store, name: str, distributed_id: str) -> str:
    return os.path.join(store.path, PARTS, key_of(name, distributed_id))


def upsert(store: Store, artifact: Artifact, distributed_id: str, aliases=()) -> Artifact:
    """Keep what ``artifact`` holds now as one part; the caller's artifact stays a draft."""
    _keep_part(parts_dir(store, _bare_name(artifact), distributed_id), artifact, aliases)
    return artifact


def finish(store: Store, artifact: Artifact, distributed_id: str, aliases, run_id: str
           ) -> Artifact:
    """Log every part of ``distributed_id``, then ``artifact``'s own files, as one version."""
    where = parts_dir(store, _bare_name(artifact), distributed_id)
    _keep_part(where, artifact, aliases)
    taken = f"{where}~{os.getpid()}"
    os.rename(where, taken)  # an upsert from now on starts the next version's parts
    merged = tempfile.mkdtemp(prefix="artfs-distributed-")
    try:
        every_alias = _write_parts(taken, merged)
        final = Artifact(_bare_name(artifact), artifact.type, artifact.description,
                         artifact.metadata)
        final.add_dir(merged)
        final._commit(store, every_alias, run_id)
    except BaseException:
        if not os.path.exists(where):  # nothing was published: the parts wait, whole
            os.rename(taken, where)
        raise
    finally:
        shutil.rmtree(merged, ignore_errors=True)
    shutil.rmtree(taken, ignore_errors=True)
    return artifact._attach(store, final._version)


def _keep_part(where: str, artifact: Artifact, aliases) -> None:
    """Commit a copy of the draft into the parts store, under a name that sorts in the
    order of upserts (the copy is attached to the parts store; the draft is not)."""
    part = copy.copy(artifact)
    part._tmpdir = None  # the draft's new_file() files stay the draft's
    part._name = f"p{time.time_ns():020d}-{os.getpid()}"
    part.metadata = {"aliases": list(aliases)}
    os.makedirs(os.path.dirname(where), mode=0o700, exist_ok=True)
    side = _open(where)
    try:
        part._commit(side, [], None)
    finally:
        side.meta.close()


def _write_parts(taken: str, merged: str) -> list[str]:
    """Write the parts out oldest first into ``merged``; → the aliases they asked for."""
    side = _open(taken)
    try:
        aliases: set[str] = set()
        for name in sorted(side.artifact_names()):
            version = side.resolve(name)
            export(side, version, merged)
            aliases.update(version.metadata.get("aliases", []))
        return sorted(aliases)
    finally:
        side.meta.close()


def _open(path: str) -> Store:
    """A store of parts, opened apart from ``Store.open``'s cache so that it can be closed
    and removed once finished."""
    try:
        return Store(path, create=True)
    except OSError as e:
        raise UsageError(f"cannot keep the upsert under {path}: {e.strerror}") from None


def _bare_name(artifact: Artifact) -> str:
    return artifact.name.split(":")[0]
