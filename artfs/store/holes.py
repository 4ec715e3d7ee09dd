"""Sparse files: reading without reading the holes, writing zeros as holes.

Reading a hole makes the kernel allocate and zero page-cache pages for it:
committing a 5 GiB file that is one hole took 3.3 s of system time for that
alone.  ``skipping_holes`` finds the holes with SEEK_DATA / SEEK_HOLE and
produces their zeros in memory.  On a file system without hole support the
whole file counts as data, which is still correct.

``write_sparse`` seeks over blocks of zeros instead of writing them, so that a
sparse file exported or copied up stays sparse.
"""

import ctypes
import errno
import io
import os
from collections.abc import Callable, Iterable
from typing import BinaryIO

_ZEROS = bytes(32 * 1024 * 1024)  # never touched, so never resident: reads map the zero page


def is_zeros(block: bytes | memoryview) -> bool:
    """Whether a block (of at most 32 MiB) is all zeros: a memcmp, stopping at the first
    other byte."""
    return _ZEROS.startswith(block)


def zeros(size: int) -> memoryview:
    """``size`` zero bytes (at most 32 MiB) without allocating them."""
    return memoryview(_ZEROS)[:size]


class _HoleSkippingReader(io.RawIOBase):
    def __init__(self, fd: int):
        self._fd = fd
        self._pos = 0
        self._size = os.fstat(fd).st_size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        self._pos = max(base + offset, 0)
        return self._pos

    def readinto(self, buf) -> int:
        view = memoryview(buf).cast("B")
        want = min(len(view), self._size - self._pos)
        if want <= 0:
            return 0
        data = self._next_data()
        if data > self._pos:  # in a hole: zeros up to the next data, without a read
            n = min(want, data - self._pos, len(_ZEROS))
            view[:n] = zeros(n)
        else:
            hole = self._lseek(os.SEEK_HOLE)
            n = os.preadv(self._fd, [view[: min(want, hole - self._pos)]], self._pos)
        self._pos += n
        return n

    def _next_data(self) -> int:
        """Where data starts at or after the position (the end when only a hole is left)."""
        return self._lseek(os.SEEK_DATA)

    def _lseek(self, whence: int) -> int:
        try:
            return os.lseek(self._fd, self._pos, whence)
        except OSError as e:
            if e.errno != errno.ENXIO:
                raise
        # Nothing of that kind before the end, or the file shrank meanwhile: read no
        # further than it now is.
        self._size = min(self._size, os.fstat(self._fd).st_size)
        return self._size


def skipping_holes(f: BinaryIO) -> BinaryIO:
    """``f`` (open at its start) itself, or, when the file has holes (fewer blocks than
    bytes), a buffered reader of it that makes their zeros without reading them.  The
    caller keeps ``f`` open while reading, and closes it."""
    st = os.fstat(f.fileno())
    if st.st_blocks * 512 >= st.st_size:
        return f
    return io.BufferedReader(_HoleSkippingReader(f.fileno()), buffer_size=1024 * 1024)


def write_sparse(
    out: BinaryIO,
    blocks: Iterable[bytes | memoryview],
    progress: Callable[[int], None] = lambda n: None,
) -> None:
    """Write ``blocks`` from the current position, seeking over those that are all zeros,
    and end the file there (a trailing hole gives it no size by itself)."""
    for block in blocks:
        if is_zeros(block):
            out.seek(len(block), os.SEEK_CUR)
        else:
            out.write(block)
        progress(len(block))
    out.truncate()


_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
_PUNCH_HOLE = 0x01 | 0x02  # FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE


def drop_content(fd: int) -> None:
    """Give back a file's blocks, keeping its size: one system call, so that no crash
    leaves it at another size.  A file system that cannot punch holes gets an empty
    file of the same size (two calls) instead."""
    st = os.fstat(fd)
    # past the end too, so that the last, partial block is freed as well
    if st.st_size and _libc.fallocate(fd, _PUNCH_HOLE, 0, st.st_size + st.st_blksize) != 0:
        if ctypes.get_errno() not in (errno.EOPNOTSUPP, errno.ENOSYS):
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        os.ftruncate(fd, 0)
        os.ftruncate(fd, st.st_size)
