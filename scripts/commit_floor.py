"""This machine's floor for committing a file: the CPU time of the primitives a commit
must do, spread over the cores (issue 13).

A commit of a file must read it, cut it into content-defined chunks, hash every chunk
with BLAKE3 and compress with zstd (level 1) the chunks that compress.  Each is timed
here alone, in one thread, on the same bytes; the floor is their sum divided by the
cores (a commit that keeps every core busy with nothing else reaches it).  Today's
format also hashes the whole file a second time for its digest: timed apart, since a
digest derived from the chunk digests (as Merkle-hashing stores do) would not need it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import blake3

from artfs.store.chunker import chunks_of_stream
from artfs.store.chunks import encode

MIB = 1 << 20
BLOCK = 8 * MIB


@dataclass
class Floor:
    size: int
    read: float  # CPU seconds of each primitive, one thread
    cut: float
    hash_chunks: float
    compress: float
    hash_file: float  # the whole-file digest's second pass
    cores: int

    @property
    def must(self) -> float:
        return self.read + self.cut + self.hash_chunks + self.compress

    def mib_s(self, with_file_digest: bool = False) -> float:
        cpu = self.must + (self.hash_file if with_file_digest else 0.0)
        return self.size / MIB / (cpu / self.cores)


def _cpu(body) -> float:
    started = time.thread_time()
    body()
    return time.thread_time() - started


def _read(path: Path) -> None:
    buf = bytearray(BLOCK)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def measure(path: Path) -> Floor:
    """Time each primitive over the file (read from the page cache: run after a commit)."""
    read = _cpu(lambda: _read(path))
    chunks: list[bytes] = []

    def cut() -> None:
        with open(path, "rb", buffering=0) as f:
            chunks.extend(bytes(view) for view in chunks_of_stream(f))

    cut_and_read = _cpu(cut)  # with the copy out of the chunker's buffer a commit makes
    hash_chunks = _cpu(lambda: [blake3.blake3(c).digest() for c in chunks])
    compress = _cpu(lambda: [encode(c) for c in chunks])

    def hash_file() -> None:
        whole = blake3.blake3()
        for c in chunks:
            whole.update(c)
        whole.digest()

    return Floor(
        size=os.path.getsize(path),
        read=read,
        cut=max(cut_and_read - read, 0.0),
        hash_chunks=hash_chunks,
        compress=compress,
        hash_file=_cpu(hash_file),
        cores=os.cpu_count() or 1,
    )


def report(floor: Floor, artfs_mib_s: float | None, goal: float = 0.9) -> list[str]:
    """Lines for the store benchmark: the floor, its parts, and artfs against it."""
    parts = ", ".join(
        f"{name} {seconds:.2f}"
        for name, seconds in (
            ("read", floor.read),
            ("chunking", floor.cut),
            ("BLAKE3 of chunks", floor.hash_chunks),
            ("zstd-1 where it pays", floor.compress),
        )
    )
    lines = [
        f"commit floor for A ({floor.size / MIB:.0f} MiB) on {floor.cores} cores: "
        f"{floor.mib_s():.0f} MiB/s (CPU s, one thread: {parts}; / {floor.cores} cores)",
        f"  with today's second BLAKE3 pass over the whole file ({floor.hash_file:.2f} s): "
        f"{floor.mib_s(with_file_digest=True):.0f} MiB/s",
    ]
    if artfs_mib_s is not None:
        ratio = artfs_mib_s / floor.mib_s()
        verdict = "PASS" if ratio >= goal else "FAIL"
        lines.append(
            f"  artfs commits A at {artfs_mib_s:.0f} MiB/s: {ratio:.2f} of the floor "
            f"(goal >= {goal:.2f}) {verdict}"
        )
    return lines
