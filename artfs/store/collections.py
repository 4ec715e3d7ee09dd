"""An artifact as a whole (W&B's artifact collection): its description, tags, and name.

A rename moves every key that holds the name, in one transaction: the
artifact's record, its versions and aliases, the lineage edges of every run
that made or used it, the ``base`` of versions derived from it, and links to
it.  Version numbers, digests and run ids stay as they were.
"""

from artfs.errors import Conflict, CorruptData
from artfs.store import keys, links, meta
from artfs.store.backend import DamagedKey, RefTxn
from artfs.store.names import check_name
from artfs.store.staging import names as staging_names
from artfs.store.store import Store


def update(store: Store, name: str, *, description: str, tags: list[str]) -> None:
    """Save an artifact's description and tags (W&B's ArtifactCollection.save)."""
    tags = sorted({check_name(t, "tag") for t in tags})
    with store.refs.transaction(write=True) as txn:
        record = store.artifact(name, txn)
        record["description"], record["tags"] = description or "", tags
        txn.put(keys.artifact_key(name), meta.dumps(record))


def rename(store: Store, old: str, new: str) -> None:
    """Give an artifact a new name, with everything that refers to it."""
    check_name(new)
    if old in staging_names(store):
        raise Conflict(
            f"artifact {old!r} has a staging; commit or unstage it "
            f"('artfs unstage {old}') before renaming"
        )
    with store.refs.transaction(write=True) as txn:
        record = store.artifact(old, txn)
        if txn.get(keys.artifact_key(new)) is not None:
            raise Conflict(f"artifact {new!r} already exists; choose another name")
        txn.put(keys.artifact_key(new), meta.dumps(record))
        txn.delete(keys.artifact_key(old))
        listings = [f"{table}{old}/" for table in keys.NAMED_BY_ARTIFACT]
        for prefix in [*listings, *keys.NAMED_BY_RUN]:
            for key, value in list(txn.items(prefix)):
                moved = None if isinstance(key, DamagedKey) else keys.renamed(key, old, new)
                if moved is not None:  # a damaged key stays: verify names it
                    txn.put(moved, value)
                    txn.delete(key)
        _rebase(txn, old, new)
        links.rename_artifact_in(txn, old, new)


def _rebase(txn: RefTxn, old: str, new: str) -> None:
    """Versions derived from the renamed artifact name it as their base."""
    for key, raw in list(txn.items(keys.VERSIONS)):
        try:
            record = meta.loads(raw)
        except CorruptData:  # damaged: verify names it; its base cannot be read anyway
            continue
        base = record.get("base") if isinstance(record, dict) else None
        if isinstance(base, str) and base.startswith(old + ":"):
            record["base"] = new + base[len(old) :]
            txn.put(key, meta.dumps(record))
