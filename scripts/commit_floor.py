"""This machine's floor for committing a file: the CPU time of the primitives a commit
must do, spread over the cores (issue 13).

A commit of a file must read it, cut it into content-defined chunks, hash every chunk
with BLAKE3, compress with zstd (level 1) the chunks that compress, and write what it
stores.  Each is timed here alone, in one thread, on the same bytes (best of
``ROUNDS``); the floor is their sum divided by the cores (a commit that keeps every
core busy with nothing else reaches it).  Writing is timed as one new file in the
store's file system (a file per chunk is the store's layout, not a must), best of
``ROUNDS`` like the rest, and its first round is shown too: this VM charges 1.5-1.9
CPU s per 668 MiB for pages new to its page cache and a fifth or less of that for
pages just freed, and which of the two a commit meets depends on what ran before it
(the floor with the first write's cost once came out below what artfs reached).  The
CPU time of artfs's own commit, beside the primitives', shows work done twice
whatever the cores did.  A file's digest is derived from its chunks' (format 7), so
no whole-file hash is part of it.
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
ROUNDS = 2  # this VM's first touch of memory swings single runs by tens of percent


@dataclass
class Floor:
    size: int
    read: float  # CPU seconds of each primitive, one thread
    cut: float
    hash_chunks: float
    compress: float
    write: float  # best of ROUNDS
    first_write: float  # the first of them: pages new to the page cache, as a lone commit has
    cores: int

    def must(self, first_write: bool = False) -> float:
        """CPU seconds of the primitives, in one thread."""
        write = self.first_write if first_write else self.write
        return self.read + self.cut + self.hash_chunks + self.compress + write

    def mib_s(self, first_write: bool = False) -> float:
        return self.size / MIB / (self.must(first_write) / self.cores)


def _cpu(body, rounds: int = ROUNDS) -> float:
    """The least CPU time of ``rounds`` runs of ``body`` in this thread."""
    best = float("inf")
    for _ in range(rounds):
        started = time.thread_time()
        body()
        best = min(best, time.thread_time() - started)
    return best


def _read(path: Path) -> None:
    buf = bytearray(BLOCK)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def _cut(path: Path) -> None:
    with open(path, "rb", buffering=0) as f:
        for _ in chunks_of_stream(f):
            pass


def _write(stored: list[tuple[bytes, bytes]], scratch: Path) -> None:
    target = scratch / "commit-floor.tmp"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for codec, payload in stored:
            os.writev(fd, [codec, payload])
    finally:
        os.close(fd)
        target.unlink()


def measure(path: Path, scratch: Path) -> Floor:
    """Time each primitive over the file (read from the page cache: run after a commit);
    ``scratch``: a directory in the store's file system."""
    # The chunks are copied out and kept only to time what follows: holding a GiB of
    # fresh copies costs this machine more than the cutting itself, and a commit
    # holds a few chunks at a time.
    with open(path, "rb", buffering=0) as f:
        chunks = [bytes(view) for view in chunks_of_stream(f)]
    stored = [encode(c) for c in chunks]
    read = _cpu(lambda: _read(path))
    first_write = _cpu(lambda: _write(stored, scratch), rounds=1)
    return Floor(
        size=os.path.getsize(path),
        read=read,
        cut=max(_cpu(lambda: _cut(path)) - read, 0.0),
        hash_chunks=_cpu(lambda: [blake3.blake3(c).digest() for c in chunks]),
        compress=_cpu(lambda: [encode(c) for c in chunks]),
        write=min(first_write, _cpu(lambda: _write(stored, scratch), rounds=ROUNDS - 1)),
        first_write=first_write,
        cores=os.cpu_count() or 1,
    )


def report(
    floor: Floor, artfs_mib_s: float | None, artfs_cpu: float | None = None, goal: float = 0.9
) -> list[str]:
    """Lines for the store benchmark: the floor, its parts, and artfs against it."""
    parts = ", ".join(
        f"{name} {seconds:.2f}"
        for name, seconds in (
            ("read", floor.read),
            ("chunking", floor.cut),
            ("BLAKE3 of chunks", floor.hash_chunks),
            ("zstd-1 where it pays", floor.compress),
            ("writing what is stored", floor.write),
        )
    )
    lines = [
        f"commit floor for A ({floor.size / MIB:.0f} MiB) on {floor.cores} cores: "
        f"{floor.mib_s():.0f} MiB/s (CPU s, one thread: {parts}; / {floor.cores} cores)",
        f"  with the first write's cost ({floor.first_write:.2f} s: pages new to this "
        f"machine's page cache): {floor.mib_s(first_write=True):.0f} MiB/s",
    ]
    if artfs_mib_s is not None:
        ratio = artfs_mib_s / floor.mib_s()
        verdict = "PASS" if ratio >= goal else "FAIL"
        lines.append(
            f"  artfs commits A at {artfs_mib_s:.0f} MiB/s: {ratio:.2f} of the floor "
            f"(goal >= {goal:.2f}) {verdict}; "
            f"{artfs_mib_s / floor.mib_s(first_write=True):.2f} of it with the first write's cost"
        )
    if artfs_cpu is not None:
        lines.append(
            f"  artfs's commit of A used {artfs_cpu:.2f} CPU s (start-up included); the "
            f"primitives {floor.must():.2f}, {floor.must(first_write=True):.2f} with the "
            "first write's cost"
        )
    return lines
