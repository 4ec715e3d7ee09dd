"""Merkle trees: a directory is the digest of its sorted entry list.

An unchanged subtree has an unchanged digest, so every version that contains
it shares one stored tree object.  The encoding is fixed and documented in
docs/format.md; names and link targets are raw bytes (non-UTF-8 kept exact).

Tree object:  b"AT1" | u32 count | entries sorted by name
Entry:        u8 kind | u16 mode | u16 len | name | body
  FILE        u64 size | digest[32]               (BLAKE3 of the content)
  DIR         digest[32]                          (of the child tree object)
  SYMLINK     u32 len | target
  REFERENCE   u64 size | digest[32] | u32 len | uri (UTF-8)
All integers little-endian.
"""

import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import blake3

from artfs.errors import CorruptData

FILE, DIR, SYMLINK, REFERENCE = 1, 2, 3, 4
KIND_NAMES = {FILE: "file", DIR: "dir", SYMLINK: "symlink", REFERENCE: "reference"}
MAGIC = b"AT1"
_HEAD = struct.Struct("<BHH")
_SIZE_DIGEST = struct.Struct("<Q32s")
_U32 = struct.Struct("<I")


@dataclass(frozen=True)
class Entry:
    """One name in a directory.  ``digest`` is the content's, or the child tree's."""

    name: bytes
    kind: int
    mode: int = 0o644
    size: int = 0
    digest: bytes = b""
    target: bytes = b""  # symlink target, or reference URI (UTF-8)

    @property
    def st_mode(self) -> int:
        fmt = {DIR: stat.S_IFDIR, SYMLINK: stat.S_IFLNK}.get(self.kind, stat.S_IFREG)
        return fmt | self.mode


def check_component(name: bytes) -> bytes:
    if not name or name in (b".", b"..") or b"/" in name or b"\0" in name:
        raise ValueError(f"invalid path component {name!r}")
    return name


def encode_tree(entries: list[Entry]) -> bytes:
    """Serialize entries (any order) into a canonical tree object."""
    out = [MAGIC, _U32.pack(len(entries))]
    previous = None
    for e in sorted(entries, key=lambda e: e.name):
        if e.name == previous:
            raise ValueError(f"duplicate name {e.name!r} in a tree")
        previous = e.name
        out.append(_HEAD.pack(e.kind, e.mode & 0o7777, len(check_component(e.name))))
        out.append(e.name)
        if e.kind == FILE:
            out.append(_SIZE_DIGEST.pack(e.size, e.digest))
        elif e.kind == DIR:
            out.append(e.digest)
        elif e.kind == SYMLINK:
            out += [_U32.pack(len(e.target)), e.target]
        elif e.kind == REFERENCE:
            out += [_SIZE_DIGEST.pack(e.size, e.digest), _U32.pack(len(e.target)), e.target]
        else:
            raise ValueError(f"unknown entry kind {e.kind}")
    return b"".join(out)


def decode_tree(blob: bytes) -> list[Entry]:
    """Parse a tree object; CorruptData if it is not one."""
    try:
        return list(_decode(memoryview(blob)))
    except (struct.error, ValueError, IndexError) as e:
        raise CorruptData(f"a tree object is damaged ({e}); run 'artfs verify'") from None


def _decode(view: memoryview) -> Iterator[Entry]:
    if bytes(view[:3]) != MAGIC:
        raise ValueError("bad magic")
    (count,), pos = _U32.unpack_from(view, 3), 7
    for _ in range(count):
        kind, mode, nlen = _HEAD.unpack_from(view, pos)
        pos += _HEAD.size
        name = bytes(view[pos : pos + nlen])
        pos += nlen
        size, digest, target = 0, b"", b""
        if kind in (FILE, REFERENCE):
            size, digest = _SIZE_DIGEST.unpack_from(view, pos)
            pos += _SIZE_DIGEST.size
        elif kind == DIR:
            digest = bytes(view[pos : pos + 32])
            pos += 32
        if kind in (SYMLINK, REFERENCE):
            (tlen,) = _U32.unpack_from(view, pos)
            target = bytes(view[pos + 4 : pos + 4 + tlen])
            pos += 4 + tlen
        if kind not in KIND_NAMES:
            raise ValueError(f"unknown kind {kind}")
        yield Entry(name, kind, mode, size, digest, target)
    if pos != len(view):
        raise ValueError("trailing bytes")


def tree_digest(blob: bytes) -> bytes:
    return blake3.blake3(blob).digest()
