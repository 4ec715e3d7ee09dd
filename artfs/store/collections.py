"""An artifact as a whole (W&B's artifact collection): its description, tags, and name.

A rename moves every key that holds the name, in one transaction: the
artifact's record, its versions and aliases, the lineage edges of every run
that made or used it, the ``base`` of versions derived from it, and links to
it.  Version numbers, digests and run ids stay as they were.
"""

from artfs.errors import Conflict, CorruptData
from artfs.store import links, meta
from artfs.store.names import check_name
from artfs.store.staging import names as staging_names
from artfs.store.store import Store

_EDGE_DBS = ("inputs", "input_files", "outputs")  # keys: run id 0x00 name 0x00 …


def update(store: Store, name: str, *, description: str, tags: list[str]) -> None:
    """Save an artifact's description and tags (W&B's ArtifactCollection.save)."""
    tags = sorted({check_name(t, "tag") for t in tags})
    with store.meta.write() as txn:
        record = store.artifact(name, txn)
        record["description"], record["tags"] = description or "", tags
        txn.put(name.encode(), meta.dumps(record), db=store.meta.db["artifacts"])


def rename(store: Store, old: str, new: str) -> None:
    """Give an artifact a new name, with everything that refers to it."""
    check_name(new)
    if old in staging_names(store):
        raise Conflict(
            f"artifact {old!r} has a staging; commit or unstage it "
            f"('artfs unstage {old}') before renaming"
        )
    db = store.meta.db
    with store.meta.write() as txn:
        record = store.artifact(old, txn)
        if txn.get(new.encode(), db=db["artifacts"]) is not None:
            raise Conflict(f"artifact {new!r} already exists; choose another name")
        txn.put(new.encode(), meta.dumps(record), db=db["artifacts"])
        txn.delete(old.encode(), db=db["artifacts"])
        old_prefix, new_prefix = meta.version_prefix(old), meta.version_prefix(new)
        for name in ("versions", "aliases", "consumers"):  # keys: name 0x00 …
            _move(
                txn,
                db[name],
                list(meta.prefix_scan(txn, db[name], old_prefix)),
                len(old_prefix),
                new_prefix,
            )
        for name in _EDGE_DBS:
            for key, value in list(txn.cursor(db[name])):
                run_id, sep, rest = bytes(key).partition(meta.SEP)
                if rest.startswith(old_prefix):
                    _move(
                        txn,
                        db[name],
                        [(key, value)],
                        len(run_id) + 1 + len(old_prefix),
                        run_id + sep + new_prefix,
                    )
        _rebase(store, txn, old, new)
        links.rename_artifact_in(store, txn, old, new)


def _move(txn, db, items, cut: int, prefix: bytes) -> None:
    for key, value in items:
        txn.put(prefix + bytes(key)[cut:], value, db=db)
        txn.delete(key, db=db)


def _rebase(store: Store, txn, old: str, new: str) -> None:
    """Versions derived from the renamed artifact name it as their base."""
    db = store.meta.db["versions"]
    for key, raw in list(txn.cursor(db)):
        try:
            record = meta.loads(raw)
        except CorruptData:  # damaged: verify names it; its base cannot be read anyway
            continue
        base = record.get("base") if isinstance(record, dict) else None
        if isinstance(base, str) and base.startswith(old + ":"):
            record["base"] = new + base[len(old) :]
            txn.put(key, meta.dumps(record), db=db)
