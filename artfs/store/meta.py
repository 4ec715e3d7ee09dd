"""The LMDB schema: the one place that knows every key layout and value encoding.

docs/format.md describes the same layout for people.  Named databases:

    info       b"format" -> ASCII int; b"created" -> ASCII float
    chunks     digest[32] -> u64 raw size | u64 stored size      (chunk index)
    filemaps   file digest[32] -> (chunk digest[32] | u64 size)*  (files of >1 chunk;
               the digest is file_digest of the list, or before format 7 BLAKE3 of the bytes)
    trees      tree digest[32] -> tree object (see tree.py)
    attrs      attribute digest[32] -> attribute object: file times (see attrs.py)
    artifacts  name -> JSON {type, description, created, next_version[, retention]}
    versions   name 0x00 u32be(n) -> JSON version record
    aliases    name 0x00 alias -> u32be(n)
    runs       run id -> JSON run record
    inputs     run id 0x00 name 0x00 u32be(n) -> JSON {first, last, files}
    outputs    run id 0x00 name 0x00 u32be(n) -> b""
    consumers  name 0x00 u32be(n) 0x00 run id -> b""   (inputs, reversed)
    statcache  BLAKE3(absolute path)[32] -> u64 dev|ino|size, i64 mtime_ns|ctime_ns | digest[32]
    collections  PROJECT/NAME -> JSON {type, description, tags, created, next_version,
               links: [{version, artifact, number, created, run}], aliases: {alias: n}}
               (registry collections and portfolios: links to versions; store/links.py)
    packed     digest[32] -> pack digest[32] | u64 offset | u32 length | u8 kind
               (where the remote keeps each object it has; store/packs.py, remote.py)
    remote     b"p" pack digest[32] -> its index object (packs this store has learned of)
    cache      b"e" digest[32] -> u64 last use (ns) | u64 stored size  (a cached chunk file)
               b"o" u64be(last use) digest[32] -> b""   (the same, in least recently used order)
               b"s" -> u64 bytes | u64 files   (their sums; store/cache.py)

Integers are little-endian except version numbers in keys (u32be), so that
keys sort numerically.  A name never contains 0x00, and u32be sorts numerically, so a prefix scan
over ``name 0x00`` lists an artifact's versions in order.
"""

import json
import os
import re
import struct
from collections.abc import Iterable, Iterator, Sequence

import blake3
import lmdb

from artfs.errors import FULL, CorruptData, InvalidName, StoreError, UsageError
from artfs.store.names import check_name

# 2: the bytes read per file of an input edge moved to input_files; running runs indexed
# 3: file times (attribute objects, "attrs" and "mtime_ns" in version records)
# 4: registry collections; 5: a remote's pack locations and bookkeeping ("packed", "remote")
# 6: the local cache of a remote's chunks ("cache")
# 7: a file of several chunks is named by its chunk list (file_digest), not by its bytes
FORMAT_VERSION = 7
DBS = (
    "info",
    "chunks",
    "filemaps",
    "trees",
    "attrs",
    "artifacts",
    "versions",
    "aliases",
    "runs",
    "running",
    "inputs",
    "input_files",
    "outputs",
    "consumers",
    "statcache",
    "collections",
    "packed",
    "remote",
    "cache",
)
MAP_SIZE = 1 << 40  # address space only; the file grows with the data

CHUNK = struct.Struct("<QQ")
CACHED = struct.Struct("<QQ")  # a cache entry: last use (ns), stored size; also the sums
MAP_ITEM = struct.Struct("<32sQ")
STAT = struct.Struct("<QQQqq32s")  # times are signed: files may predate 1970
_U32BE = struct.Struct(">I")
_U64 = struct.Struct("<Q")
PATH_DIGEST = 16  # bytes of BLAKE3 naming a path in input_files keys
SEP = b"\0"


