"""Serving file bytes from chunks: worker threads, an LRU of decompressed chunks, read-ahead.

The kernel asks for 128 KiB-1 MiB at a time and chunks are about 1 MiB, so
without the cache each chunk would be read, decompressed and verified several
times.  Fetching runs in a fixed pool of worker threads (file reads, zstd and
BLAKE3 release the GIL); the trio loop only queues digests and slices bytes,
except for a small chunk of a local store, which it reads itself (ON_LOOP_BYTES).

A worker takes its next job straight from a queue.  Going through the loop for
every job (``trio.to_thread`` with a limiter) left the workers idle for
milliseconds whenever the loop was busy answering the kernel: first reads of
a 1 GiB file were about 20% slower that way on 2 cores.
"""

import bisect
import threading
from collections import OrderedDict, deque

import trio

from artfs.fs.layouts import Layout, Layouts
from artfs.store.chunks import ChunkFiles
from artfs.store.store import Store
from artfs.store.tree import Entry

CACHE_BYTES = 32 * 1024 * 1024
READ_AHEAD = 8 * 1024 * 1024  # bytes fetched ahead of a sequential reader
# More workers than cores: while one waits for the disk, another decompresses.
# On 2 cores, 4 workers read cold files 10% faster than 2; 6 no faster than 4.
THREADS = 4
# A chunk this small is read, verified (and decompressed) on the loop itself when the
# store is local.  Handing it to a worker cost more than the work: on 2 cores a data
# loader's first epoch of 64 KiB files took 740 µs of daemon CPU per file with the hop
# (the GIL passed back and forth between loop and worker at each of the worker's six
# system calls, each pass a context switch) and 440 µs without it, and was no faster
# with 4 workers than with 1.  The loop then waits for a cold read of at most this
# much, as the kernel's own readers would.
ON_LOOP_BYTES = 256 * 1024


class _Fetch:
    """One chunk being fetched: what its waiters wait for, and what came of it."""

    __slots__ = ("digest", "done", "data", "error", "urgent", "taken")

    def __init__(self, digest: bytes, urgent: bool):
        self.digest = digest
        self.urgent = urgent
        self.taken = False  # by a worker; guarded by ChunkCache._wakeup
        self.done = trio.Event()
        self.data: bytes | memoryview | None = None
        self.error: BaseException | None = None


