"""Distributed writers (W&B's ``upsert_artifact`` / ``finish_artifact``).

Several processes or runs add files to one artifact under a shared
``distributed_id``; one of them finishes it, and one version holds every
process's files.  A draft stores its files' chunks when they are added; an
upsert keeps the draft's entries, and what it stored, as a part under
``STORE/distributed/KEY/`` (KEY hashes the artifact's name and the id;
``store/drafts.py`` writes it and makes gc keep its chunks), so processes
need nothing but the store directory to share, and a crash loses no upsert
that returned.  Finishing merges the parts in the order they were upserted (a
path upserted twice holds the later file, as in W&B) with the finishing run's
own files, logs them as one version without reading a file again, and
removes the parts.
"""

import os
import shutil

import blake3

from artfs.artifact import Artifact
from artfs.store import drafts
from artfs.store.store import Store
from artfs.store.tree import Entry


def parts_dir(store: Store, name: str, distributed_id: str) -> str:
    key = blake3.blake3(f"{name}\0{distributed_id}".encode()).hexdigest()[:32]
    return drafts.parts_dir(store, key)


def upsert(store: Store, artifact: Artifact, distributed_id: str, aliases=()) -> Artifact:
    """Keep what ``artifact`` holds now as one part; the caller's artifact stays a draft."""
    _keep_part(store, parts_dir(store, _bare_name(artifact), distributed_id), artifact, aliases)
    return artifact


def finish(store: Store, artifact: Artifact, distributed_id: str, aliases, run_id: str) -> Artifact:
    """Log every part of ``distributed_id``, then ``artifact``'s own files, as one version."""
    where = parts_dir(store, _bare_name(artifact), distributed_id)
    _keep_part(store, where, artifact, aliases)
    taken = f"{where}~{os.getpid()}"
    os.rename(where, taken)  # an upsert from now on starts the next version's parts
    try:
        parts, files = drafts.read_parts(taken, store)
        final = Artifact(
            _bare_name(artifact), artifact.type, artifact.description, artifact.metadata
        )
        final._files = files
        every_alias: set[str] = set()
        for part in parts:  # oldest first: a path upserted again holds the later file
            _merge(final, part)
            every_alias.update(part["aliases"])
        final._commit(store, sorted(every_alias), run_id)
    except BaseException:
        if not os.path.exists(where):  # nothing was published: the parts wait, whole
            os.rename(taken, where)
        raise
    shutil.rmtree(taken, ignore_errors=True)
    return artifact._attach(store, final._committed()[1])


def _keep_part(store: Store, where: str, artifact: Artifact, aliases) -> None:
    """The draft's entries, directories and reference URLs, with what it stored."""
    files = artifact._stored_files(store, "upsert")
    document = {
        "aliases": list(aliases),
        "entries": {
            path: [
                entry.kind,
                entry.mode,
                entry.size,
                entry.digest.hex(),
                entry.target.hex(),
                mtime,
            ]
            for path, (entry, mtime) in artifact._sources.items()
        },
        "dirs": {path.hex(): list(v) for path, v in artifact._dirs.items()},
        "refs": dict(artifact._refs),
    }
    drafts.keep_part(store, where, files, document)


def _merge(final: Artifact, part: dict) -> None:
    for path, (kind, mode, size, digest, target, mtime) in part["entries"].items():
        leaf = os.fsencode(path.rsplit("/", 1)[-1])
        entry = Entry(leaf, kind, mode, size, bytes.fromhex(digest), bytes.fromhex(target))
        final._sources[path] = (entry, mtime)
        final._refs.pop(path, None)
    final._refs.update(part["refs"])
    final._dirs.update({bytes.fromhex(p): tuple(v) for p, v in part["dirs"].items()})


def _bare_name(artifact: Artifact) -> str:
    return artifact.name.split(":")[0]