# Bounds on what a user may store as a version's metadata or a run's config: every
# reader parses these records whole (``artfs ls`` reads every version's), and Python's
# JSON parser gives up near 1,000 levels, so a record must stay readable anywhere.
MAX_DEPTH = 64  # levels of objects and arrays; the metadata object itself is level 1
MAX_KEYS = 10_000  # keys of all its objects together
MAX_BYTES = 1 << 20  # of its JSON encoding

DAMAGED = (
    "run 'artfs verify' to list all damage; restore STORE/meta from a backup (the "
    "chunk files are not affected)"
)


def corrupt(problem: str) -> CorruptData:
    """The error for a stored record that cannot be read: ``problem`` names it (kept as
    ``.problem``, for a caller that gives other advice), then what to do."""
    return CorruptData(f"{problem}; {DAMAGED}", problem)


def dumps(obj) -> bytes:
    """Strict JSON, so that readers in any language can parse every record."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    except ValueError:
        raise UsageError("metadata and config must not contain NaN or Infinity") from None
    except RecursionError:  # a cycle, or nesting deeper than any check let through
        raise UsageError(
            f"metadata and config must be nested at most {MAX_DEPTH} levels "
            "deep (and hold no cycles)"
        ) from None
    except TypeError as e:
        raise UsageError(f"metadata and config must hold only JSON values ({e})") from None


def check_document(value, what: str = "metadata") -> None:
    """Refuse metadata or a config that a reader could not parse back (too deep), or
    that would make every listing slow (too many keys, too big): one clear line."""
    if not isinstance(value, dict):
        raise UsageError(f"{what} must be a JSON object (a dict), not {type(value).__name__}")
    _check_shape(value, what)
    size = len(dumps(value))
    if size > MAX_BYTES:
        raise UsageError(
            f"{what} is {size:,} bytes as JSON, over the limit of "
            f"{MAX_BYTES:,}; put the bulk in a file of the artifact"
        )


def _check_shape(value, what: str) -> None:
    """Depth and key count of a JSON value, walked without recursion: stops at the first
    bound exceeded, so a structure of any depth (or a cycle) is refused quickly."""
    keys = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if level > MAX_DEPTH:
            raise UsageError(
                f"{what} is nested more than {MAX_DEPTH} levels deep; "
                "flatten it, or put it in a file of the artifact"
            )
        keys += len(item) if isinstance(item, dict) else 0
        if keys > MAX_KEYS:
            raise UsageError(
                f"{what} has more than {MAX_KEYS:,} keys; put the bulk in a file of the artifact"
            )
        stack += [(c, level + 1) for c in children if isinstance(c, (dict, list, tuple))]


def loads(raw: bytes, what: str = "a stored record"):
    """A JSON record; CorruptData naming ``what`` if the bytes are not one (damaged, or
    written by an artfs that set no bound on nesting)."""
    try:
        return json.loads(bytes(raw))
    except UnicodeDecodeError:
        why = "not UTF-8: damaged"
    except RecursionError:
        why = "nested too deeply to parse"
    except ValueError:
        why = "not valid JSON: damaged"
    raise corrupt(f"{what} cannot be read ({why})")


def load_object(raw: bytes, what: str, fields: dict) -> dict:
    """A JSON object whose ``fields`` (name -> accepted types) all hold values of those
    types; CorruptData naming ``what`` otherwise, so no reader meets a KeyError."""
    record = loads(raw, what)
    if not isinstance(record, dict):
        raise corrupt(f"{what} is damaged (not a JSON object)")
    for name, types in fields.items():
        value = record.get(name, _ABSENT)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            problem = "missing" if value is _ABSENT else f"not {_type_names(types)}"
            raise corrupt(f"{what} is damaged (its {name!r} is {problem})")
    return record


class _Absent:
    pass


_ABSENT = _Absent()
_NUMBER = (int, float)
_OPTIONAL_STR = (str, type(None))


def _type_names(types: tuple) -> str:
    return " or ".join(t.__name__ for t in types if t is not _Absent)


VERSION_FIELDS = {
    "root": (str,),
    "size": (int,),
    "files": (int,),
    "created": _NUMBER,
    "type": (str,),
    "description": (str,),
    "metadata": (dict,),
    "message": (str,),
    "run": _OPTIONAL_STR,
    "base": (*_OPTIONAL_STR, _Absent),
    "attrs": (str, _Absent),
    "mtime_ns": (int, _Absent),
    "new_bytes": (int, _Absent),  # absent in versions made before it was recorded
    # editable after publication (Store.edit_version): absent until edited
    "ttl": (int, type(None), _Absent),
    "updated": (*_NUMBER, _Absent),
    "edits": (list, _Absent),
    "tags": (list, _Absent),
}
ARTIFACT_FIELDS = {
    "type": (str,),
    "next_version": (int,),
    "description": (str,),
    "created": _NUMBER,
    "retention": (dict, _Absent),
}
MAX_EDITS = 1000  # entries of a version's edit history kept (the newest): every ls reads it
RUN_FIELDS = {
    "id": (str,),
    "name": (str,),
    "job_type": (str,),
    "config": (dict,),
    "status": (str,),
    "start": _NUMBER,
    "end": (*_NUMBER, type(None)),
    "exit_code": (int, type(None)),
    "command": (list,),
    "host": (str,),
    "user": (str,),
}
_HEX = re.compile(r"[0-9a-f]{64}")


def run_record(raw: bytes, run_id: str) -> dict:
    return load_object(raw, f"the record of run {run_id}", RUN_FIELDS)


def version_record(raw: bytes, label: str) -> dict:
    """A version record with every field a reader uses, of the right type."""
    what = f"the record of {label}"
    record = load_object(raw, what, VERSION_FIELDS)
    for name in ("root", "attrs"):
        if name in record and not _HEX.fullmatch(record[name]):
            raise corrupt(f"{what} is damaged (its {name!r} is not a digest)")
    if record["size"] < 0 or record["files"] < 0:
        raise corrupt(f"{what} is damaged (a negative size or count)")
    for edit in record.get("edits", []):  # shown by show, ls --json and the mount
        if not (
            isinstance(edit, dict)
            and isinstance(edit.get("at"), _NUMBER)
            and isinstance(edit.get("fields"), list)
            and isinstance(edit.get("run"), _OPTIONAL_STR)
        ):
            raise corrupt(f"{what} is damaged (an entry of its 'edits' is not an edit)")
    if not all(isinstance(tag, str) for tag in record.get("tags", [])):
        raise corrupt(f"{what} is damaged (its 'tags' are not strings)")
    return record


def version_key(name: str, number: int) -> bytes:
    return name.encode() + SEP + _U32BE.pack(number)


def version_prefix(name: str) -> bytes:
    return name.encode() + SEP


def split_version_key(key: bytes) -> tuple[str, int]:
    key = bytes(key)  # name, one separator byte, then a fixed-width number
    if len(key) < 6 or key[-5] != 0:
        raise corrupt(f"a version key {key!r} is damaged")
    return decode_name(key[:-5], "a version key"), _U32BE.unpack(key[-4:])[0]


def decode_name(raw: bytes, what: str, check=check_name) -> str:
    """A name read from a key: CorruptData, never a UnicodeDecodeError, if it is not one."""
    try:
        return check(bytes(raw).decode("ascii"))
    except (UnicodeDecodeError, InvalidName):
        raise corrupt(
            f"{what} holds {bytes(raw)[:40]!r}, not a valid name: the metadata is damaged"
        ) from None


def decode_run_id(raw: bytes, what: str = "a lineage key") -> str:
    try:
        return bytes(raw).decode("ascii")
    except UnicodeDecodeError:
        raise corrupt(
            f"{what} holds a run id that is not ASCII ({bytes(raw)[:40]!r}): "
            "the metadata is damaged"
        ) from None


def _exact(raw: bytes, size: int, what: str) -> bytes:
    raw = bytes(raw)
    if len(raw) != size:
        raise corrupt(f"{what} is damaged ({len(raw)} bytes, not {size})")
    return raw


def alias_key(name: str, alias: str) -> bytes:
    return name.encode() + SEP + alias.encode()


def pack_version(number: int) -> bytes:
    return _U32BE.pack(number)


def unpack_version(raw: bytes, what: str = "an alias") -> int:
    return _U32BE.unpack(_exact(raw, _U32BE.size, what))[0]


def unpack_chunk(raw: bytes, digest: bytes) -> tuple[int, int]:
    """(raw size, stored size) of a chunk index entry."""
    return CHUNK.unpack(_exact(raw, CHUNK.size, f"the index entry of chunk {digest.hex()}"))


CACHE_SUMS = b"s"
_CACHE_ENTRY, _CACHE_ORDER = b"e", b"o"
_U64BE = struct.Struct(">Q")


def cache_entry_key(digest: bytes) -> bytes:
    return _CACHE_ENTRY + digest


def cache_order_key(used_ns: int, digest: bytes) -> bytes:
    """Sorts by last use (u64be), oldest first; the digest breaks ties."""
    return _CACHE_ORDER + _U64BE.pack(used_ns) + digest


CACHE_ORDER_PREFIX = _CACHE_ORDER


def digest_of_cache_order(key: bytes) -> bytes:
    return bytes(key)[1 + _U64BE.size :]


def unpack_cached(raw: bytes, what: str) -> tuple[int, int]:
    """(last use in ns, stored size) of a cache entry, or (bytes, files) of the sums."""
    return CACHED.unpack(_exact(raw, CACHED.size, what))


def unpack_stat(raw: bytes) -> tuple | None:
    """A stat cache entry; None for a damaged one: it is only a cache, so a miss."""
    return STAT.unpack(raw) if len(raw) == STAT.size else None


def run_version_key(run_id: str, name: str, number: int) -> bytes:
    """Key of an ``inputs`` or ``outputs`` edge between a run and a version."""
    return run_id.encode() + SEP + version_key(name, number)


def input_file_key(edge_key: bytes, path: str) -> bytes:
    """Key of one file of an input edge: fixed width, as a path may exceed LMDB's 511."""
    return edge_key + blake3.blake3(path.encode()).digest(PATH_DIGEST)


