"""The LMDB schema: the one place that knows every key layout and value encoding.

docs/format.md describes the same layout for people.  Named databases:

    info       b"format" -> ASCII int; b"created" -> ASCII float
    chunks     digest[32] -> u64 raw size | u64 stored size      (chunk index)
    filemaps   file digest[32] -> (chunk digest[32] | u64 size)*  (files of >1 chunk)
    trees      tree digest[32] -> tree object (see tree.py)
    attrs      attribute digest[32] -> attribute object: file times (see attrs.py)
    artifacts  name -> JSON {type, description, created, next_version}
    versions   name 0x00 u32be(n) -> JSON version record
    aliases    name 0x00 alias -> u32be(n)
    runs       run id -> JSON run record
    inputs     run id 0x00 name 0x00 u32be(n) -> JSON {first, last, files}
    outputs    run id 0x00 name 0x00 u32be(n) -> b""
    consumers  name 0x00 u32be(n) 0x00 run id -> b""   (inputs, reversed)
    statcache  BLAKE3(absolute path)[32] -> u64 dev|ino|size, i64 mtime_ns|ctime_ns | digest[32]

Integers are little-endian except version numbers in keys (u32be), so that
keys sort numerically.  A name never contains 0x00, and u32be sorts numerically, so a prefix scan
over ``name 0x00`` lists an artifact's versions in order.
"""

import json
import struct
from collections.abc import Iterator

import blake3
import lmdb

from artfs.errors import UsageError

# 2: the bytes read per file of an input edge moved to input_files; running runs indexed
# 3: file times (attribute objects, "attrs" and "mtime_ns" in version records)
FORMAT_VERSION = 3
DBS = ("info", "chunks", "filemaps", "trees", "attrs", "artifacts", "versions", "aliases", "runs",
       "running", "inputs", "input_files", "outputs", "consumers", "statcache")
MAP_SIZE = 1 << 40  # address space only; the file grows with the data

CHUNK = struct.Struct("<QQ")
MAP_ITEM = struct.Struct("<32sQ")
STAT = struct.Struct("<QQQqq32s")  # times are signed: files may predate 1970
_U32BE = struct.Struct(">I")
_U64 = struct.Struct("<Q")
PATH_DIGEST = 16  # bytes of BLAKE3 naming a path in input_files keys
SEP = b"\0"


def dumps(obj) -> bytes:
    """Strict JSON, so that readers in any language can parse every record."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    except ValueError:
        raise UsageError("metadata and config must not contain NaN or Infinity") from None


def loads(raw: bytes):
    return json.loads(bytes(raw))


def version_key(name: str, number: int) -> bytes:
    return name.encode() + SEP + _U32BE.pack(number)


def version_prefix(name: str) -> bytes:
    return name.encode() + SEP


def split_version_key(key: bytes) -> tuple[str, int]:
    key = bytes(key)  # name, one separator byte, then a fixed-width number
    return key[:-5].decode(), _U32BE.unpack(key[-4:])[0]


def alias_key(name: str, alias: str) -> bytes:
    return name.encode() + SEP + alias.encode()


def pack_version(number: int) -> bytes:
    return _U32BE.pack(number)


def unpack_version(raw: bytes) -> int:
    return _U32BE.unpack(bytes(raw))[0]


def run_version_key(run_id: str, name: str, number: int) -> bytes:
    """Key of an ``inputs`` or ``outputs`` edge between a run and a version."""
    return run_id.encode() + SEP + version_key(name, number)


def input_file_key(edge_key: bytes, path: str) -> bytes:
    """Key of one file of an input edge: fixed width, as a path may exceed LMDB's 511."""
    return edge_key + blake3.blake3(path.encode()).digest(PATH_DIGEST)


def pack_file_bytes(nbytes: int, path: str) -> bytes:
    return _U64.pack(nbytes) + path.encode()


def unpack_file_bytes(raw: bytes) -> tuple[str, int]:
    raw = bytes(raw)
    return raw[_U64.size:].decode(), _U64.unpack_from(raw)[0]


RUNNING = struct.Struct("<Qd")  # pid, start time


def pack_running(pid: int, start: float) -> bytes:
    return RUNNING.pack(pid, start)


def unpack_running(raw: bytes) -> tuple[int, float]:
    return RUNNING.unpack(bytes(raw))


def pack_filemap(items: list[tuple[bytes, int]]) -> bytes:
    return b"".join(MAP_ITEM.pack(d, n) for d, n in items)


def unpack_filemap(raw: bytes) -> list[tuple[bytes, int]]:
    return list(MAP_ITEM.iter_unpack(bytes(raw)))


def prefix_scan(txn: lmdb.Transaction, db, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
    cur = txn.cursor(db)
    if not cur.set_range(prefix):
        return
    for key, value in cur:
        if not key.startswith(prefix):
            return
        yield key, value


class Meta:
    """The opened LMDB environment and its named databases."""

    def __init__(self, path: str, *, create: bool):
        self.env = lmdb.open(path, map_size=MAP_SIZE, max_dbs=len(DBS), max_readers=1024,
                             create=create, subdir=True, lock=True, mode=0o600)
        self.env.reader_check()  # free reader slots of processes that died
        self.db = {name: self.env.open_db(name.encode()) for name in DBS}

    def read(self) -> lmdb.Transaction:
        return self.env.begin(buffers=False)

    def write(self) -> lmdb.Transaction:
        return self.env.begin(write=True)

    def close(self) -> None:
        self.env.close()