class ChunkCache:
    """Verified, decompressed chunks by digest, fetched once even when asked twice.

    Must be made inside ``trio.run``: workers hand their results to its loop."""

    def __init__(self, store: Store, capacity: int = CACHE_BYTES, threads: int = THREADS):
        self.store = store
        self.capacity = capacity
        self._lru: OrderedDict[bytes, bytes | memoryview] = OrderedDict()
        self._size = 0
        self._loading: dict[bytes, _Fetch] = {}
        # Chunks a reader waits for go before chunks fetched ahead.  A fetch may sit in
        # both queues (hurried after it was queued ahead); the first worker takes it.
        self._urgent: deque[_Fetch] = deque()
        self._ahead: deque[_Fetch] = deque()
        # Chunks fetched ahead that no reader has asked for yet, and their bytes: kept
        # under half the cache, or readers at once would evict each other's chunks
        # before reading them (and fetch them again).
        self._unread: dict[bytes, int] = {}
        self._unread_bytes = 0
        self._closed = False
        self._wakeup = threading.Condition(threading.Lock())
        self._token = trio.lowlevel.current_trio_token()
        self._workers = [
            threading.Thread(target=self._work, name=f"artfs-chunks-{i}", daemon=True)
            for i in range(threads)
        ]
        for worker in self._workers:
            worker.start()

    async def get(self, digest: bytes, size: int = 0) -> bytes | memoryview:
        """A chunk's bytes (``size``: its length, when the caller knows it)."""
        self._mark_read(digest)
        data = self._lru.get(digest)
        if data is not None:
            self._lru.move_to_end(digest)
            return data
        fetch = self._loading.get(digest)
        if fetch is None and (local := self._on_loop(size)) is not None:
            data = local.get(digest, size)
            self._insert(digest, data)
            return data
        if fetch is None:
            fetch = self._queue(digest, urgent=True)
        elif not fetch.urgent:
            self._hurry(fetch)
        await fetch.done.wait()
        if fetch.error is not None:
            raise fetch.error
        assert fetch.data is not None
        return fetch.data

    def _on_loop(self, size: int) -> ChunkFiles | None:
        """The chunk files to read a chunk from here, on the loop, if it is small and
        local (a remote store's cache may have to fetch it over the network)."""
        chunks = self.store.chunks
        return chunks if 0 < size <= ON_LOOP_BYTES and isinstance(chunks, ChunkFiles) else None

    def prefetch(self, digest: bytes, size: int) -> None:
        """Fetch a chunk in the background, behind every chunk a reader waits for,
        unless the chunks fetched ahead and not yet read fill half the cache."""
        if (
            digest in self._lru
            or digest in self._loading
            or self._unread_bytes + size > self.capacity // 2
        ):
            return
        self._unread[digest] = size
        self._unread_bytes += size
        self._queue(digest, urgent=False)

    def _mark_read(self, digest: bytes) -> None:
        size = self._unread.pop(digest, None)
        if size is not None:
            self._unread_bytes -= size

    def close(self) -> None:
        """Let the workers finish their current job and stop."""
        with self._wakeup:
            self._closed = True
            self._wakeup.notify_all()

    def _queue(self, digest: bytes, urgent: bool) -> _Fetch:
        fetch = self._loading[digest] = _Fetch(digest, urgent)
        with self._wakeup:
            (self._urgent if urgent else self._ahead).append(fetch)
            self._wakeup.notify()
        return fetch

    def _hurry(self, fetch: _Fetch) -> None:
        fetch.urgent = True
        with self._wakeup:
            if not fetch.taken:
                self._urgent.append(fetch)

    def _next_job(self) -> _Fetch | None:
        """The next fetch no worker has taken, waiting for one; None once closed."""
        with self._wakeup:
            while not self._closed:
                queue = self._urgent or self._ahead
                if not queue:
                    self._wakeup.wait()
                    continue
                fetch = queue.popleft()
                if not fetch.taken:
                    fetch.taken = True
                    return fetch
            return None

    def _work(self) -> None:
        while (fetch := self._next_job()) is not None:
            try:
                fetch.data = self.store.chunks.get(fetch.digest)
            except Exception as e:  # handed to the readers waiting for it
                fetch.error = e
            try:
                self._token.run_sync_soon(self._finish, fetch)
            except trio.RunFinishedError:
                return

    def _finish(self, fetch: _Fetch) -> None:
        """On the loop: publish a worker's result and wake whoever waits for it."""
        del self._loading[fetch.digest]
        if fetch.data is not None:
            self._insert(fetch.digest, fetch.data)
        else:
            self._mark_read(fetch.digest)  # failed: no longer waits for its reader
        fetch.done.set()

    def _insert(self, digest: bytes, data: bytes | memoryview) -> None:
        self._lru[digest] = data
        self._size += len(data)
        while self._size > self.capacity and len(self._lru) > 1:
            # The least recently used chunk that has been read: a chunk fetched ahead
            # waits for its reader, however long ago it came (the budget bounds those).
            victim = next((d for d in self._lru if d not in self._unread), None)
            if victim is None:
                victim = next(iter(self._lru))
                self._mark_read(victim)
            self._size -= len(self._lru.pop(victim))


class FileReader:
    """Random access to one stored file, with read-ahead for sequential readers."""

    def __init__(
        self, store: Store, cache: ChunkCache, entry: Entry, layouts: Layouts | None = None
    ):
        self.cache = cache
        layout = layouts.of(entry) if layouts is not None else Layout(store.file_chunks(entry))
        self.chunks, self.starts = layout.chunks, layout.starts
        self.size = entry.size
        self._next_offset = 0

    async def read(self, offset: int, length: int) -> bytes | memoryview:
        end = min(offset + length, self.size)
        if offset >= end:
            return b""
        if len(self.chunks) == 1:  # most files of a dataset: no offsets to look up
            self._next_offset = end
            data = await self.cache.get(*self.chunks[0])
            return data if offset == 0 and end == len(data) else memoryview(data)[offset:end]
        first = bisect.bisect_right(self.starts, offset) - 1
        last = bisect.bisect_right(self.starts, end - 1) - 1
        # Decide before waiting: the kernel keeps several reads in flight, and the
        # next one must already count as sequential.
        if offset == self._next_offset:
            self._read_ahead(last + 1, end + READ_AHEAD)
        self._next_offset = end
        parts = []
        for index in range(first, last + 1):
            data = memoryview(await self.cache.get(*self.chunks[index]))
            lo = max(offset - self.starts[index], 0)
            hi = min(end - self.starts[index], len(data))
            parts.append(data[lo:hi])
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _read_ahead(self, index: int, until: int) -> None:
        """Queue the chunks from ``index`` that start before offset ``until``."""
        while index < len(self.chunks) and self.starts[index] < until:
            self.cache.prefetch(*self.chunks[index])
            index += 1
