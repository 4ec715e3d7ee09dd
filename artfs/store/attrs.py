"""File times of a version, kept beside its content tree.

A version's identity is its content: the Merkle tree of names, kinds, modes,
sizes and digests (tree.py).  What tools also expect back, the mtime of every
file, directory and symlink, lives in a parallel tree of *attribute objects*,
one per directory, named by their own BLAKE3 digest.  So a tree that differs
only in times makes no new version, content dedup is untouched, and an
unchanged subtree with unchanged times shares one object across versions.

Each object also carries, for every subdirectory, how many subdirectories
*it* has: a directory's link count (2 + subdirectories, which GNU find relies
on) is then known when its parent is listed, without reading its own tree.

Attribute object:  b"AA1" | u32 count | i64 mtime_ns × count
                   | u32 dirs | (u32 subdirs | digest[32]) × dirs
The mtimes are in the content tree's entry order; the second part has one item
per DIR entry, in the same order.  All integers little-endian.
"""

import struct
from array import array
from typing import NamedTuple

import blake3

from artfs.errors import CorruptData

MAGIC = b"AA1"
_U32 = struct.Struct("<I")
_DIR = struct.Struct("<I32s")


class DirAttrs(NamedTuple):
    """What a directory's listing needs of each subdirectory."""

    subdirs: int
    attrs: bytes | None  # digest of its attribute object (None: a version without times)


class Attrs(NamedTuple):
    mtimes: "array[int] | tuple[int, ...]"
    dirs: tuple[DirAttrs, ...]


def encode(mtimes: list[int], dirs: list[DirAttrs]) -> bytes:
    out = [MAGIC, _U32.pack(len(mtimes)), array("q", mtimes).tobytes(), _U32.pack(len(dirs))]
    out += [_DIR.pack(d.subdirs, d.attrs) for d in dirs]
    return b"".join(out)


def decode(blob: bytes) -> Attrs:
    """Parse an attribute object; CorruptData if it is not one."""
    try:
        blob = bytes(blob)
        if blob[:3] != MAGIC:
            raise ValueError("bad magic")
        (count,) = _U32.unpack_from(blob, 3)
        end = 7 + 8 * count
        mtimes = array("q")
        mtimes.frombytes(blob[7:end])
        (ndirs,) = _U32.unpack_from(blob, end)
        dirs = tuple(DirAttrs(*item) for item in _DIR.iter_unpack(blob[end + 4 :]))
        if len(mtimes) != count or len(dirs) != ndirs:
            raise ValueError("truncated")
    except (struct.error, ValueError) as e:
        raise CorruptData(f"an attribute object is damaged ({e}); run 'artfs verify'") from None
    return Attrs(mtimes, dirs)


def digest_of(blob: bytes) -> bytes:
    return blake3.blake3(blob).digest()