SHARED = 1 << 63  # in an input_files count: a lower bound (another run read the file too)


def pack_file_bytes(nbytes: int, path: str, shared: bool = False) -> bytes:
    return _U64.pack(nbytes | (SHARED if shared else 0)) + path.encode()


def unpack_file_read(raw: bytes) -> tuple[str, int, bool]:
    """(path, bytes read, whether that count is only a lower bound)."""
    raw = bytes(raw)
    try:
        count = _U64.unpack_from(raw)[0]
        return raw[_U64.size :].decode(), count & ~SHARED, bool(count & SHARED)
    except (UnicodeDecodeError, struct.error):
        raise corrupt("a record of the bytes a run read is damaged") from None


def unpack_file_bytes(raw: bytes) -> tuple[str, int]:
    path, nbytes, _ = unpack_file_read(raw)
    return path, nbytes


RUNNING = struct.Struct("<Qd")  # pid, start time
# Of LMDB's meta page, after the 16-byte page header: magic, version, address, map size
# and two 48-byte database records (120 bytes), then the last page used and the
# transaction id (lmdb's MDB_meta, 64-bit builds).
_META = struct.Struct("<120xQQ")
# What LMDB's free list (database 0) is made of, for _free_pages: a page header (page
# number, pad, flags, lower and upper bounds), then 16-bit offsets of its nodes; a node
# (size or child page, low and high 16 bits, flags or the child's top 16 bits, key
# size), its key (a transaction id), its value (a count, then that many page numbers).
_DB_RECORD = struct.Struct("<IHHQQQQQ")  # MDB_db: pad, flags, depth, pages..., entries, root
_PAGE_HEAD = struct.Struct("<QHHHH")
_NODE_HEAD = struct.Struct("<HHHH")
_BRANCH, _BIG_DATA = 0x01, 0x01
_NO_PAGE = (1 << 64) - 1


