"""The local cache of a remote's chunks: what it holds, in which order, what it gives back.

With a remote, a chunk file here is of one of two kinds.  *Cached*: the remote has
it (its digest is in "packed"), because a reader fetched it or because a commit
here wrote it and uploaded it since.  *Pinned*: the remote does not have it yet (a
commit's chunks until its publication uploads them; a store's versions until
'artfs remote add' has pushed them).  Only cached files are ever evicted, least
recently used first, while the cached bytes exceed the limit (the remote's
``cache_size``; None: no limit).  Pinned files are counted apart and kept whatever
the limit: they may exist nowhere else.

How recency is kept, and what it costs.  The "cache" database (meta.py) holds an
entry per cached file (last use, size), the same entries ordered by last use, and
their sums.  Every change to the set of cached files (a fetch, an upload, an
eviction, gc) is a write transaction that records it, and LMDB serialises writers
across threads and processes: the mount daemon and CLI commands on one store agree
on the sums, so the limit holds for all of them together, and it survives restarts
as it is.  A fetch pays one such transaction (0.5 to 1.4 ms more than writing the
file alone, measured by scripts/bench_cache.py: mostly the commit's fsync) beside a
request to the remote (tens of ms); the chunk file is written inside it, after the
evictions that make room for it, so the files never add up to more than the limit.
A hit must not pay that: it is noted in memory (a dict entry under a lock: 0.45 us,
against 8 us for reading a 4 KiB chunk file and 160 us for 1 MiB, measured the
same way) and the notes are written by the next transaction of this process: its
next fetch, or one of their own once FLUSH_SECONDS have passed or FLUSH_HITS hits
wait, and when the store closes or the process exits.  A process that is killed
loses its last seconds of hits: the order is then a little older than the truth,
never wrong about what is cached.  File times were the alternative: atimes are not
kept under noatime or relatime, an mtime set per hit costs a system call per read,
and either way finding the oldest file means a stat of every file at every
eviction, and each process would keep its own sums.

Failures lean one way: an entry may outlive its file (a fetch whose write failed
after the evictions that made its room, a file gc removed while another process
fetched it again), which only counts some bytes too many until the entry is
evicted.  The other way, a file nobody counts, takes a crash between writing a
fetched chunk and committing its entry, or a file an older artfs fetched;
``reconcile`` (run by 'artfs cache prune' and the upgrade to format 6) finds those
and sets the sums right.
"""

import atexit
import contextlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass

from artfs.errors import CorruptData
from artfs.store import meta
from artfs.store.chunks import ChunkFiles

FLUSH_SECONDS = 2.0  # hits older than this are written by the next hit
FLUSH_HITS = 10_000  # hits waiting in memory that make the next hit write them


@dataclass
class Usage:
    cached_bytes: int  # the remote has them: evictable
    cached_files: int
    pinned_bytes: int  # written here, not on the remote yet: never evicted
    pinned_files: int
    limit: int | None


@dataclass
class Pruned:
    evicted_files: int = 0
    evicted_bytes: int = 0
    found: int = 0  # cached files the entries lacked, now entered (rescan)
    lost: int = 0  # entries whose file was gone, now dropped (rescan)


Limit = Callable[[], int | None]


