"""What a data loader's epochs rely on (issue 13), driven through the mount's Operations
in-process: cached file layouts (an O(1) reopen, eviction, forgetting them when gc may
delete chunk lists), the first chunk fetched at open, and many readers at once."""

import errno
import os
import threading

import pytest
import trio
from pyfuse3 import FUSEError

from artfs.fs.layouts import Layouts
from artfs.fs.nodes import ARTIFACTS
from artfs.fs.reader import ChunkCache
from artfs.store import chunker, gc
from artfs.store.store import Store
from tests.conftest import write
from tests.test_ops_direct import CTX, commit_dir, drive, walk

pytestmark = pytest.mark.fast

BIG = 3 * 1024 * 1024  # several content-defined chunks


@pytest.fixture
def images(store, tmp_path) -> dict[str, bytes]:
    """``ds:v0``: 30 small files in 3 class directories and one multi-chunk shard."""
    files = {f"c{i % 3}/img{i:02d}.bin": os.urandom(1000 + 997 * i) for i in range(30)}
    files["shard.bin"] = os.urandom(BIG)
    for path, data in files.items():
        write(tmp_path / "src" / path, data)
    assert commit_dir(store, "ds", tmp_path / "src") == "ds:v0"
    return files


async def read_whole(ops, version: int, path: str, ctx=CTX) -> bytes:
    """lookup, open, read to the end, release: one sample of an epoch."""
    inode = await walk(ops, b"artifacts", b"ds", version, *path.encode().split(b"/"))
    fh = (await ops.open(inode, os.O_RDONLY, ctx)).fh
    try:
        parts, offset = [], 0
        while data := await ops.read(fh, offset, 128 * 1024):
            parts.append(bytes(data))
            offset += len(data)
        return b"".join(parts)
    finally:
        await ops.release(fh)


def counting(monkeypatch, store: Store, name: str) -> list:
    """Record the arguments of every call of ``store.name`` (a method or chunks.get)."""
    calls: list = []
    owner = store.chunks if name == "get" else store
    real = getattr(owner, name)

    def call(*args):
        calls.append(args[0])
        return real(*args)

    monkeypatch.setattr(owner, name, call)
    return calls


def test_reopening_a_shard_reads_its_chunk_list_once(store, images, monkeypatch):
    shard = store.lookup(store.resolve("ds:v0").root, b"shard.bin")
    assert len(store.file_chunks(shard)) > 1
    calls = counting(monkeypatch, store, "file_chunks")

    async def epochs(ops):
        return [await read_whole(ops, b"v0", "shard.bin") for _ in range(5)]

    assert drive(store, epochs) == [images["shard.bin"]] * 5
    assert [entry.digest for entry in calls] == [shard.digest]  # the first open only


def test_a_small_file_is_one_chunk_without_a_look_at_the_chunk_lists(store, images, monkeypatch):
    """No file under MIN_CHUNK has a chunk list (docs/format.md, section 3.3): a data
    loader's first open of one reads no LMDB record for it."""
    root = store.resolve("ds:v0").root
    small = store.lookup(root, b"c0/img00.bin")
    assert small.size < chunker.MIN_CHUNK
    looked = counting(monkeypatch, store, "_filemaps")
    assert store.file_chunks(small) == [(small.digest, small.size)]
    assert looked == []
    shard = store.lookup(root, b"shard.bin")
    assert len(store.file_chunks(shard)) > 1 and looked == [shard.digest]


def test_layouts_evict_the_least_recently_used_within_their_chunk_budget(store, images):
    root = store.resolve("ds:v0").root
    shard = store.lookup(root, b"shard.bin")
    smalls = [store.lookup(root, f"c{i % 3}/img{i:02d}.bin".encode()) for i in range(5)]
    budget = len(store.file_chunks(shard)) + 1
    layouts = Layouts(store, max_chunks=budget)
    first = layouts.of(smalls[0])
    assert layouts.of(shard).chunks == tuple(store.file_chunks(shard))
    layouts.of(smalls[1])  # the shard and two small files: over the budget by one
    assert len(layouts) == 2 and layouts._chunks <= budget  # smalls[0] went first
    assert layouts.of(smalls[0]) is not first  # made again, and the same
    assert layouts.of(smalls[0]).chunks == ((smalls[0].digest, smalls[0].size),)
    huge = Layouts(store, max_chunks=1)
    huge.of(shard)  # more chunks than the whole budget: used, never kept
    assert len(huge) == 0