def _free_pages(fd: int, psize: int, txnid: int) -> tuple[int, set[int]]:
    """(last page, free pages) of snapshot ``txnid``, read from the file: the meta page
    of that transaction names the free list's root.  A free list that the file's end
    cuts is as good as none (the file is then short of pages in use anyway)."""
    for i in (0, 1):
        head = os.pread(fd, _PAGE_HEAD.size + _META.size, i * psize)
        last, found = _META.unpack_from(head, _PAGE_HEAD.size)
        if found == txnid:
            break
    else:
        raise ValueError(f"no meta page is of transaction {txnid}")
    root = _DB_RECORD.unpack_from(head, _PAGE_HEAD.size + 24)[7]  # after magic to map size
    free: set[int] = set()
    pages = [] if root == _NO_PAGE else [root]
    while pages:
        number = pages.pop()
        if number > last:
            raise ValueError(f"its page {number} is past LMDB's last page")
        page = os.pread(fd, psize, number * psize)
        if len(page) < psize:
            return last, set()
        _, _, flags, lower, _ = _PAGE_HEAD.unpack_from(page)
        count = (lower - _PAGE_HEAD.size) // 2
        for offset in struct.unpack_from(f"<{count}H", page, _PAGE_HEAD.size):
            low, high, node_flags, key_size = _NODE_HEAD.unpack_from(page, offset)
            if flags & _BRANCH:
                pages.append(low | high << 16 | node_flags << 32)
                continue
            size, start = low | high << 16, offset + _NODE_HEAD.size + key_size
            if node_flags & _BIG_DATA:  # the value is on overflow pages
                value = os.pread(fd, size, _U64.unpack_from(page, start)[0] * psize + 16)
                if len(value) < size:
                    return last, set()
            else:
                value = page[start : start + size]
            listed = _U64.unpack_from(value)[0]
            free.update(struct.unpack_from(f"<{listed}Q", value, _U64.size))
    return last, free


