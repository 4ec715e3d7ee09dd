"""Garbage collection: free chunks, chunk lists, trees and attribute objects no version
references.

Mark and sweep under the exclusive gc lock, so no commit is between its dedup
check and its publication.  Index entries go first (one transaction), files
after: a crash in between leaves stray files, never an index entry for a
missing file.  Stray files (from commits that died before publishing) go too.

What running mounts still serve is kept, removed versions included, so that a
file open through a mount reads to its end.  ``held`` asks them after the
versions are read: a version removed after that read was live in it, and one
removed before can no longer be looked up, so a mount that serves it already
did and says so.
"""

from collections.abc import Callable
from dataclasses import dataclass

from artfs.store import attrs, meta
from artfs.store.staging import staging_bases
from artfs.store.store import Store
from artfs.store.tree import DIR, FILE


@dataclass
class GcReport:
    chunks: int = 0
    bytes: int = 0
    trees: int = 0
    strays: int = 0


Held = Callable[[], tuple[set[bytes], set[bytes]]]


def _nothing_held() -> tuple[set[bytes], set[bytes]]:
    return set(), set()


def live_objects(store: Store, held: Held = _nothing_held
                 ) -> tuple[set[bytes], set[bytes], set[bytes]]:
    """(tree digests, file digests, attribute digests) reachable from any version,
    staging base or what ``held`` returns (its trees may name attribute objects too)."""
    with store.meta.read() as txn:
        records = [meta.loads(raw) for _, raw in txn.cursor(store.meta.db["versions"])]
    roots = [bytes.fromhex(record["root"]) for record in records]
    attr_roots = [bytes.fromhex(record["attrs"]) for record in records if record.get("attrs")]
    # A staging's placeholders hold digests of its base, which may have been removed since.
    roots += [bytes.fromhex(base["root"]) for base in staging_bases(store)]
    held_digests, files = held()
    with store.meta.read() as txn:  # a mount's held digests name attribute objects too
        held_trees = [d for d in held_digests if txn.get(d, db=store.meta.db["trees"]) is not None]
    trees: set[bytes] = set()
    stack = roots + held_trees
    while stack:
        digest = stack.pop()
        if digest in trees:
            continue
        trees.add(digest)
        for entry in store.tree(digest):
            if entry.kind == DIR:
                stack.append(entry.digest)
            elif entry.kind == FILE and entry.size:
                files.add(entry.digest)
    return trees, files, _live_attrs(store, attr_roots + list(held_digests))


def _live_attrs(store: Store, roots: list[bytes]) -> set[bytes]:
    live: set[bytes] = set()
    with store.meta.read() as txn:
        stack = roots
        while stack:
            digest = stack.pop()
            raw = None if digest in live else txn.get(digest, db=store.meta.db["attrs"])
            if raw is not None:  # a held digest may be a tree's
                live.add(digest)
                stack += [d.attrs for d in attrs.decode(raw).dirs if d.attrs]
    return live


def collect(store: Store, *, dry_run: bool = False, held: Held = _nothing_held) -> GcReport:
    report = GcReport()
    with store.gc_lock(exclusive=True):
        live_trees, live_files, live_attrs = live_objects(store, held)
        db = store.meta.db
        with store.meta.read() as txn:
            live_chunks = set(live_files)
            for digest in live_files:
                raw = txn.get(digest, db=db["filemaps"])
                if raw is not None:
                    live_chunks.update(d for d, _ in meta.unpack_filemap(raw))
            dead_chunks = {bytes(k): meta.CHUNK.unpack(v)[1]
                           for k, v in txn.cursor(db["chunks"]) if bytes(k) not in live_chunks}
            dead_maps = [bytes(k) for k in txn.cursor(db["filemaps"]).iternext(values=False)
                         if bytes(k) not in live_files]
            dead_trees = [bytes(k) for k in txn.cursor(db["trees"]).iternext(values=False)
                          if bytes(k) not in live_trees]
            dead_attrs = [bytes(k) for k in txn.cursor(db["attrs"]).iternext(values=False)
                          if bytes(k) not in live_attrs]
        report.chunks, report.bytes = len(dead_chunks), sum(dead_chunks.values())
        report.trees = len(dead_trees)
        indexed = live_chunks | set(dead_chunks)
        strays = [(d, p) for d, p in store.chunks.list() if d is None or d not in indexed]
        report.strays = len(strays)
        if dry_run:
            return report
        with store.meta.write() as txn:
            for digest in dead_chunks:
                txn.delete(digest, db=db["chunks"])
            for digest in dead_maps:
                txn.delete(digest, db=db["filemaps"])
            for digest in dead_trees:
                txn.delete(digest, db=db["trees"])
            for digest in dead_attrs:
                txn.delete(digest, db=db["attrs"])
        for digest in dead_chunks:
            store.chunks.delete(digest)
        for _, path in strays:
            store.chunks.delete_stray(path)
    store.tree.cache_clear()
    store.tree_index.cache_clear()
    store.attrs.cache_clear()
    return report
