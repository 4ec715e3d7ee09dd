"""Chunk files: content-addressed, optionally zstd-compressed, verified on read.

A chunk is named by the BLAKE3 digest of its uncompressed bytes and lives in
``STORE/chunks/ab/cdef…``.  The file is one codec byte followed by the payload:

    0x00  payload is the raw bytes
    0x01  payload is one zstd frame (with content size) of the raw bytes

Everything that touches chunk files goes through ``ChunkFiles`` (get / put /
delete / list), so that a remote object store can take its place later.
Durability is batched: ``put`` writes without fsync, and the committer calls
``sync`` once before publishing the version that needs them.  Only published
chunks are ever read, so a file half-written by a writer that died is a stray
that gc removes, and a later writer replaces it by a rename.
"""

import ctypes
import os
import threading
from collections.abc import Iterator
from contextlib import suppress

import blake3
import zstandard

from artfs.errors import CorruptData, StoreError
from artfs.store.durable import write_all


class MissingChunk(CorruptData):
    """A chunk the store names is not among its files (a remote's cache fetches it)."""


DIGEST_SIZE = 32
RAW, ZSTD = 0, 1
_RAW_BYTE, _ZSTD_BYTE = bytes([RAW]), bytes([ZSTD])
# Level 1: on tabular text it costs 30% less CPU than level 3 for 5% more bytes,
# and compression is most of the CPU time of a commit.
ZSTD_LEVEL = 1
# Samples are compressed first so that random bytes do not pay for a full
# compression that would be thrown away; a chunk is kept compressed only if
# that shrinks it below _WORTH_IT of its size.
_SAMPLE = 32 * 1024
_WORTH_IT = 0.92

_local = threading.local()
_libc = ctypes.CDLL(None, use_errno=True)
_SYNC_FILE_RANGE_WRITE = 2


def digest_of(data: bytes | memoryview) -> bytes:
    return blake3.blake3(data).digest()


def _compressor() -> zstandard.ZstdCompressor:
    # zstandard's (de)compressor objects are not thread-safe: one per thread.
    if not hasattr(_local, "cctx"):
        _local.cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        _local.dctx = zstandard.ZstdDecompressor()
    return _local.cctx


def _decompressor() -> zstandard.ZstdDecompressor:
    _compressor()
    return _local.dctx


def encode(data: bytes) -> tuple[bytes, bytes]:
    """(codec byte, payload) of the chunk file for ``data``: compressed when that saves space."""
    cctx = _compressor()
    if len(data) > _SAMPLE * 4 and not _some_sample_shrinks(cctx, data):
        return _RAW_BYTE, data
    packed = cctx.compress(data)
    if len(packed) < len(data) * _WORTH_IT:
        return _ZSTD_BYTE, packed
    return _RAW_BYTE, data


