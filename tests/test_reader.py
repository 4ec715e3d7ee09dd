"""The mount's chunk cache and file reader (artfs/fs/reader.py): worker threads,
one fetch per chunk, errors handed to every waiter, urgent before ahead, read-ahead."""

import threading

import pytest
import trio

from artfs.errors import CorruptData
from artfs.fs import reader
from artfs.fs.reader import ChunkCache, FileReader
from artfs.store.tree import FILE, Entry

pytestmark = pytest.mark.fast


class FakeChunks:
    """Chunk bytes by digest; records each fetch, can hold fetches back or fail them."""

    def __init__(self, chunks: dict[bytes, bytes]):
        self.chunks = chunks
        self.fetched: list[bytes] = []
        self.gate = threading.Event()
        self.gate.set()
        self.failing: set[bytes] = set()
        self._lock = threading.Lock()

    def get(self, digest: bytes) -> bytes:
        with self._lock:
            self.fetched.append(digest)
        assert self.gate.wait(10), "a test left the gate closed"
        if digest in self.failing:
            raise CorruptData(f"chunk {digest.hex()} does not match its digest")
        return self.chunks[digest]


class FakeStore:
    def __init__(self, sizes: list[int]):
        self.order = [bytes([i]) * 32 for i in range(len(sizes))]
        self.chunks = FakeChunks(
            {digest: bytes([i]) * sizes[i] for i, digest in enumerate(self.order)}
        )
        self.sizes = sizes

    def file_chunks(self, entry: Entry) -> list[tuple[bytes, int]]:
        return list(zip(self.order, self.sizes, strict=True))

    def entry(self) -> Entry:
        return Entry(b"f", FILE, 0o644, sum(self.sizes), b"\0" * 32)

    def content(self) -> bytes:
        return b"".join(self.chunks.chunks[d] for d in self.order)


def run(test):
    """Run ``test(cache, store)`` in trio with a cache of one worker over 8 chunks of 1000."""

    def outer(sizes=(1000,) * 8, threads=1):
        store = FakeStore(list(sizes))

        async def main():
            cache = ChunkCache(store, threads=threads)
            try:
                await test(cache, store)
            finally:
                store.chunks.gate.set()
                cache.close()
                for worker in cache._workers:
                    worker.join(5)
                assert not any(worker.is_alive() for worker in cache._workers)

        trio.run(main)

    return outer


async def wait_until(condition) -> None:
    with trio.fail_after(5):
        while not condition():
            await trio.sleep(0.001)


def test_two_readers_of_one_chunk_fetch_it_once():
    @run
    async def check(cache, store):
        store.chunks.gate.clear()
        digest = store.order[0]
        results = []
        async with trio.open_nursery() as nursery:
            for _ in range(2):
                nursery.start_soon(lambda: _append(results, cache.get(digest)))
            await wait_until(lambda: store.chunks.fetched)
            store.chunks.gate.set()
        assert results == [bytes([0]) * 1000] * 2
        assert store.chunks.fetched == [digest]
        assert await cache.get(digest) == bytes([0]) * 1000  # from the cache now
        assert store.chunks.fetched == [digest]

    check(threads=2)


async def _append(results, awaitable):
    results.append(await awaitable)


def test_a_failed_fetch_reaches_every_waiter_and_a_later_read_tries_again():
    @run
    async def check(cache, store):
        digest = store.order[3]
        store.chunks.failing.add(digest)
        store.chunks.gate.clear()
        errors = []

        async def reader_task():
            try:
                await cache.get(digest)
            except CorruptData as e:
                errors.append(e)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader_task)
            nursery.start_soon(reader_task)
            await wait_until(lambda: store.chunks.fetched)
            store.chunks.gate.set()
        assert len(errors) == 2 and "does not match" in str(errors[0])
        assert store.chunks.fetched == [digest]
        store.chunks.failing.clear()
        assert await cache.get(digest) == bytes([3]) * 1000
        assert store.chunks.fetched == [digest, digest]

    check()


