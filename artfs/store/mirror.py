"""Taking what the remote says into the local store: the references that changed.

A refresh, and every edit made on the remote, end here: the remote's artifacts,
version records (or tombstones), alias maps and run documents are written into
the local databases with the keys and values a store without a remote uses, and
the tag of each is noted (``remote`` database, ``b"t" + key``) so that the next
look fetches only what changed since.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from artfs.errors import CorruptData
from artfs.store import meta, rundocs
from artfs.store.backend import RefStore
from artfs.store.local import LocalRefTxn

if TYPE_CHECKING:
    from artfs.store.store import Store

REMOVED = "removed"  # a version's tombstone: {"removed": time}
TAG = b"t"  # in the remote db: b"t" + reference key -> the tag this store last took in


@dataclass
class Changes:
    """The references that changed on the remote since this store last looked (their
    tags differ from the ones it noted), with their values."""

    values: dict[str, tuple[bytes, str]]

    @classmethod
    def read(cls, store: "Store", refs: RefStore, prefixes=("refs/",), only=None) -> "Changes":
        """A LIST per thousand references, then a GET per changed one; ``only`` filters keys."""
        db = store.meta.db
        with store.meta.read() as txn:
            changed = [
                key
                for prefix in prefixes
                for key, tag in refs.list(prefix)
                if (only is None or only(key))
                and txn.get(TAG + key.encode(), db=db["remote"]) != tag.encode()
            ]
        with ThreadPoolExecutor(8, "artfs-refs") as pool:
            got = dict(zip(changed, pool.map(refs.get, changed), strict=True))
        return cls({k: (ref.value, ref.tag) for k, ref in got.items() if ref is not None})

    def apply(self, txn, store: "Store") -> list[str]:
        """Take every change into the local store: artifacts, then versions, aliases,
        runs; → the keys of the versions not taken yet (their trees are not here)."""
        db = store.meta.db
        by_kind: dict[str, list[tuple[str, bytes]]] = {}
        noted = dict(self.values)
        for key, (value, _) in sorted(self.values.items()):
            by_kind.setdefault(key.split("/")[1], []).append((key.split("/", 2)[2], value))
        for name, value in by_kind.get("artifacts", []):
            _take_artifact(txn, db, name, meta.loads(value, f"the remote's record of {name}"))
        for rest, value in by_kind.get("versions", []):
            name, _, number = rest.partition("/")
            if not _take_version(txn, db, name, int(number), value):
                del noted[f"refs/versions/{rest}"]  # looked at again next time
        for name, value in by_kind.get("aliases", []):
            _mirror_aliases(txn, db, name, meta.loads(value, f"the remote's aliases of {name}"))
        pending = set(rundocs.dirty(txn, db))
        for run_id, value in by_kind.get("runs", []):
            if run_id not in pending:  # this store's own changes are newer: pushed next
                doc = meta.loads(value, f"the remote's record of run {run_id}")
                rundocs.take(LocalRefTxn(store.refs, txn), doc)  # in this same transaction
        for key, (_, tag) in noted.items():
            txn.put(TAG + key.encode(), tag.encode(), db=db["remote"])
        return sorted(self.values.keys() - noted.keys())


def _take_artifact(txn, db, name: str, art: dict) -> None:
    raw = txn.get(name.encode(), db=db["artifacts"])
    local = meta.loads(raw) if raw else {"next_version": 0, "created": art["created"]}
    if not raw:
        local["description"] = art.get("description", "")
    local["type"] = art["type"]
    txn.put(name.encode(), meta.dumps(local), db=db["artifacts"])


def _take_version(txn, db, name: str, number: int, value: bytes) -> bool:
    """Take in a version record; False (not yet) while its root tree is not here: a
    version is shown only with its trees."""
    key = meta.version_key(name, number)
    record = meta.loads(value, f"the remote's record of {name}:v{number}")
    if REMOVED in record:
        txn.delete(key, db=db["versions"])
    elif txn.get(bytes.fromhex(record["root"]), db=db["trees"]) is None:
        return False
    else:
        txn.put(key, value, db=db["versions"])
    raw = txn.get(name.encode(), db=db["artifacts"])
    if raw is None:
        raise CorruptData(f"the remote has {name}:v{number} but no record of {name!r}")
    art = meta.loads(raw)
    if art["next_version"] <= number:
        art["next_version"] = number + 1
        txn.put(name.encode(), meta.dumps(art), db=db["artifacts"])
    return True


def _mirror_aliases(txn, db, name: str, held: dict[str, int]) -> None:
    prefix = meta.version_prefix(name)
    for key, _ in list(meta.prefix_scan(txn, db["aliases"], prefix)):
        txn.delete(key, db=db["aliases"])
    for alias, number in held.items():
        txn.put(meta.alias_key(name, alias), meta.pack_version(number), db=db["aliases"])


def mirror_artifact(txn, store: "Store", refs: RefStore, name: str) -> None:
    """Take the remote's changes to one artifact into the local store (after an edit)."""
    keys = {f"refs/artifacts/{name}", f"refs/aliases/{name}"}
    changes = Changes.read(
        store,
        refs,
        (f"refs/artifacts/{name}", f"refs/aliases/{name}", f"refs/versions/{name}/"),
        only=lambda key: key in keys or key.startswith(f"refs/versions/{name}/"),
    )
    changes.apply(txn, store)