def _some_sample_shrinks(cctx: zstandard.ZstdCompressor, data: bytes) -> bool:
    """Whether the start, middle or end of a chunk compresses: a chunk may straddle
    random and text data, and is worth compressing if any part of it is text."""
    view = memoryview(data)
    for start in (0, (len(data) - _SAMPLE) // 2, len(data) - _SAMPLE):
        if len(cctx.compress(view[start : start + _SAMPLE])) < _SAMPLE * _WORTH_IT:
            return True
    return False


def decode(blob: bytes, digest: bytes) -> bytes | memoryview:
    """The raw bytes of a chunk file, checked against ``digest``; CorruptData otherwise.

    A raw chunk comes back as a view into ``blob``: no copy of a megabyte per read."""
    codec, payload = blob[:1], memoryview(blob)[1:]
    data: bytes | memoryview
    try:
        if codec == _RAW_BYTE:
            data = payload
        elif codec == _ZSTD_BYTE:
            data = _decompressor().decompress(payload)
        else:
            raise CorruptData(f"chunk {digest.hex()} has unknown codec {codec!r}")
    except zstandard.ZstdError as e:
        raise CorruptData(f"chunk {digest.hex()} does not decompress: {e}") from None
    if digest_of(data) != digest:
        raise CorruptData(f"chunk {digest.hex()} does not match its digest")
    return data


def _read_all(fd: int, longest: int | None = None) -> bytes:
    """A whole file in one read when it can be (a chunk file never changes): one byte
    more than it can hold is asked for, and a shorter read is the end of a regular
    file.  ``longest``: the most the file can hold, when the caller knows it (no fstat)."""
    asked = (os.fstat(fd).st_size if longest is None else longest) + 1
    blob = os.read(fd, asked)
    if len(blob) < asked:
        return blob
    while block := os.read(fd, 1 << 20):
        blob += block
    return blob


def _create(path: str, flag: int) -> int:
    flags = os.O_WRONLY | os.O_CREAT | flag
    try:
        return os.open(path, flags, 0o400)
    except FileNotFoundError:  # the first chunk of its two-hex-digit directory
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        return os.open(path, flags, 0o400)


def _write_and_close(fd: int, codec: bytes, payload: bytes) -> None:
    try:
        written = os.writev(fd, [codec, payload])
        if written < 1 + len(payload):  # short write: finish the rest plainly
            write_all(fd, memoryview(codec + payload)[written:])
        # Start writeback now, so the syncfs before publishing finds little left to do.
        _libc.sync_file_range(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)
    finally:
        os.close(fd)


def _digest_of_name(name: str) -> bytes | None:
    """The digest a chunk file name stands for, or None for anything else (a stray)."""
    if len(name) != 2 * DIGEST_SIZE or name != name.lower():
        return None
    try:
        return bytes.fromhex(name)
    except ValueError:
        return None


class ChunkFiles:
    """The directory of chunk files.  Thread-safe; every method is blocking I/O."""

    def __init__(self, root: str):
        self.root = root

    def path(self, digest: bytes) -> str:
        h = digest.hex()
        return os.path.join(self.root, h[:2], h[2:])

    def has(self, digest: bytes) -> bool:
        """Whether the chunk's file is here (whole or not: only a published version's
        chunks are trusted, see ``put``)."""
        return os.path.exists(self.path(digest))

    def stored_size(self, digest: bytes) -> int:
        """The size of the chunk's file; FileNotFoundError if there is none, another
        OSError if it cannot be looked at."""
        return os.stat(self.path(digest)).st_size

    def put(self, digest: bytes, codec: bytes, payload: bytes, *, seen: bool = False) -> int:
        """Write a chunk file under its final name (not yet durable); → its size.

        A new name is created exclusively and written in place: a chunk file is only
        trusted once a version published after ``sync`` names it.  If the name
        exists (another writer's, or one that died half-way), or readers may look
        for it at once (``seen``: a chunk of a published version, fetched into a
        remote's cache), the chunk is written under a temporary name and renamed to
        its own, so it is whole whenever it is there."""
        final = self.path(digest)
        try:
            if seen:
                raise FileExistsError
            fd = _create(final, os.O_EXCL)
        except FileExistsError:
            tmp = f"{final}.tmp{os.getpid()}.{threading.get_ident()}"
            _write_and_close(_create(tmp, os.O_TRUNC), codec, payload)
            os.rename(tmp, final)
        else:
            _write_and_close(fd, codec, payload)
        return 1 + len(payload)

    def warm(self, digest: bytes) -> None:
        """Have the kernel start reading a chunk file into its page cache, without
        waiting for the bytes (only for the file's inode, if it is not cached)."""
        fd = os.open(self.path(digest), os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        finally:
            os.close(fd)

    def get(self, digest: bytes, size: int = 0) -> bytes | memoryview:
        """The verified raw bytes of a chunk (``size``: their length, when known)."""
        return decode(self.get_stored(digest, size), digest)

    def get_stored(self, digest: bytes, size: int = 0) -> bytes:
        """A chunk file's bytes as stored (codec byte and payload), unchecked.

        Knowing the raw size saves two of five system calls (the fstat, the read of
        the end): a chunk file holds at most its raw bytes and the codec byte."""
        try:
            fd = os.open(self.path(digest), os.O_RDONLY)
        except FileNotFoundError:
            raise MissingChunk(f"chunk {digest.hex()} is missing from the store") from None
        try:
            return _read_all(fd, size + 1 if size else None)
        finally:
            os.close(fd)

    def delete(self, digest: bytes) -> None:
        self.delete_stray(self.path(digest))

    def delete_stray(self, path: str) -> None:
        """Remove a file found by ``list`` (a chunk, or a leftover temporary file)."""
        with suppress(FileNotFoundError):
            os.unlink(path)

    def list(self) -> Iterator[tuple[bytes | None, str]]:
        """Every file under the chunk directory: (digest or None for strays, path)."""
        if not os.path.isdir(self.root):
            return
        for sub in sorted(os.listdir(self.root)):
            subdir = os.path.join(self.root, sub)
            if not os.path.isdir(subdir):
                yield None, subdir
                continue
            for fname in sorted(os.listdir(subdir)):
                full = os.path.join(subdir, fname)
                yield (_digest_of_name(sub + fname)), full

    def sync(self) -> None:
        """Make every chunk written so far durable: one syncfs instead of an fsync per file."""
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if _libc.syncfs(fd) != 0:
                err = ctypes.get_errno()
                raise StoreError(f"cannot sync the store's filesystem: {os.strerror(err)}")
        finally:
            os.close(fd)