def test_a_layout_is_forgotten_when_gc_may_delete_its_chunk_list(
    store, images, tmp_path, monkeypatch
):
    """The same content committed again after gc may be cut differently: a layout kept
    from before would name chunks gc deleted, and reads would fail."""

    async def steps(ops):
        looked_up = []
        inode = ARTIFACTS
        for name in (b"ds", b"v0", b"shard.bin"):
            inode = (await ops.lookup(inode, name, CTX)).st_ino
            looked_up.append(inode)
        fh = (await ops.open(inode, os.O_RDONLY, CTX)).fh
        assert bytes(await ops.read(fh, 0, 4096)) == images["shard.bin"][:4096]
        await ops.release(fh)
        await ops.forget([(i, 1) for i in looked_up])  # the kernel lets go: nothing held
        store.remove_version("ds:v0", force=True)
        gc.collect(store, held=ops.held_digests)
        ops.cache.close()  # and the old chunks are no longer in the chunk cache
        ops.cache = ChunkCache(store)
        monkeypatch.setattr(chunker, "MIN_CHUNK", 64 * 1024)
        monkeypatch.setattr(chunker, "AVG_CHUNK", 256 * 1024)
        write(tmp_path / "again" / "shard.bin", images["shard.bin"])
        assert commit_dir(store, "ds", tmp_path / "again") == "ds:v1"
        return await read_whole(ops, b"v1", "shard.bin")

    assert drive(store, steps) == images["shard.bin"]


def test_a_commit_leaves_every_version_reading_its_own_bytes(store, images, tmp_path):
    changed = os.urandom(5000)
    write(tmp_path / "src" / "c0" / "img00.bin", changed)

    async def steps(ops):
        before = await read_whole(ops, b"v0", "c0/img00.bin")
        assert commit_dir(store, "ds", tmp_path / "src") == "ds:v1"
        return (
            before,
            await read_whole(ops, b"v1", "c0/img00.bin"),
            await read_whole(ops, b"v0", "c0/img00.bin"),
        )

    assert drive(store, steps) == (images["c0/img00.bin"], changed, images["c0/img00.bin"])


def test_small_chunks_are_read_on_the_loop_and_large_ones_by_workers(store, images, monkeypatch):
    """A thread hop costs more than reading a small chunk; a large one must not hold up
    the loop."""
    where: list[tuple[bytes, str]] = []
    real = store.chunks.get

    def get(digest, *size):
        where.append((digest, threading.current_thread().name))
        return real(digest, *size)

    monkeypatch.setattr(store.chunks, "get", get)

    async def steps(ops):
        return await read_whole(ops, b"v0", "c1/img04.bin"), await read_whole(
            ops, b"v0", "shard.bin"
        )

    assert drive(store, steps) == (images["c1/img04.bin"], images["shard.bin"])
    root = store.resolve("ds:v0").root
    small = store.lookup(root, b"c1/img04.bin").digest
    shard = [d for d, _ in store.file_chunks(store.lookup(root, b"shard.bin"))]
    assert where[0] == (small, threading.main_thread().name)
    assert sorted(d for d, _ in where[1:]) == sorted(shard)  # each chunk once
    assert all(name.startswith("artfs-chunks") for _, name in where[1:])


def test_a_damaged_small_chunk_read_on_the_loop_fails_that_read_with_eio(store, images):
    entry = store.lookup(store.resolve("ds:v0").root, b"c2/img05.bin")
    path = store.chunks.path(entry.digest)
    os.chmod(path, 0o600)
    with open(path, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))

    async def steps(ops):
        with pytest.raises(FUSEError) as failed:
            await read_whole(ops, b"v0", "c2/img05.bin")
        return failed.value.errno, await read_whole(ops, b"v0", "c0/img00.bin")

    assert drive(store, steps) == (errno.EIO, images["c0/img00.bin"])


def test_readers_at_once_each_get_their_own_bytes_and_each_chunk_is_fetched_once(
    store, images, monkeypatch
):
    fetched = counting(monkeypatch, store, "get")
    order = sorted(images) * 3  # every file three times, by readers at once

    async def steps(ops):
        got: dict[int, bytes] = {}

        async def reader(start: int) -> None:
            for index in range(start, len(order), 8):
                got[index] = await read_whole(ops, b"v0", order[index])

        async with trio.open_nursery() as nursery:
            for start in range(8):
                nursery.start_soon(reader, start)
        return got

    got = drive(store, steps)
    assert [got[i] for i in range(len(order))] == [images[p] for p in order]
    assert len(fetched) == len(set(fetched))  # the chunk cache holds all of them