def pack_running(pid: int, start: float) -> bytes:
    return RUNNING.pack(pid, start)


def unpack_running(raw: bytes) -> tuple[int, float]:
    return RUNNING.unpack(_exact(raw, RUNNING.size, "an entry of the running runs"))


def pack_filemap(items: Iterable[tuple[bytes, int]]) -> bytes:
    return b"".join(MAP_ITEM.pack(d, n) for d, n in items)


# No file shorter than this has a chunk list: every artfs has cut files at this size or
# above (chunker.MIN_CHUNK: 256 KiB once, 192 KiB now, and never below this), so a
# reader takes such a file as one chunk without looking.  A format rule, apart from the
# chunker's tuning: raising MIN_CHUNK must not move it (files cut before would break).
ONE_CHUNK_BELOW = 192 * 1024


# BLAKE3's key derivation mode, in a context of its own: no file's bytes, hashed in the
# default mode, can come out as the name of a chunk list.
FILEMAP_CONTEXT = "artfs 2026-12-03 the chunk list of a file"


def file_digest(items: Sequence[tuple[bytes, int]]) -> bytes:
    """A file's content digest from its chunks (digest, size), in order: a file of one
    chunk is named by that chunk (BLAKE3 of its bytes), one of several by its chunk list
    as ``pack_filemap`` stores it, so that a commit hashes every byte once, not a second
    time whole.  No chunks: the digest of no bytes."""
    if len(items) == 1:
        return items[0][0]
    if not items:
        return blake3.blake3(b"").digest()
    return blake3.blake3(pack_filemap(items), derive_key_context=FILEMAP_CONTEXT).digest()