class Cache:
    """The cache policy of one opened store with a remote.  Thread-safe; processes
    sharing the store coordinate through its LMDB write lock."""

    def __init__(self, store_meta: meta.Meta, files: ChunkFiles, limit: Limit):
        self.meta, self.files, self.limit = store_meta, files, limit
        self._hits: dict[bytes, int] = {}
        self._lock = threading.Lock()
        self._flushed = time.monotonic()
        _open_caches.add(self)

    @property
    def _db(self):
        return self.meta.db

    # --- hits --------------------------------------------------------------------

    def touch(self, digest: bytes) -> None:
        """A read found the chunk here: note it, to be written with the next transaction."""
        now = time.time_ns()
        with self._lock:
            self._hits[digest] = now
            due = len(self._hits) >= FLUSH_HITS or time.monotonic() - self._flushed > FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the hits noted so far (a store that closes, a process that exits)."""
        hits = self._take_hits()
        if hits:
            with self.meta.write() as txn:
                _note_hits(txn, self._db, hits)

    def close(self) -> None:
        self.flush()
        _open_caches.discard(self)

    def _take_hits(self) -> dict[bytes, int]:
        with self._lock:
            hits, self._hits = self._hits, {}
            self._flushed = time.monotonic()
        return hits

    # --- what comes in --------------------------------------------------------------

    def admit(self, fetched: Sequence[tuple[bytes, bytes]]) -> int:
        """Keep chunk files just fetched from the remote (digest, stored bytes), first
        ones first, as many as the limit holds: evict what their room needs, write them
        and enter them, in one transaction (one fsync for a whole ranged GET's chunks,
        not one each).  → how many were kept."""
        limit = self.limit()
        hits = self._take_hits()
        with self.meta.write() as txn:
            _note_hits(txn, self._db, hits)  # first: a chunk read a moment ago is not old
            kept, room = self._room_for(txn, fetched, limit)
            if limit is not None:
                self._evict(txn, room, keep={digest for digest, _ in kept})
            now = time.time_ns()
            for digest, blob in kept:
                _put(txn, self._db, digest, len(blob), now)
                self.files.put(digest, blob[:1], blob[1:], seen=True)
        return len(kept)

    def _room_for(
        self, txn, fetched: Sequence[tuple[bytes, bytes]], limit: int | None
    ) -> tuple[list[tuple[bytes, bytes]], int]:
        """The fetched chunks that fit in ``limit`` together (one larger than what is
        left is skipped), and the bytes the other cached files may then take."""
        if limit is None:
            return list(fetched), 0
        kept, room = [], limit
        for digest, blob in fetched:
            known = _entry(txn, self._db, digest) is not None  # another process's fetch
            need = 0 if known else len(blob)
            if need <= room:
                kept.append((digest, blob))
                room -= need
        return kept, room

    def adopt(self, txn, chunks: Iterable[tuple[bytes, int]]) -> None:
        """In ``txn``, where the remote's new pack locations are learnt: the chunk files
        written here (indexed in "chunks") that the remote has now become cached."""
        now = time.time_ns()
        for digest, size in chunks:
            if (
                txn.get(digest, db=self._db["chunks"]) is not None
                and _entry(txn, self._db, digest) is None
                and self.files.has(digest)
            ):
                _put(txn, self._db, digest, size, now)

    # --- what goes out ----------------------------------------------------------------

    def enforce(self) -> Pruned:
        """Evict down to the limit (an upload may have made many files evictable)."""
        limit = self.limit()
        if limit is None:
            return Pruned()
        with self.meta.read() as txn:
            if _sums(txn, self._db)[0] <= limit:
                return Pruned()  # the usual case costs no write transaction
        return self.prune(limit, rescan=False)

    def prune(self, to: int, *, rescan: bool = True) -> Pruned:
        """Evict least recently used cached files until at most ``to`` bytes are cached;
        first (``rescan``) take the files on disk into account as they are."""
        pruned = Pruned()
        listing = list(self.files.list()) if rescan else None
        hits = self._take_hits()
        with self.meta.write() as txn:
            _note_hits(txn, self._db, hits)
            if listing is not None:
                pruned.found, pruned.lost = reconcile(txn, self._db, self.files, listing)
            pruned.evicted_files, pruned.evicted_bytes = self._evict(txn, to)
        return pruned

    def _evict(self, txn, target: int, keep: Container[bytes] = ()) -> tuple[int, int]:
        """Remove cached files, least recently used first, until their sum is at most
        ``target`` (never one of ``keep``, never a file the remote lacks); → (files, bytes)."""
        db = self._db
        total = _sums(txn, db)[0]
        if total <= target:
            return 0, 0
        victims, stale = [], []
        cursor = txn.cursor(db["cache"])
        if cursor.set_range(meta.CACHE_ORDER_PREFIX):
            for key in cursor.iternext(values=False):
                if total <= target or not key.startswith(meta.CACHE_ORDER_PREFIX):
                    break
                digest = meta.digest_of_cache_order(key)
                entry = _entry(txn, db, digest)
                if entry is None or meta.cache_order_key(entry[0], digest) != key:
                    stale.append(bytes(key))  # its entry is damaged: reconcile enters the file
                elif digest not in keep:
                    victims.append(digest)
                    total -= entry[1]
        for key in stale:
            txn.delete(key, db=db["cache"])
        files = size = 0
        for digest in victims:
            freed = _drop(txn, db, digest)
            # Only a file the remote has is ever entered; should one not be, it stays.
            if freed is not None and txn.get(digest, db=db["packed"]) is not None:
                self.files.delete(digest)
                files, size = files + 1, size + freed
        return files, size

    # --- what it holds ----------------------------------------------------------------

    def usage(self) -> Usage:
        db = self._db
        with self.meta.read() as txn:
            cached, count = _sums(txn, db)
            pinned = pinned_chunks(txn, db)
        return Usage(cached, count, sum(pinned.values()), len(pinned), self.limit())


# --- in a transaction of someone else's: gc, the format upgrade --------------------------


def forget(txn, db, digests: Iterable[bytes]) -> None:
    """Drop the entries of chunk files about to be deleted (gc)."""
    for digest in digests:
        _drop(txn, db, digest)


def pinned_chunks(txn, db) -> dict[bytes, int]:
    """The chunk files written here that the remote lacks: digest -> stored size."""
    pinned = {}
    for key, raw in txn.cursor(db["chunks"]):
        if txn.get(key, db=db["packed"]) is None:
            try:
                pinned[bytes(key)] = meta.unpack_chunk(raw, bytes(key))[1]
            except CorruptData:  # counted as nothing; 'artfs verify' reports it
                pinned[bytes(key)] = 0
    return pinned


def reconcile(
    txn, db, files: ChunkFiles, listing: list[tuple[bytes | None, str]]
) -> tuple[int, int]:
    """Make the entries what the chunk directory holds (``listing``, made before
    ``txn`` began: a file a writer adds meanwhile is entered by that writer): enter
    the cached files no entry names, at their mtime; drop the entries of files gone;
    sum them again.  → (files entered, entries dropped)."""
    on_disk = {digest: path for digest, path in listing if digest is not None}
    lost = 0
    for key, _ in list(meta.prefix_scan(txn, db["cache"], meta.cache_entry_key(b""))):
        digest = bytes(key)[1:]
        if digest not in on_disk and not files.has(digest):
            _drop(txn, db, digest)
            lost += 1
    found = 0
    for digest, path in on_disk.items():
        if _entry(txn, db, digest) is None and txn.get(digest, db=db["packed"]) is not None:
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            _put(txn, db, digest, st.st_size, st.st_mtime_ns)
            found += 1
    _set_sums(txn, db, *_added_up(txn, db))
    return found, lost


# --- the records ------------------------------------------------------------------------


def _entry(txn, db, digest: bytes) -> tuple[int, int] | None:
    """(last use, size) of a cached file; None if it has no entry (or a damaged one:
    the cache is only a cache, so that is a miss, and its next entry replaces it)."""
    raw = txn.get(meta.cache_entry_key(digest), db=db["cache"])
    try:
        return meta.unpack_cached(raw, "a cache entry") if raw is not None else None
    except CorruptData:
        return None


def _sums(txn, db) -> tuple[int, int]:
    """(bytes, files) of the cached files: as recorded, or added up again if the record
    is damaged (the next change writes it right)."""
    raw = txn.get(meta.CACHE_SUMS, db=db["cache"])
    if raw is None:
        return 0, 0
    try:
        return meta.unpack_cached(raw, "the cache's sums")
    except CorruptData:
        return _added_up(txn, db)


def _added_up(txn, db) -> tuple[int, int]:
    total = count = 0
    for _, raw in meta.prefix_scan(txn, db["cache"], meta.cache_entry_key(b"")):
        if len(raw) == meta.CACHED.size:
            total, count = total + meta.CACHED.unpack(raw)[1], count + 1
    return total, count


def _set_sums(txn, db, total: int, count: int) -> None:
    txn.put(meta.CACHE_SUMS, meta.CACHED.pack(max(total, 0), max(count, 0)), db=db["cache"])


def _add(txn, db, size: int, files: int) -> None:
    total, count = _sums(txn, db)
    _set_sums(txn, db, total + size, count + files)


def _put(txn, db, digest: bytes, size: int, used_ns: int) -> None:
    old = _entry(txn, db, digest)
    if old is not None:
        txn.delete(meta.cache_order_key(old[0], digest), db=db["cache"])
        used_ns = max(used_ns, old[0])
    txn.put(meta.cache_entry_key(digest), meta.CACHED.pack(used_ns, size), db=db["cache"])
    txn.put(meta.cache_order_key(used_ns, digest), b"", db=db["cache"])
    _add(txn, db, size - (old[1] if old else 0), 0 if old else 1)


def _drop(txn, db, digest: bytes) -> int | None:
    """Remove a file's entry; → its size, None if it had none."""
    old = _entry(txn, db, digest)
    if old is None:
        return None
    txn.delete(meta.cache_entry_key(digest), db=db["cache"])
    txn.delete(meta.cache_order_key(old[0], digest), db=db["cache"])
    _add(txn, db, -old[1], -1)
    return old[1]


def _note_hits(txn, db, hits: dict[bytes, int]) -> None:
    """Move each hit chunk to its place by last use (a chunk not cached is pinned:
    no entry to move)."""
    for digest, used_ns in hits.items():
        old = _entry(txn, db, digest)
        if old is not None and used_ns > old[0]:
            txn.delete(meta.cache_order_key(old[0], digest), db=db["cache"])
            txn.put(meta.cache_entry_key(digest), meta.CACHED.pack(used_ns, old[1]), db=db["cache"])
            txn.put(meta.cache_order_key(used_ns, digest), b"", db=db["cache"])


_open_caches: "weakref.WeakSet[Cache]" = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    """A CLI command does not close its store: its hits are written as it exits."""
    for cache in list(_open_caches):
        # at exit, a store that cannot be written any more keeps the order it has
        with contextlib.suppress(Exception):
            cache.flush()
