"""Garbage collection: free chunks, chunk lists, trees and attribute objects no version
references, after removing the versions retention says have expired (retention.py).

Mark and sweep under the exclusive gc lock, so no commit is between its dedup
check and its publication.  Index entries go first (one transaction), files
after: a crash in between leaves stray files, never an index entry for a
missing file.  Stray files (from commits that died before publishing, and drafts
whose process ended before logging them) go too; chunks a live draft stored or
relies on are kept (see drafts.py).

With a remote, chunk files are also a cache of what the remote holds (cache.py):
a live file's chunks need not be here, it is enough that the remote has them
("packed").  A chunk file gc deletes is on the remote (a cached chunk no version
here uses any more: gc prunes the cache), or a stray that was never indexed (a
file the commit protocol never trusted: it may be half-written).  A dead chunk
the index names and the remote lacks is kept: a publication failed after it was
written, and committing the same content again uploads it from here.  The cache's
records of what gc deletes go in the transaction that drops the index entries.

With a remote, the trees, chunk lists and attribute objects of the metadata packs
this store knows are kept even when no version here uses them: they are the mirror
of the remote's, and a version that uses them may not be here yet.  A refresh
learns a pack before the version record claimed after it (references are listed
first), and it takes a version only once its root tree is here, so a gc in between
would hide that version from this store for good (no later refresh fetches a known
pack again); and a refresh may take a version between gc's mark and its sweep.  They
go once the remote's gc has deleted their pack (it forgets the pack here).

What running mounts still serve is kept, removed versions included, so that a
file open through a mount reads to its end.  ``held`` asks them after the
versions are read: a version removed after that read was live in it, and one
removed before can no longer be looked up, so a mount that serves it already
did and says so.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from artfs.errors import CorruptData, StoreError
from artfs.store import attrs, drafts, keys, meta, pending, retention
from artfs.store import cache as cache_mod
from artfs.store.local import LocalObjectTxn
from artfs.store.remote import is_packed, pack_known, packed_location
from artfs.store.staging import staging_bases
from artfs.store.store import Store
from artfs.store.tree import DIR, FILE, decode_tree, tree_digest


@dataclass
class GcReport:
    chunks: int = 0
    bytes: int = 0
    trees: int = 0
    strays: int = 0
    kept: int = 0  # with a remote: dead chunks kept because the remote lacks them
    expired: list[dict] = field(default_factory=list)  # versions retention removed (or would)


Held = Callable[[], tuple[set[bytes], set[bytes]]]


def _nothing_held() -> tuple[set[bytes], set[bytes]]:
    return set(), set()


def live_objects(
    store: Store, held: Held = _nothing_held, without: frozenset[str] = frozenset()
) -> tuple[set[bytes], set[bytes], set[bytes]]:
    """(tree digests, file digests, attribute digests) reachable from any version,
    staging base or what ``held`` returns (its trees may name attribute objects too).

    gc deletes what is not in these sets, so anything that might hide a live object
    refuses: a version record that cannot be read, a tree that is missing, damaged or
    does not hash to its digest (a flipped digest inside would doom what it names).
    Versions labelled in ``without`` count as gone (what a dry run would remove)."""
    try:
        versions = [v for v in store.all_versions() if v.label not in without]
    except CorruptData as e:
        raise _refused(e) from None
    for version in versions:
        if version.damage is not None:
            raise _refused(version.error())
    roots = [v.root for v in versions]
    attr_roots = [v.attrs_root for v in versions if v.attrs_root]
    for root, attrs_root in pending.roots(store):  # committed offline, not yet synced
        roots.append(root)
        attr_roots += [attrs_root] if attrs_root else []
    # A staging's placeholders hold digests of its base, which may have been removed since.
    try:
        roots += [bytes.fromhex(base["root"]) for base in staging_bases(store)]
    except CorruptData as e:
        raise _refused(e) from None
    held_digests, files = held()
    with store.objects.transaction() as txn:
        # a mount's held digests name attribute objects too
        held_trees = [d for d in held_digests if txn.has(keys.tree_key(d))]
        trees = _live_trees(txn, roots + held_trees, files)
        live_attrs = _live_attrs(txn, attr_roots + list(held_digests))
    return trees, files, live_attrs


def _refused(error: Exception | str) -> StoreError:
    return StoreError(f"nothing was freed: {error}")


def _live_trees(txn: LocalObjectTxn, roots: list[bytes], files: set[bytes]) -> set[bytes]:
    """Every tree reachable from ``roots``, each checked against its digest; the digests
    of the files they hold (size > 0) are added to ``files``."""
    trees: set[bytes] = set()
    stack = roots
    while stack:
        digest = stack.pop()
        if digest in trees:
            continue
        trees.add(digest)
        for entry in _checked_tree(txn, digest):
            if entry.kind == DIR:
                stack.append(entry.digest)
            elif entry.kind == FILE and entry.size:
                files.add(entry.digest)
    return trees


def _checked_tree(txn: LocalObjectTxn, digest: bytes) -> list:
    raw = txn.get(keys.tree_key(digest))
    if raw is None:
        raise _refused(f"tree {digest.hex()} is missing; {meta.DAMAGED}")
    if tree_digest(raw) != digest:
        raise _refused(f"tree {digest.hex()} does not match its digest; {meta.DAMAGED}")
    try:
        return decode_tree(raw)
    except CorruptData as e:
        raise _refused(e) from None


def _live_attrs(txn: LocalObjectTxn, roots: list[bytes]) -> set[bytes]:
    live: set[bytes] = set()
    stack = roots
    while stack:
        digest = stack.pop()
        raw = None if digest in live else txn.get(keys.attrs_key(digest))
        if raw is None:  # a held digest may be a tree's; a missing object frees nothing
            continue
        if attrs.digest_of(raw) != digest:
            raise _refused(
                f"attribute object {digest.hex()} does not match its digest; {meta.DAMAGED}"
            )
        live.add(digest)
        try:
            stack += [d.attrs for d in attrs.decode(raw).dirs if d.attrs]
        except CorruptData as e:
            raise _refused(e) from None
    return live


def _live_chunks(
    store: Store, txn: LocalObjectTxn, files: set[bytes], held_files: set[bytes]
) -> set[bytes]:
    """The chunks of the live files.  A file of a version must have a chunk list or be a
    chunk itself, and every chunk of its list must be indexed (here, or on the remote):
    a damaged list or key would otherwise leave its real chunks unnamed, and so freed."""
    db = store.meta.db
    live = set(files)
    for digest in files:
        raw = txn.get(keys.filemap_key(digest))
        try:
            items = meta.unpack_filemap(raw, digest) if raw is not None else None
        except CorruptData as e:
            raise _refused(e) from None
        if items is None:
            if digest not in held_files and not _known_chunk(txn, db, digest):
                raise _refused(
                    f"file {digest.hex()} has neither a chunk list nor a chunk; {meta.DAMAGED}"
                )
            continue
        for chunk, _ in items:
            if not _known_chunk(txn, db, chunk) and digest not in held_files:
                raise _refused(
                    f"chunk {chunk.hex()} of file {digest.hex()} is not indexed; {meta.DAMAGED}"
                )
            live.add(chunk)
    return live


def _known_chunk(txn: LocalObjectTxn, db, digest: bytes) -> bool:
    """Indexed here, or (a store with a remote) on the remote: a clone caches only some."""
    return txn.has(keys.chunk_index_key(digest)) or is_packed(txn.lmdb, db, digest)


def referenced(store: Store) -> set[bytes]:
    """Every object a version (or a staging's base) references: trees, attribute
    objects, files' chunk lists and chunks."""
    trees, files, live_attrs = live_objects(store)
    with store.objects.transaction() as txn:
        chunks = _live_chunks(store, txn, files, set())
    return trees | files | live_attrs | chunks


def _noting(held: Held, into: set[bytes]) -> Held:
    """``held``, also noting the file digests it returns: what a mount holds may be of a
    version removed since, and need not pass the checks a version's files do."""

    def ask() -> tuple[set[bytes], set[bytes]]:
        trees, files = held()
        into.update(files)
        return trees, files

    return ask


def _stored_size(digest: bytes, value: bytes) -> int:
    try:
        return meta.unpack_chunk(value, digest)[1]
    except CorruptData as e:
        raise _refused(e) from None


def _in_known_packs(store: Store, txn: LocalObjectTxn, digests) -> set[bytes]:
    """The metadata objects among ``digests`` that a pack this store knows holds."""
    if store.remote is None:
        return set()
    db, held, known = store.meta.db, set(), {}
    for digest in digests:
        location = packed_location(txn.lmdb, db, digest)
        if location is None:
            continue
        pack = location.pack
        if pack not in known:
            known[pack] = pack_known(txn.lmdb, db, pack)
        if known[pack]:
            held.add(digest)
    return held


def _not_on_the_remote(store: Store, txn: LocalObjectTxn, digests) -> list[bytes]:
    if store.remote is None:
        return []
    return [d for d in digests if not is_packed(txn.lmdb, store.meta.db, d)]


def collect(
    store: Store, *, dry_run: bool = False, held: Held = _nothing_held, force: bool = False
) -> GcReport:
    """Remove the versions retention says have expired (``force``: also those holding
    user aliases), then free what no version references."""
    report = GcReport()
    with store.gc_lock(exclusive=True):
        doomed = (retention.expired if dry_run else retention.remove_expired)(store, force=force)
        report.expired = [
            {"version": d.label, "reason": d.reason, "aliases": list(d.aliases)} for d in doomed
        ]
        held_files: set[bytes] = set()
        gone = frozenset(d.label for d in doomed) if dry_run else frozenset()
        live_trees, live_files, live_attrs = live_objects(store, _noting(held, held_files), gone)
        pinned = drafts.pinned_chunks(store, dry_run=dry_run)  # of drafts not yet logged
        with store.objects.transaction() as txn:
            live_chunks = _live_chunks(store, txn, live_files, held_files) | pinned
            index = {keys.digest_of(k): (k, value) for k, value in txn.items(keys.CHUNK_INDEX)}
            dead_chunks = {
                digest: _stored_size(digest, value)
                for digest, (_, value) in index.items()
                if digest not in live_chunks
            }
            unuploaded = set(_not_on_the_remote(store, txn, dead_chunks))
            dead_maps = {
                digest: key
                for digest, key in ((keys.digest_of(k), k) for k in txn.list(keys.FILEMAPS))
                if digest not in live_files and digest not in pinned
            }
            dead_trees = {
                digest: key
                for digest, key in ((keys.digest_of(k), k) for k in txn.list(keys.TREES))
                if digest not in live_trees
            }
            dead_attrs = {
                digest: key
                for digest, key in ((keys.digest_of(k), k) for k in txn.list(keys.ATTRS))
                if digest not in live_attrs
            }
            mirrored = _in_known_packs(store, txn, [*dead_maps, *dead_trees, *dead_attrs])
            dead_maps, dead_trees, dead_attrs = (
                {d: key for d, key in dead.items() if d not in mirrored}
                for dead in (dead_maps, dead_trees, dead_attrs)
            )
        indexed = live_chunks | set(dead_chunks)
        for digest in unuploaded:
            del dead_chunks[digest]
        report.kept = len(unuploaded)
        report.chunks, report.bytes = len(dead_chunks), sum(dead_chunks.values())
        report.trees = len(dead_trees)
        strays = [(d, p) for d, p in store.chunks.list() if d is None or d not in indexed]
        report.strays = len(strays)
        if dry_run:
            return report
        with store.objects.transaction(write=True) as w:
            for digest in dead_chunks:
                w.delete(index[digest][0])
            for dead in (dead_maps, dead_trees, dead_attrs):
                for key in dead.values():
                    w.delete(key)
            forgotten = [*dead_chunks, *(d for d, _ in strays if d is not None)]
            cache_mod.forget(w.lmdb, store.meta.db, forgotten)
        for digest in dead_chunks:
            store.chunks.delete(digest)
        for _, path in strays:
            store.chunks.delete_stray(path)
    store.tree.cache_clear()
    store.tree_index.cache_clear()
    store.attrs.cache_clear()
    return report
