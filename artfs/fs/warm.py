"""Warming a local store's chunk files into the kernel's page cache ahead of reads.

A data loader's first epoch opens small files in a shuffled order, and each read
of a chunk file not yet in the page cache stops the trio loop for a disk read
(about 300-500 µs on a virtual disk, where the loop's own work per file is
about as much).  Two hints start those disk reads early:

* a file's lookup, the request before its open, hints its first chunk;
* once a mount has opened ``BULK_AFTER`` files of one version, the chunks of
  the whole version are hinted in tree order, within ``budget()`` bytes: a
  shuffled epoch over a data set that fits in memory then finds most of its
  chunks read already.

The hints are carried out in a helper process (``python -m artfs.fs.warm``):
each one is an open, a ``posix_fadvise(WILLNEED)`` (the kernel reads the file
in the background) and a close.  Threads of the daemon would do the same
system calls, but each call hands Python's lock back and forth with the loop;
on 2 cores that made every request of the loop slower (a warm lookup 19 →
44 µs, a read 93 → 146 µs).  A hint costs the loop one write to a pipe.
"""

import contextlib
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterable

from artfs.store.chunks import DIGEST_SIZE, ChunkFiles
from artfs.store.durable import write_all

BULK_AFTER = 64  # files of one version opened before the whole version is warmed
BULK_SHARE = 0.5  # of the memory the kernel says is available, at most
THREADS = 4  # in the helper: disk reads of inodes in flight at once


def budget() -> int:
    """Bytes to warm at most: half of what the kernel says is available (free memory
    and page cache it can reclaim), so that warming never crowds out the readers' own
    memory; 0 where /proc/meminfo cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(int(line.split()[1]) * 1024 * BULK_SHARE)
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Warmer:
    """The daemon's end: hints written to the helper process's two pipes."""

    def __init__(self, chunks: ChunkFiles):
        bulk_read, self._bulk = os.pipe()
        urgent_read, self._urgent = os.pipe()
        os.set_blocking(self._urgent, False)  # the loop writes it: never wait
        self._helper = subprocess.Popen(
            [sys.executable, "-m", "artfs.fs.warm", chunks.root, str(urgent_read)],
            stdin=bulk_read,
            pass_fds=(urgent_read,),
            start_new_session=True,  # a ^C to the daemon's terminal is the daemon's
        )
        os.close(bulk_read)
        os.close(urgent_read)
        self._bulk_lock = threading.Lock()
        self.opened: dict[tuple[str, int], int] = {}  # opens of files, per version
        # Versions whose every chunk has gone to the helper: a hint for one of their
        # files would only cost the loop a write to the pipe (and the helper a wakeup).
        self.covered: set[tuple[str, int]] = set()

    def hint(self, digest: bytes) -> None:
        """Warm one chunk soon (dropped when the pipe is full: a hint, not a promise)."""
        with contextlib.suppress(OSError):  # EAGAIN: full; EPIPE, EBADF: closed
            os.write(self._urgent, digest)

    def due(self, version: tuple[str, int]) -> bool:
        """Count an open of a file of ``version``: whether it is now time to warm it whole
        (once per version and mount)."""
        count = self.opened[version] = self.opened.get(version, 0) + 1
        return count == BULK_AFTER

    def bulk(
        self, chunks: Iterable[tuple[bytes, int]], version: tuple[str, int] | None = None
    ) -> None:
        """Warm chunks in order until their raw sizes exceed ``budget()`` (blocking: call
        in a worker thread; the helper takes them as fast as the disk reads).  If all of
        them went, ``version`` (theirs) is ``covered``."""
        left = budget()
        batch: list[bytes] = []
        with self._bulk_lock, contextlib.suppress(OSError):  # EPIPE, EBADF: closed
            for digest, size in chunks:
                left -= size
                if left < 0:
                    break
                batch.append(digest)
                if len(batch) == 128:
                    write_all(self._bulk, b"".join(batch))
                    batch.clear()
            write_all(self._bulk, b"".join(batch))
            if left >= 0 and version is not None:
                self.covered.add(version)

    def close(self) -> None:
        """End the helper: what it has not warmed yet is of no use now.  Stopped before
        its pipes are closed, so that a bulk write blocked on a full pipe fails (EPIPE)
        instead of writing to a reused descriptor."""
        self._helper.terminate()
        self._helper.wait()
        with self._bulk_lock:  # a bulk write under way now fails, and it stops
            for fd in (self._urgent, self._bulk):
                if fd >= 0:
                    os.close(fd)
            self._urgent = self._bulk = -1  # closing twice closes nobody else's


def _records(fd: int) -> Iterable[bytes]:
    """Digests from a pipe until its end."""
    pending = b""
    while block := os.read(fd, 64 * DIGEST_SIZE):
        pending += block
        whole = len(pending) - len(pending) % DIGEST_SIZE
        for at in range(0, whole, DIGEST_SIZE):
            yield pending[at : at + DIGEST_SIZE]
        pending = pending[whole:]


def _serve(root: str, urgent_fd: int) -> None:
    chunks = ChunkFiles(root)
    jobs: queue.Queue[bytes | None] = queue.Queue(maxsize=1024)

    def warm(digest: bytes) -> None:
        # A hint: a chunk gone (gc) or unreadable is the read's to report, and a thread
        # that stopped on it would warm nothing more.
        with contextlib.suppress(OSError):
            chunks.warm(digest)

    def work() -> None:
        while (digest := jobs.get()) is not None:
            warm(digest)

    def urgent() -> None:
        for digest in _records(urgent_fd):
            warm(digest)

    threading.Thread(target=urgent, daemon=True).start()
    workers = [threading.Thread(target=work, daemon=True) for _ in range(THREADS)]
    for worker in workers:
        worker.start()
    for digest in _records(sys.stdin.fileno()):
        jobs.put(digest)
    for _ in workers:
        jobs.put(None)
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]))
