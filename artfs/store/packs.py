"""Packs: many small stored objects in one remote object, found through an index.

One object per chunk (as DVC and W&B upload one per file) makes a commit of
20,000 small files 20,000 PUTs; restic, kopia and borg 2 pack instead.  A pack
is the objects' stored bytes one after another, named by the BLAKE3 digest of
the whole pack; its index, a separate small object of the same name, says what
is where.  Data packs hold chunks (each exactly a chunk file's bytes, so a
ranged GET of one is written to the cache as it is); metadata packs hold trees,
attribute objects and chunk lists, which a machine fetches whole before it
shows a version.

Index object:  b"AX1" | u8 pack kind | (u8 kind | digest[32] | u64 offset | u32 length)*
"""

import struct
from collections.abc import Iterator
from typing import NamedTuple

import blake3

from artfs.errors import CorruptData

CHUNK, TREE, ATTRS, FILEMAP = 0, 1, 2, 3
DATA_PACK, META_PACK = 0, 1
TARGET = 16 << 20  # a pack is closed once it reaches this size (restic's choice)
MAGIC = b"AX1"
_ITEM = struct.Struct("<B32sQI")
_LOCATION = struct.Struct("<32sQIB")


class Location(NamedTuple):
    """Where one object is: in which pack, at which bytes, and what it is."""

    pack: bytes
    offset: int
    length: int
    kind: int

    def encode(self) -> bytes:
        return _LOCATION.pack(self.pack, self.offset, self.length, self.kind)

    @classmethod
    def decode(cls, raw: bytes) -> "Location":
        return cls(*_LOCATION.unpack(raw))


class Pack(NamedTuple):
    digest: bytes
    kind: int
    data: bytes
    items: list[tuple[int, bytes, int, int]]  # (kind, digest, offset, length)

    @property
    def key(self) -> str:
        return pack_key(self.digest)

    @property
    def index_key(self) -> str:
        return index_key(self.digest)

    def index_blob(self) -> bytes:
        return MAGIC + bytes([self.kind]) + b"".join(_ITEM.pack(*item) for item in self.items)

    def locations(self) -> Iterator[tuple[bytes, Location]]:
        for kind, digest, offset, length in self.items:
            yield digest, Location(self.digest, offset, length, kind)


def pack_key(digest: bytes) -> str:
    return f"packs/{digest.hex()}"


def index_key(digest: bytes) -> str:
    return f"index/{digest.hex()}"


def pack_of_index_key(key: str) -> bytes | None:
    """The pack an ``index/HEX`` key names; None for anything else."""
    name = key.rpartition("/")[2]
    try:
        digest = bytes.fromhex(name)
    except ValueError:
        return None
    return digest if len(digest) == 32 and key == index_key(digest) else None


class Packer:
    """Collects objects of one pack kind and closes a pack whenever it reaches TARGET."""

    def __init__(self, kind: int, target: int = TARGET):
        self.kind, self.target = kind, target
        self.done: list[Pack] = []
        self._parts: list[bytes] = []
        self._items: list[tuple[int, bytes, int, int]] = []
        self._size = 0

    def add(self, kind: int, digest: bytes, blob: bytes) -> None:
        self._parts.append(blob)
        self._items.append((kind, digest, self._size, len(blob)))
        self._size += len(blob)
        if self._size >= self.target:
            self.close()

    def close(self) -> None:
        if not self._items:
            return
        data = b"".join(self._parts)
        self.done.append(Pack(blake3.blake3(data).digest(), self.kind, data, self._items))
        self._parts, self._items, self._size = [], [], 0

    def take(self) -> list[Pack]:
        """The packs closed so far, handed over once."""
        done, self.done = self.done, []
        return done


def decode_index(blob: bytes, pack: bytes) -> tuple[int, list[tuple[bytes, Location]]]:
    """(pack kind, [(digest, location)]) of an index object; CorruptData if it is not one."""
    body = len(blob) - len(MAGIC) - 1
    if blob[:3] != MAGIC or body < 0 or body % _ITEM.size:
        raise CorruptData(f"the index of pack {pack.hex()} on the remote is damaged")
    kind = blob[3]
    items = [
        (digest, Location(pack, offset, length, item_kind))
        for item_kind, digest, offset, length in _ITEM.iter_unpack(blob[4:])
    ]
    return kind, items


def check_pack(data: bytes, digest: bytes) -> bytes:
    if blake3.blake3(data).digest() != digest:
        raise CorruptData(f"pack {digest.hex()} on the remote does not match its name")
    return data
