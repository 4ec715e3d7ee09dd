"""The local backends: backend.py's interfaces over a store directory as it is today.

An existing store reads through them with no conversion (localkeys.py maps the keys):
chunk objects are chunk files, the other objects and every reference live in the
LMDB databases meta.py defines.

Speed decides two things.  A chunk file is written as chunks.py writes one (no fsync
of its own, writeback started at once), but always to a temporary name that is then
renamed, so that ``put`` is atomic and also replaces a half-written leftover of a
writer that died; ``barrier`` is one syncfs.  LMDB objects (trees, attribute objects,
chunk lists, chunk index entries) are small and many, and an LMDB commit costs an
fsync (about 7 ms here), so puts and deletes of them are held in memory, served from
there to this process, and written in one transaction by ``barrier``.

A reference is written in a transaction of its own (durable on return) that reads the
current value and checks the writer's tag first; LMDB serialises write transactions,
so check and write are atomic across threads and processes.  A tag is a BLAKE3 of the
value: derived from what is stored, so it needs no field of its own in today's layout.

The store changes several references at once (a commit: next version number, version
record, aliases, output edge): ``LocalRefs.transaction`` is one LMDB transaction
(LocalRefTxn), a read one a snapshot.  ``LocalObjects.transaction`` is the same for
the LMDB-held objects (gc, verify, a commit's dedup checks), and ``within`` puts the
objects in a reference transaction's own, so a commit still costs one fsync.  Both
expose the LMDB transaction as ``lmdb``, for machine-local state only (statcache.py,
cache.py, a remote's bookkeeping).  Listings decode LMDB keys back to string keys
through a cache (localkeys.ref_key); a key that does not decode is yielded as a
backend.DamagedKey so that the caller can report it and go on.
"""

import ctypes
import os
import threading
from collections.abc import Callable, Iterator, MutableSequence
from contextlib import suppress
from typing import Self

import blake3
import lmdb

from artfs.errors import CorruptData, NotFound, StoreError, UsageError, disk_full
from artfs.store import localkeys as keys
from artfs.store.backend import ANY, DamagedKey, Ref, _Any, check_expected
from artfs.store.durable import write_all
from artfs.store.meta import CORRUPTION, Meta, corrupt, damaged, is_disk_full

_libc = ctypes.CDLL(None, use_errno=True)
_SYNC_FILE_RANGE_WRITE = 2
_TAG_BYTES = 16
_DELETED = None  # a pending delete, among pending puts


class _mapped:  # noqa: N801 - used as a ``with`` statement, like contextlib's helpers
    """OSError and LMDB's errors as the artfs errors a user can act on.  A class, not a
    generator: it wraps every reference read, and costs a third as much this way."""

    def __init__(self, store: str, action: str):
        self.store, self.action = store, action

    def __enter__(self) -> None:
        pass

    def __exit__(self, kind, e, traceback) -> None:
        if isinstance(e, CORRUPTION):
            raise damaged(os.path.join(self.store, "meta"), str(e)) from None
        if isinstance(e, (OSError, lmdb.Error)):
            if is_disk_full(e):
                raise disk_full(self.store) from None
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise StoreError(
                f"cannot {self.action} in the store at {self.store} ({why}); "
                "check its disk and permissions"
            ) from None


def _missing(key: str) -> NotFound:
    return NotFound(f"object {key} is not in the store; it was never written or was collected")


def _slice(data: bytes, start: int, length: int | None) -> bytes:
    return data[start:] if length is None else data[start : start + length]