def named_by_chunks(digest: bytes, items: Sequence[tuple[bytes, int]]) -> bool:
    """Whether ``digest`` is ``file_digest(items)``: else, for a file of several chunks,
    it is BLAKE3 of the file's bytes (a commit before format 7), which only reading them
    can check."""
    return file_digest(items) == digest


def unpack_filemap(raw: bytes, digest: bytes = b"") -> list[tuple[bytes, int]]:
    """A file's chunk list: two or more items, else CorruptData (a file of one chunk
    has none)."""
    raw = bytes(raw)
    if len(raw) % MAP_ITEM.size or len(raw) < 2 * MAP_ITEM.size:
        raise corrupt(f"the chunk list of file {digest.hex() or '?'} is damaged ({len(raw)} bytes)")
    return list(MAP_ITEM.iter_unpack(raw))


def scan(txn: "lmdb.Transaction[bytes]", db, what: str) -> Iterator[tuple[bytes, bytes]]:
    """Every entry of a database, then CorruptData if there were fewer or more than the
    count LMDB keeps apart from its pages: a damaged page can hide entries from a cursor
    without any error, and what gc does not see it frees."""
    count, seen = txn.stat(db)["entries"], 0
    for item in txn.cursor(db):
        seen += 1
        yield item
    if seen != count:
        raise corrupt(
            f"the {what} index holds {count} entries, but {seen} can be read: its pages are damaged"
        )


