"""Serving file bytes from chunks: an LRU of decompressed chunks and read-ahead.

The kernel asks for 128-256 KiB at a time and chunks are about 1 MiB, so
without the cache each chunk would be read, decompressed and verified several
times.  Fetching runs in worker threads (zstd and BLAKE3 release the GIL);
the trio loop only slices bytes.
"""

import bisect
from collections import OrderedDict
from contextlib import suppress
from itertools import accumulate

import trio

from artfs.errors import ArtfsError
from artfs.store.store import Store
from artfs.store.tree import Entry

CACHE_BYTES = 32 * 1024 * 1024
READ_AHEAD = 3  # chunks fetched ahead of a sequential reader


class ChunkCache:
    """Verified, decompressed chunks by digest, fetched once even when asked twice."""

    def __init__(self, store: Store, capacity: int = CACHE_BYTES, threads: int = 2):
        self.store = store
        self.capacity = capacity
        self._lru: OrderedDict[bytes, bytes] = OrderedDict()
        self._size = 0
        self._loading: dict[bytes, trio.Event] = {}
        self._limiter = trio.CapacityLimiter(threads)

    async def get(self, digest: bytes) -> bytes:
        while True:
            data = self._lru.get(digest)
            if data is not None:
                self._lru.move_to_end(digest)
                return data
            event = self._loading.get(digest)
            if event is None:
                break
            await event.wait()  # another task fetches it; its failure makes us try again
        event = self._loading[digest] = trio.Event()
        try:
            data = await trio.to_thread.run_sync(self.store.chunks.get, digest,
                                                 limiter=self._limiter)
            self._insert(digest, data)
            return data
        finally:
            del self._loading[digest]
            event.set()

    def _insert(self, digest: bytes, data: bytes) -> None:
        self._lru[digest] = data
        self._size += len(data)
        while self._size > self.capacity and len(self._lru) > 1:
            _, old = self._lru.popitem(last=False)
            self._size -= len(old)

    def cached(self, digest: bytes) -> bool:
        return digest in self._lru or digest in self._loading


class FileReader:
    """Random access to one stored file, with read-ahead for sequential readers."""

    def __init__(self, store: Store, cache: ChunkCache, entry: Entry, nursery: trio.Nursery):
        self.cache = cache
        self.chunks = store.file_chunks(entry)
        self.starts = [0, *accumulate(size for _, size in self.chunks)]
        self.size = entry.size
        self.nursery = nursery
        self._next_offset = 0

    async def read(self, offset: int, length: int) -> bytes | memoryview:
        end = min(offset + length, self.size)
        if offset >= end:
            return b""
        first = bisect.bisect_right(self.starts, offset) - 1
        last = bisect.bisect_right(self.starts, end - 1) - 1
        # Decide before waiting: the kernel keeps several reads in flight, and the
        # next one must already count as sequential.
        if offset == self._next_offset:
            self._read_ahead(last + 1)
        self._next_offset = end
        parts = []
        for index in range(first, last + 1):
            data = memoryview(await self.cache.get(self.chunks[index][0]))
            lo = max(offset - self.starts[index], 0)
            hi = min(end - self.starts[index], len(data))
            parts.append(data[lo:hi])
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _read_ahead(self, index: int) -> None:
        for digest, _ in self.chunks[index : index + READ_AHEAD]:
            if not self.cache.cached(digest):
                self.nursery.start_soon(self._prefetch, digest)

    async def _prefetch(self, digest: bytes) -> None:
        with suppress(ArtfsError, OSError):  # the reader that needs it will see the error
            await self.cache.get(digest)
