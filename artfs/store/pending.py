"""Versions committed offline, kept until ``artfs sync`` publishes them on the remote.

A store with a remote numbers its versions on the remote, so a commit made
offline (``artfs --offline``, ``$ARTFS_OFFLINE``, ``wandb.init(mode="offline")``)
has no number yet, as a W&B offline run's artifacts have none until ``wandb
sync``.  Its objects are in the local store (gc keeps them: ``roots``) and its
record waits in ``STORE/pending/SEQ-ID.json``:

    {"name": NAME, "record": {...version record...}, "aliases": [...], "run": ID|null}

written whole (a temporary file, fsync, rename) after the objects are durable.
"""

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from artfs.errors import CorruptData
from artfs.store import durable
from artfs.store.store import Store

DIRECTORY = "pending"


@dataclass
class Pending:
    path: str
    name: str
    record: dict
    aliases: list[str]
    run: str | None


def keep(store: Store, name: str, record: dict, aliases: list[str], run: str | None) -> Pending:
    folder = os.path.join(store.path, DIRECTORY)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    path = os.path.join(folder, f"{time.time_ns():020d}-{os.urandom(4).hex()}.json")
    body = {"name": name, "record": record, "aliases": list(aliases), "run": run}
    durable.replace_json(path, body)
    return Pending(path, name, record, list(aliases), run)


def waiting(store: Store) -> Iterator[Pending]:
    """Every pending version, oldest first."""
    folder = os.path.join(store.path, DIRECTORY)
    if not os.path.isdir(folder):
        return
    for entry in sorted(os.listdir(folder)):
        if not entry.endswith(".json"):
            continue  # a temporary file (.json.tmpPID) of a commit that died: never whole
        path = os.path.join(folder, entry)
        try:
            with open(path) as f:
                body = json.load(f)
            yield Pending(path, body["name"], body["record"], body["aliases"], body["run"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CorruptData(f"the pending version {path} cannot be read ({e})") from None


def done(pending: Pending) -> None:
    os.unlink(pending.path)
    durable.sync_dir(os.path.dirname(pending.path))


def roots(store: Store) -> list[tuple[bytes, bytes | None]]:
    """(tree, attribute object) roots of every pending version: gc must keep them."""
    return [
        (
            bytes.fromhex(p.record["root"]),
            bytes.fromhex(p.record["attrs"]) if p.record.get("attrs") else None,
        )
        for p in waiting(store)
    ]