def prefix_scan(txn: "lmdb.Transaction[bytes]", db, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
    cur = txn.cursor(db)
    if not cur.set_range(prefix):
        return
    for key, value in cur:
        if not key.startswith(prefix):
            return
        yield key, value


# What LMDB raises for a data file that is not (or no longer) a consistent environment.
CORRUPTION = (
    lmdb.CorruptedError,
    lmdb.PageNotFoundError,
    lmdb.InvalidError,
    lmdb.IncompatibleError,
    lmdb.PanicError,
)


# What the layers above catch of LMDB's failures, without knowing LMDB: a full disk
# (or map), and any failure to read or write the metadata.
FULL_ERRORS = (lmdb.DiskError, lmdb.MapFullError)
METADATA_ERROR = lmdb.Error


def is_disk_full(e: BaseException) -> bool:
    """Whether a failure means the store's disk has no room: from the file system or from
    LMDB (which says so in its own exceptions)."""
    if isinstance(e, OSError):
        return e.errno in FULL
    return isinstance(e, FULL_ERRORS)


def damaged(meta_dir: str, why: str) -> StoreError:
    return StoreError(
        f"the store's metadata {meta_dir} is damaged ({why}); restore it from "
        "a backup (the chunk files are not affected)"
    )


class Meta:
    """The opened LMDB environment and its named databases."""

    def __init__(self, path: str, *, create: bool):
        self.path = path
        try:
            self.env = lmdb.open(
                path,
                map_size=MAP_SIZE,
                max_dbs=len(DBS),
                max_readers=1024,
                create=create,
                subdir=True,
                lock=True,
                mode=0o600,
            )
            self._data = os.open(os.path.join(path, "data.mdb"), os.O_RDONLY | os.O_CLOEXEC)
            self._psize = self.env.stat()["psize"]
            self._size = -1  # of data.mdb when its pages were last checked
            self._check_pages()
            self._check_meta_pages()
            self.env.reader_check()  # free reader slots of processes that died
            self._check_names()
            self.db = {name: self.env.open_db(name.encode()) for name in DBS}
        except CORRUPTION as e:
            raise damaged(path, str(e)) from None

    def _check_pages(self) -> None:
        """LMDB reads its file through a memory map: a page past the end of a data file
        cut short (a truncated copy, a full disk during a restore) kills the process
        with SIGBUS at first touch.  So the file must hold every page LMDB says it uses,
        checked at open before any page but the two meta pages is read, and again at
        every transaction (a file cut under a running mount would kill the daemon and
        leave a dead mount).  LMDB only ever grows the file, so while its size is the
        one last checked, an fstat is all it costs.

        LMDB does not write a page that one transaction both took and gave back (a
        "loose" page; the cache's evictions make them): it goes to the free list
        unwritten, so free pages at the end may lie past the end of an intact file.
        Only when the file is shorter than LMDB's last page, and still whole pages
        (LMDB writes nothing else), is the free list read to tell the two apart."""
        size = os.fstat(self._data).st_size
        if size == self._size:
            return
        need = 2 * self._psize  # the meta pages, which env.info() reads
        if size >= need:
            need = (self.env.info()["last_pgno"] + 1) * self._psize
            # Another process may have committed (growing the file) since the fstat: its
            # pages are on disk before its meta page names them, so measure again.
            size = os.fstat(self._data).st_size
            aligned = size % self._psize == 0
            if size < need and aligned and struct.calcsize("P") == 8:  # 64-bit layout
                need = self._pages_in_use() * self._psize
        if size < need:
            raise damaged(
                self.path,
                f"data.mdb is {size:,} bytes, but its pages need {need:,}: it was cut short",
            )
        self._size = size

    def _pages_in_use(self) -> int:
        """1 + the highest page a snapshot uses: its last page, less the free pages
        before it.  Read with pread, never through the map (no SIGBUS), under a read
        transaction, so that no writer reuses the free list's pages meanwhile."""
        with self.env.begin() as txn:
            try:
                last, free = _free_pages(self._data, self._psize, txn.id())
            except (struct.error, ValueError) as e:
                raise damaged(self.path, f"its free list cannot be read ({e})") from None
        while last in free:
            last -= 1
        return last + 1

    def _check_meta_pages(self) -> None:
        """LMDB keeps two meta pages, written in turn, and opens with the one of the
        higher transaction id.  A damaged id makes it open an older snapshot without a
        word, and then the chunks of every later version look like a crashed commit's
        leftovers to gc.  So the ids must be consecutive, the higher one on its own page
        (page ``id % 2``), and that page must not use fewer pages than the other."""
        if struct.calcsize("P") != 8:  # the layout below is that of 64-bit builds
            return
        metas = [
            _META.unpack_from(os.pread(self._data, _META.size, i * self._psize + 16))
            for i in (0, 1)
        ]
        (last0, txn0), (last1, txn1) = metas
        if txn0 == txn1 == 0:  # a new environment
            return
        newer = 0 if txn0 > txn1 else 1
        if (
            abs(txn0 - txn1) != 1
            or max(txn0, txn1) % 2 != newer
            or metas[newer][0] < metas[1 - newer][0]
        ):
            raise damaged(
                self.path,
                f"its meta pages disagree (transactions {txn0} and "
                f"{txn1}, last pages {last0} and {last1}): LMDB would "
                "open an older state",
            )

    def _check_names(self) -> None:
        """The main database holds only the names of ours: any other key is damage, and
        opening by name would quietly create an empty database in place of the lost one."""
        with self.env.begin() as txn:
            unknown = [
                bytes(k)
                for k in txn.cursor().iternext(values=False)
                if bytes(k).decode("latin-1") not in DBS
            ]
        if unknown:
            raise damaged(self.path, f"unknown database {unknown[0][:40]!r}")

    def read(self) -> "lmdb.Transaction[bytes]":
        self._check_pages()
        return self.env.begin(buffers=False)

    def write(self) -> "lmdb.Transaction[bytes]":
        self._check_pages()
        return self.env.begin(write=True)

    def close(self) -> None:
        """Idempotent: a second close must not close a descriptor number reused since."""
        if self._data < 0:
            return
        self.env.close()
        os.close(self._data)
        self._data = -1
