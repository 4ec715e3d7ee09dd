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
from typing import NamedTuple

import blake3

from artfs.errors import CorruptData

FILE, DIR, SYMLINK, REFERENCE = 1, 2, 3, 4
KIND_NAMES = {FILE: "file", DIR: "dir", SYMLINK: "symlink", REFERENCE: "reference"}
MAGIC = b"AT1"
_HEAD = struct.Struct("<BHH")
_SIZE_DIGEST = struct.Struct("<Q32s")
_U32 = struct.Struct("<I")


class Entry(NamedTuple):
    """One name in a directory.  ``digest`` is the content's, or the child tree's.

    A named tuple, not a dataclass: a mount decodes one per file listed, and a
    tuple is made in half the time."""

    name: bytes
    kind: int
    mode: int = 0o644
    size: int = 0
    digest: bytes = b""
    target: bytes = b""  # symlink target, or reference URI (UTF-8)

    @property
    def st_mode(self) -> int:
        return _FORMAT.get(self.kind, stat.S_IFREG) | self.mode


_FORMAT = {DIR: stat.S_IFDIR, SYMLINK: stat.S_IFLNK}
_DOTS = (b".", b"..")


def _ok(name: bytes) -> bool:
    return bool(name) and name not in _DOTS and b"/" not in name and b"\0" not in name


def check_component(name: bytes) -> bytes:
    if not _ok(name):
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
        entries = list(_decode(bytes(blob)))
        # A hostile or damaged store must not name anything outside the version: one
        # search over all names is cheaper than one per name.
        names = b"".join([e.name for e in entries])
        if b"/" in names or b"\0" in names:
            raise ValueError(f"invalid name {next(e.name for e in entries if not _ok(e.name))!r}")
        return entries
    except (struct.error, ValueError, IndexError) as e:
        raise CorruptData(f"a tree object is damaged ({e}); run 'artfs verify'") from None


def _decode(blob: bytes) -> Iterator[Entry]:
    # Tight on purpose: a mount decodes every directory it lists.
    if blob[:3] != MAGIC:
        raise ValueError("bad magic")
    (count,), pos = _U32.unpack_from(blob, 3), 7
    head, size_digest, u32 = _HEAD.unpack_from, _SIZE_DIGEST.unpack_from, _U32.unpack_from
    for _ in range(count):
        kind, mode, nlen = head(blob, pos)
        pos += 5
        name = blob[pos : pos + nlen]
        pos += nlen
        if nlen < 3 and (not name or name in _DOTS):
            raise ValueError(f"invalid name {name!r}")
        if kind == FILE:
            size, digest = size_digest(blob, pos)
            pos += 40
            yield Entry(name, kind, mode, size, digest)
        elif kind == DIR:
            yield Entry(name, kind, mode, 0, blob[pos : pos + 32])
            pos += 32
        elif kind == SYMLINK:
            (tlen,) = u32(blob, pos)
            yield Entry(name, kind, mode, 0, b"", blob[pos + 4 : pos + 4 + tlen])
            pos += 4 + tlen
        elif kind == REFERENCE:
            size, digest = size_digest(blob, pos)
            (tlen,) = u32(blob, pos + 40)
            yield Entry(name, kind, mode, size, digest, blob[pos + 44 : pos + 44 + tlen])
            pos += 44 + tlen
        else:
            raise ValueError(f"unknown kind {kind}")
    if pos != len(blob):
        raise ValueError("trailing bytes")


def tree_digest(blob: bytes) -> bytes:
    return blake3.blake3(blob).digest()