def test_a_chunk_a_reader_waits_for_goes_before_chunks_fetched_ahead():
    @run
    async def check(cache, store):
        first, ahead, wanted = store.order[0], store.order[1:4], store.order[6]
        store.chunks.gate.clear()
        cache.prefetch(first, 1000)
        await wait_until(lambda: store.chunks.fetched)  # the one worker is busy with it
        for digest in ahead:
            cache.prefetch(digest, 1000)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(cache.get, wanted)
            await wait_until(lambda: wanted in cache._loading)
            nursery.start_soon(cache.get, ahead[2])  # queued ahead, now waited for
            await wait_until(lambda: cache._loading[ahead[2]].urgent)
            store.chunks.gate.set()
        await wait_until(lambda: len(store.chunks.fetched) == 5)
        await trio.sleep(0.01)
        assert store.chunks.fetched == [first, wanted, ahead[2], ahead[0], ahead[1]]

    check()


def test_chunks_fetched_ahead_and_unread_stay_under_half_the_cache():
    @run
    async def check(cache, store):
        cache.capacity = 7000
        for digest in store.order:
            cache.prefetch(digest, 1000)
        await wait_until(lambda: len(store.chunks.fetched) == 3)
        await trio.sleep(0.01)
        assert store.chunks.fetched == store.order[:3]  # 3000 bytes <= 3500
        assert await cache.get(store.order[0]) == bytes(1000)  # read: budget freed
        cache.prefetch(store.order[5], 1000)
        await wait_until(lambda: len(store.chunks.fetched) == 4)
        assert store.chunks.fetched[3] == store.order[5]

    check()


def test_sequential_reads_fetch_ahead_and_random_reads_do_not(monkeypatch):
    monkeypatch.setattr(reader, "READ_AHEAD", 2500)

    @run
    async def check(cache, store):
        file = FileReader(store, cache, store.entry())
        assert await file.read(0, 1000) == store.content()[:1000]
        # offset 0 counts as sequential: chunks starting before 1000 + 2500 come ahead
        await wait_until(lambda: len(store.chunks.fetched) == 4)
        await trio.sleep(0.01)
        assert store.chunks.fetched == store.order[:4]
        random_reader = FileReader(store, cache, store.entry())
        assert await random_reader.read(6500, 100) == store.content()[6500:6600]
        await trio.sleep(0.01)
        assert store.chunks.fetched == store.order[:4] + [store.order[6]]

    check()


def test_reads_across_chunk_boundaries_return_the_file_bytes():
    @run
    async def check(cache, store):
        file = FileReader(store, cache, store.entry())
        content = store.content()
        for offset, length in [
            (0, 10),
            (990, 30),
            (500, 2600),
            (1999, 2),
            (4300, 9999),
            (len(content) - 1, 5),
            (len(content), 5),
            (123, 0),
        ]:
            assert bytes(await file.read(offset, length)) == content[offset : offset + length]

    check(sizes=(1000, 1, 2000, 37, 1000, 963))


@pytest.mark.parametrize("threads", [1, 4])
def test_many_readers_at_once_get_their_own_bytes(threads):
    @run
    async def check(cache, store):
        content = store.content()
        seen = {}

        async def read_all(name, step):
            file = FileReader(store, cache, store.entry())
            parts, offset = [], 0
            while chunk := bytes(await file.read(offset, step)):
                parts.append(chunk)
                offset += len(chunk)
            seen[name] = b"".join(parts)

        async with trio.open_nursery() as nursery:
            for i, step in enumerate([1, 333, 1000, 4096, 10_000] * 2):
                nursery.start_soon(read_all, i, step)
        assert seen == {i: content for i in range(10)}

    check(sizes=(700, 1300, 1000, 50, 2000), threads=threads)


def test_readers_at_once_do_not_evict_what_was_fetched_ahead_for_them(monkeypatch):
    """Eight sequential readers, each fetching 8 chunks ahead, share a cache of 32
    chunks: what is fetched ahead must still be there when its reader comes, however
    many chunks other readers have read since (plain LRU evicted it)."""
    monkeypatch.setattr(reader, "READ_AHEAD", 8 * 1000)
    files = 8

    @run
    async def check(cache, store):
        cache.capacity = 32 * 1000  # room for each reader's chunk and the read-ahead
        per_file = len(store.order) // files

        async def read_file(k):
            file = FileReader(store, cache, store.entry())
            file.chunks = file.chunks[k * per_file : (k + 1) * per_file]
            for offset in range(0, per_file * 1000, 500):
                assert (
                    bytes(await file.read(offset, 500))
                    == bytes([k * per_file + offset // 1000]) * 500
                )
                await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            for k in range(files):
                nursery.start_soon(read_file, k)
        assert sorted(store.chunks.fetched) == sorted(store.order)  # each chunk once

    check(sizes=(1000,) * 8 * 30, threads=2)