class _LmdbTxn:
    """One LMDB transaction as a context manager, begun on entry (unless given one),
    committed when the block ends without an exception and aborted otherwise.  LMDB's
    errors (at its start, inside the block, at its commit) are the caller's to see, as
    with ``Meta.write``, which the store's modules used before: they and the layers
    above tell a full disk (meta.FULL_ERRORS) from damage as they did.  A class, not a
    generator: stores open one for every look at an artifact."""

    __slots__ = ("lmdb", "_meta", "_write")

    def __init__(self, meta: Meta, txn=None, *, write: bool = False):
        self.lmdb, self._meta, self._write = txn, meta, write

    def __enter__(self) -> Self:
        self.lmdb = self._meta.write() if self._write else self._meta.read()
        return self

    def __exit__(self, kind, e, traceback) -> None:
        if self.lmdb is None:  # closed early
            return
        if kind is not None:
            self.lmdb.abort()
        else:
            self.lmdb.commit()

    def close(self) -> None:
        """End a read transaction before its block does (its snapshot is let go)."""
        if self.lmdb is not None:
            self.lmdb.abort()
            self.lmdb = None


class LocalObjects:
    """An ObjectStore over ``STORE/chunks`` and the LMDB object databases.  Thread-safe."""

    def __init__(self, path: str, meta: Meta):
        self.path = path
        self._chunks = os.path.join(path, "chunks")
        self._meta = meta
        self._pending: dict[tuple[str, bytes], bytes | None] = {}  # (db, key) -> value
        self._lock = threading.Lock()

    def _place(self, key: str) -> tuple[str, bytes] | str:
        """(database, LMDB key) of an object, or the path of its chunk file."""
        place = keys.object_place(key)
        if isinstance(place, str):
            return f"{self._chunks}/{place[:2]}/{place[2:]}"
        return place

    def has(self, key: str) -> bool:
        place = self._place(key)
        if isinstance(place, str):
            return os.path.exists(place)
        return self._lookup(place) is not None

    def _lookup(self, place: tuple[str, bytes]) -> bytes | None:
        if self._pending:  # a dict's truth needs no lock; what it holds does
            with self._lock:
                if place in self._pending:
                    return self._pending[place]
        try:  # not ``with _mapped``: this is the mount's per-lookup read, and a try is free
            with self._meta.read() as txn:
                return txn.get(place[1], db=self._meta.db[place[0]])
        except (OSError, lmdb.Error) as e:
            with _mapped(self.path, "read an object"):
                raise e from None

    def get(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        place = self._place(key)
        if not isinstance(place, str):
            data = self._lookup(place)
            if data is None:
                raise _missing(key)
            return _slice(data, start, length)
        try:
            fd = os.open(place, os.O_RDONLY)
        except FileNotFoundError:
            raise _missing(key) from None
        with _mapped(self.path, f"read chunk file {place}"):
            try:
                if length is None:
                    length = max(0, os.fstat(fd).st_size - start)
                return _pread_all(fd, length, start)
            finally:
                os.close(fd)

    def put(self, key: str, data: bytes) -> None:
        place = self._place(key)
        if isinstance(place, str):
            with _mapped(self.path, "write a chunk file"):
                _write_file(place, data)
            return
        with self._lock:
            self._pending[place] = bytes(data)

    def delete(self, key: str) -> None:
        place = self._place(key)
        if isinstance(place, str):
            with _mapped(self.path, "delete a chunk file"), suppress(FileNotFoundError):
                os.unlink(place)
            return
        with self._lock:
            self._pending[place] = _DELETED

    def list(self, prefix: str = "") -> Iterator[str]:
        """Chunk files and the object databases, each in order, one after the other: no
        table's name is a prefix of another's, so that is the order of all the keys."""
        for table in sorted([keys.CHUNK_FILES, *keys.OBJECT_LAYOUTS]):
            start = table + "/"
            if start.startswith(prefix):
                yield from self._list_table(table, "")
            elif prefix.startswith(start):
                yield from self._list_table(table, prefix[len(start) :])

    def _list_table(self, table: str, rest: str) -> Iterator[str]:
        if table == keys.CHUNK_FILES:
            yield from (f"{table}/{h}" for h in self._chunk_names(rest))
            return
        layout = keys.OBJECT_LAYOUTS[table]
        found = dict.fromkeys(
            _scan(self._meta, layout, keys.byte_prefix(layout, [rest]), self.path), True
        )
        with self._lock:  # what this process put or deleted and has not written yet
            for (db, raw), value in self._pending.items():
                if db == layout.db:
                    found[raw] = value is not _DELETED
        for raw in sorted(k for k, present in found.items() if present):
            name = raw.hex()
            if name.startswith(rest):
                yield f"{table}/{name}"

    def _chunk_names(self, rest: str) -> Iterator[str]:
        """Hex digests of the chunk files whose names start with ``rest``, in order;
        temporary files and strays (names that are no digest) are not objects."""
        with _mapped(self.path, "list the chunk files"):
            try:
                subdirs = sorted(os.listdir(self._chunks))
            except FileNotFoundError:  # no chunk written yet
                return
            for sub in subdirs:
                if len(sub) != 2 or not (sub.startswith(rest[:2]) or rest.startswith(sub)):
                    continue
                with suppress(NotADirectoryError, FileNotFoundError):
                    for name in sorted(os.listdir(os.path.join(self._chunks, sub))):
                        digest = sub + name
                        if keys.is_digest(digest) and digest.startswith(rest):
                            yield digest

    def barrier(self) -> None:
        """The pending LMDB objects in one transaction, then one syncfs for the chunk
        files (LMDB syncs its own commit)."""
        with self._lock, _mapped(self.path, "write objects"):
            if self._pending:
                with self._meta.write() as txn:
                    for (db, raw), value in self._pending.items():
                        if value is _DELETED:
                            txn.delete(raw, db=self._meta.db[db])
                        else:
                            txn.put(raw, value, db=self._meta.db[db])
                self._pending.clear()
            with suppress(FileNotFoundError):  # no chunk written yet
                _syncfs(self._chunks)

    def transaction(self, write: bool = False) -> "LocalObjectTxn":
        """The LMDB-held objects in one LMDB transaction: a snapshot to read many of
        (a per-object ``get`` costs a transaction of its own), or deletes and puts
        made durable together when the block ends without an exception.  Chunk files
        are not in it (``get``/``has``/``list`` of this store reach them)."""
        return LocalObjectTxn(self, None, write=write)

    def within(self, txn: "LocalRefTxn") -> "LocalObjectTxn":
        """The objects in a reference transaction already open: the same LMDB
        transaction, so that a local commit writes its objects and publishes the version
        that names them together, with one fsync.  It ends with ``txn``."""
        return LocalObjectTxn(self, txn.lmdb)

    def reader(self, table: str) -> Callable[[bytes], bytes | None]:
        """``find`` for the objects of one table (keys.TREES, keys.ATTRS, ...) by their
        digest, the key neither built nor parsed per call: the mount reads trees,
        attribute objects and chunk lists on its lookups and opens."""
        db = keys.OBJECT_LAYOUTS[table.rstrip("/")].db
        lookup = self._lookup
        return lambda digest: lookup((db, digest))

    def find(self, key: str) -> bytes | None:
        """An LMDB-held object, or None if it is not there: ``get`` without the cost of
        an exception, for the mount's per-open lookups (a file of one chunk has no
        chunk list)."""
        place = self._place(key)
        if isinstance(place, str):
            raise UsageError(f"{key} is a chunk file: use get or has")
        return self._lookup(place)


class LocalObjectTxn(_LmdbTxn):
    """Reads and writes of LMDB-held objects in one LMDB transaction (LocalObjects'
    ``transaction``).  What this process put and has not yet written (``barrier``)
    is seen too.  ``lmdb``, the transaction itself, is for machine-local state only,
    as ``LocalRefTxn.lmdb`` is (gc drops the cache's entries of the chunks it frees in
    the transaction that drops their index entries)."""

    __slots__ = ("_objects",)

    def __init__(self, objects: LocalObjects, txn=None, *, write: bool = False):
        super().__init__(objects._meta, txn, write=write)
        self._objects = objects

    def _place(self, key: str) -> tuple[str, bytes]:
        place = keys.object_place(key)
        if isinstance(place, str):
            raise UsageError(f"{key} is a chunk file, not in an LMDB transaction")
        return place

    def get(self, key: str) -> bytes | None:
        """The object, or None if it is not there."""
        place = self._place(key)
        objects = self._objects
        if objects._pending:
            with objects._lock:
                if place in objects._pending:
                    return objects._pending[place]
        return self.lmdb.get(place[1], db=objects._meta.db[place[0]])

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def items(self, prefix: str, *, counted: bool = False) -> Iterator[tuple[str, bytes]]:
        """(key, bytes) of the LMDB objects starting with ``prefix``, in key order.  A
        key that is not a digest comes first, as a DamagedKey; with ``counted``, a
        table listed whole that yields fewer or more entries than LMDB counts apart
        from its pages raises CorruptData after them."""
        return self._items(prefix, counted, values=True)

    def list(self, prefix: str, *, counted: bool = False) -> Iterator[str]:
        """The keys alone, as ``items`` lists them (no object is read)."""
        return (key for key, _ in self._items(prefix, counted, values=False))

    def _items(self, prefix: str, counted: bool, values: bool) -> Iterator[tuple[str, bytes]]:
        for table in sorted(keys.OBJECT_LAYOUTS):
            start = table + "/"
            if start.startswith(prefix):
                yield from self._table(table, "", prefix, counted, values)
            elif prefix.startswith(start):
                yield from self._table(table, prefix[len(start) :], prefix, counted, values)

    def _table(
        self, table: str, rest: str, prefix: str, counted: bool, values: bool
    ) -> Iterator[tuple[str, bytes]]:
        layout = keys.OBJECT_LAYOUTS[table]
        db = self._objects._meta.db[layout.db]
        narrow = keys.byte_prefix(layout, [rest])
        found: dict[bytes, bytes | None] = {}
        seen = 0
        cursor = self.lmdb.cursor(db=db)
        if cursor.set_range(narrow):
            if values:
                for raw, value in cursor:
                    if not raw.startswith(narrow):
                        break
                    seen += 1
                    found[raw] = value
            else:
                for raw in cursor.iternext(values=False):
                    if not raw.startswith(narrow):
                        break
                    seen += 1
                    found[raw] = b""
        pending = self._objects._pending
        if pending:
            with self._objects._lock:
                found.update(
                    (raw, v if values or v is None else b"")
                    for (d, raw), v in pending.items()
                    if d == layout.db
                )
        start = table + "/"
        good: list[tuple[str, bytes]] = []
        damaged: list[tuple[str, bytes]] = []
        for raw, held in found.items():
            if held is None:  # deleted, not yet written
                continue
            if len(raw) != 32:
                problem = keys.damaged_key(raw, layout).problem
                damaged.append((DamagedKey(max(prefix, start, key=len), raw, problem), held))
                continue
            key = start + raw.hex()
            if key.startswith(prefix):
                good.append((key, held))
        yield from damaged
        good.sort()
        yield from good
        if counted and not narrow and seen != self.lmdb.stat(db)["entries"]:
            raise corrupt(
                f"the {layout.db} index holds {self.lmdb.stat(db)['entries']} entries, "
                f"but {seen} can be read: its pages are damaged"
            )

    def put(self, key: str, data: bytes, *, replace: bool = False) -> None:
        """Write the object; one already there is left as it is (objects never change,
        and rewriting would dirty LMDB pages for nothing), unless ``replace`` (an index
        entry written again after its chunk file was)."""
        db, raw = self._place(key)
        self.lmdb.put(raw, data, db=self._objects._meta.db[db], overwrite=replace)

    def delete(self, key: str) -> None:
        """Remove the object; a missing one is not an error.  A DamagedKey of this
        transaction's ``items`` is removed too (by its stored bytes)."""
        if isinstance(key, DamagedKey):
            table = key.split("/", 1)[0]
            db, raw = keys.OBJECT_LAYOUTS[table].db, key.raw
        else:
            db, raw = self._place(key)
        with self._objects._lock:
            self._objects._pending.pop((db, raw), None)
        self.lmdb.delete(raw, db=self._objects._meta.db[db])


def _pread_all(fd: int, length: int, start: int) -> bytes:
    data = os.pread(fd, length, start)
    while 0 < len(data) < length:  # a short read of a big file: ask for the rest
        more = os.pread(fd, length - len(data), start + len(data))
        if not more:
            break
        data += more
    return data


def _write_file(final: str, data: bytes) -> None:
    """Write under a temporary name, start writeback, rename: whole or absent, never
    half (a new name in chunks.py is written in place; through this interface a reader
    may look before anything is published)."""
    tmp = f"{final}.tmp{os.getpid()}.{threading.get_ident()}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(tmp, flags, 0o400)
    except FileNotFoundError:  # the first chunk of its two-hex-digit directory
        os.makedirs(os.path.dirname(tmp), mode=0o700, exist_ok=True)
        fd = os.open(tmp, flags, 0o400)
    try:
        write_all(fd, data)
        _libc.sync_file_range(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)
    finally:
        os.close(fd)
    os.rename(tmp, final)


def _syncfs(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)


def _scan(meta: Meta, layout: keys.Layout, prefix: bytes, store: str) -> Iterator[bytes]:
    """The LMDB keys of a database starting with ``prefix``, read in one snapshot."""
    with _mapped(store, f"list the {layout.db} database"), meta.read() as txn:
        cursor = txn.cursor(db=meta.db[layout.db])
        found = []
        if cursor.set_range(prefix):
            for raw in cursor.iternext(values=False):
                if not raw.startswith(prefix):
                    break
                found.append(bytes(raw))
    return iter(found)


def tag_of(value: bytes) -> str:
    return blake3.blake3(value).hexdigest(_TAG_BYTES)


class LocalRefs:
    """A RefStore over the LMDB databases of mutable records.  Thread- and process-safe.
    Also a TransactionalRefs: ``transaction`` is one LMDB transaction."""

    def __init__(self, path: str, meta: Meta):
        self.path = path
        self._meta = meta

    def _place(self, key: str) -> "tuple[lmdb._Database, bytes]":
        """(LMDB database handle, LMDB key) of a reference; a DamagedKey that a listing
        gave names its stored key (so a caller may rewrite or remove what it holds)."""
        if type(key) is DamagedKey:
            layout = keys.REF_LAYOUTS[key.split("/")[1]]
            return self._meta.db[layout.db], key.raw
        db, raw = keys.ref_place(key)
        return self._meta.db[db], raw

    def get(self, key: str) -> Ref | None:
        db, raw = self._place(key)
        with _mapped(self.path, "read a reference"), self._meta.read() as txn:
            value = txn.get(raw, db=db)
        return None if value is None else Ref(value, tag_of(value))

    def put(self, key: str, value: bytes, *, expect: str | None | _Any = ANY) -> str:
        db, raw = self._place(key)
        self._write(key, lambda txn: txn.put(raw, value, db=db), db, raw, expect)
        return tag_of(value)

    def delete(self, key: str) -> None:
        db, raw = self._place(key)
        self._write(key, lambda txn: txn.delete(raw, db=db), db, raw, ANY)

    def _write(self, key: str, change: Callable, db, raw: bytes, expect) -> None:
        """``change`` in a write transaction that first checks the current tag: a
        RefConflict leaves the transaction, and so the store, untouched."""
        with _mapped(self.path, "write a reference"), self._meta.write() as txn:
            current = txn.get(raw, db=db)
            check_expected(key, None if current is None else tag_of(current), expect)
            change(txn)

    def list(self, prefix: str = "") -> Iterator[tuple[str, str]]:
        """In string order, which is not LMDB's (``ds/10`` < ``ds/7``; ``a-b`` < ``a/``):
        each table's matching keys are read in one snapshot and sorted.  A damaged key
        raises CorruptData naming it (``items`` yields it instead)."""
        with _mapped(self.path, "list references"), self._meta.read() as txn:
            found = []
            for key, value in self._items(txn, prefix, counted=False):
                if isinstance(key, DamagedKey):
                    raise CorruptData(key.problem)
                found.append((key, tag_of(value)))
        yield from found

    def items(
        self, prefix: str = "", *, counted: bool = False, values: bool = True
    ) -> Iterator[tuple[str, bytes]]:
        """In one snapshot; see ``LocalRefTxn.items``."""
        with _mapped(self.path, "list references"), self._meta.read() as txn:
            found = list(self._items(txn, prefix, counted, values))
        return iter(found)

    def count(self, prefix: str) -> int:
        """How many references start with ``prefix`` (damaged keys among them), in one
        snapshot: the keys alone, and where the prefix ends at a field of the layout
        (``refs/versions/ds/``), not even decoded (the mount counts an artifact's
        versions on every look at its directory)."""
        with _mapped(self.path, "count references"), self._meta.read() as txn:
            return _count(self, txn, prefix)

    def _items(
        self, txn, prefix: str, counted: bool, values: bool = True
    ) -> Iterator[tuple[str, bytes]]:
        """Read eagerly, into one list (a listing is small, and a generator per level
        costs more than the entries): its iterator, or, when a table counted whole hides
        entries, a generator that raises CorruptData after them."""
        out: list[tuple[str, bytes]] = []
        error = None
        for table, start in _REF_TABLES:
            if start.startswith(prefix):
                rest = ""
            elif prefix.startswith(start):
                rest = prefix[len(start) :]
            else:
                continue
            error = (
                self._table_items(txn, table, start, rest, prefix, counted, values, out) or error
            )
            if rest or len(prefix) >= len(start):
                break  # no other table's keys start so
        return iter(out) if error is None else _then_raise(out, error)

    def _table_items(
        self,
        txn,
        table: str,
        start: str,
        rest: str,
        prefix: str,
        counted: bool,
        values: bool,
        out: MutableSequence[tuple[str, bytes]],
    ) -> CorruptData | None:
        """Add one table's matching entries to ``out``, sorted as strings.  A key that
        does not decode but starts with the bytes asked for comes first, as a
        DamagedKey.  With ``counted``, a table read whole that yields fewer or more
        entries than LMDB counts apart from its pages gives the CorruptData to raise
        after them (a damaged page can hide entries from a cursor without any error)."""
        layout = keys.REF_LAYOUTS[table]
        narrow, exact = keys.ref_prefix(table, rest)
        db = self._meta.db[layout.db]
        found: list[tuple[str, bytes]] = []
        seen, ref_key = 0, keys.ref_key
        cursor = txn.cursor(db=db)
        if cursor.set_range(narrow):
            listed = cursor if values else ((raw, b"") for raw in cursor.iternext(values=False))
            for raw, value in listed:
                if not raw.startswith(narrow):
                    break
                seen += 1
                try:
                    key = ref_key(raw, table)
                except CorruptData as e:
                    text = max(prefix, start, key=len)
                    out.append((DamagedKey(text, bytes(raw), e.problem), value))
                    continue
                if exact or key.startswith(prefix):
                    found.append((key, value))
        found.sort()
        out += found
        if counted and not narrow and seen != txn.stat(db)["entries"]:
            return corrupt(
                f"the {layout.db} index holds {txn.stat(db)['entries']} entries, but "
                f"{seen} can be read: its pages are damaged"
            )
        return None

    def transaction(self, write: bool = False) -> "LocalRefTxn":
        """One LMDB transaction: a read one is a snapshot; a write one (LMDB allows one
        at a time, across processes) commits, with one fsync, when the block ends
        without an exception, and is aborted otherwise.  LMDB's errors are the
        caller's to see, as with ``Meta.write``."""
        return LocalRefTxn(self, None, write=write)

    def token(self) -> str:
        """The id of a fresh read transaction's snapshot: it grows with every LMDB commit
        (of any process), and a snapshot is what readers see, unlike ``env.info()``'s
        id, which runs ahead while a commit is being made visible (the session-4 race
        of fs/attribution.py)."""
        try:  # not ``with _mapped``: the mount asks at every open, and a try is free
            with self._meta.read() as txn:
                return str(txn.id())
        except (OSError, lmdb.Error) as e:
            with _mapped(self.path, "read the store"):
                raise e from None

    def tokens(self) -> dict[str, str]:
        """One area, the whole key space: LMDB's snapshot id is all there is."""
        return {keys.REFS + "/": self.token()}


def _then_raise(items: list, error: CorruptData) -> Iterator:
    yield from items
    raise error


_REF_TABLES = tuple((table, f"{keys.REFS}/{table}/") for table in sorted(keys.REF_LAYOUTS))


def _count(refs: LocalRefs, txn, prefix: str) -> int:
    for table, start in _REF_TABLES:
        if prefix.startswith(start):
            narrow, exact = keys.ref_prefix(table, prefix[len(start) :])
            if not exact:
                break
            cursor = txn.cursor(db=refs._meta.db[keys.REF_LAYOUTS[table].db])
            if not cursor.set_range(narrow):
                return 0
            found = 0
            for raw in cursor.iternext(values=False):
                if not raw.startswith(narrow):
                    break
                found += 1
            return found
    return sum(1 for _ in refs._items(txn, prefix, False, values=False))


class LocalRefTxn(_LmdbTxn):
    """A RefTxn over one LMDB transaction of LocalRefs.

    ``lmdb`` is that transaction itself.  It is there for machine-local state that is
    not content (the stat cache, statcache.py; the cache of a remote's chunks,
    cache.py; a remote's bookkeeping, remote.py, mirror.py, sharing.py), whose records
    must sometimes change in the same transaction as references.  No other module
    uses it: references go through ``get``/``items``/``put``/``delete``."""

    __slots__ = ("_refs",)

    def __init__(self, refs: LocalRefs, txn=None, *, write: bool = False):
        super().__init__(refs._meta, txn, write=write)
        self._refs = refs

    def get(self, key: str) -> Ref | None:
        value = self.value(key)
        return None if value is None else Ref(value, tag_of(value))

    def value(self, key: str) -> bytes | None:
        """The value alone, without computing its tag (what most readers want)."""
        db, raw = self._refs._place(key)
        return self.lmdb.get(raw, db=db)

    def has(self, key: str) -> bool:
        db, raw = self._refs._place(key)
        return self.lmdb.get(raw, db=db) is not None

    def items(
        self, prefix: str = "", *, counted: bool = False, values: bool = True
    ) -> Iterator[tuple[str, bytes]]:
        """(key, value) in string order; a damaged key comes first, as a DamagedKey.
        With ``counted``, a table listed whole is also checked against LMDB's count of
        its entries, and CorruptData raised after its entries if they differ; without
        ``values``, each value is b"" (the keys alone, cheaper)."""
        return self._refs._items(self.lmdb, prefix, counted, values)

    def count(self, prefix: str) -> int:
        """As ``LocalRefs.count``, in this transaction."""
        return _count(self._refs, self.lmdb, prefix)

    def change_token(self) -> int:
        """LocalRefs.token of this transaction's snapshot (a read one), or the token its
        commit makes (a write one), as a number: what ``Store.change_token`` is
        compared with by a reader that saw this state (the mount's attribution)."""
        return self.lmdb.id()

    def put(self, key: str, value: bytes, *, expect: str | None | _Any = ANY) -> str:
        db, raw = self._refs._place(key)
        if expect is not ANY:
            current = self.lmdb.get(raw, db=db)
            check_expected(key, None if current is None else tag_of(current), expect)
        self.lmdb.put(raw, value, db=db)
        return tag_of(value)

    def delete(self, key: str) -> None:
        db, raw = self._refs._place(key)
        self.lmdb.delete(raw, db=db)
