"""Warming chunk files into the page cache ahead of a data loader's reads (fs/warm.py):
a hint reads one chunk file, a version opened often is warmed whole within a budget,
and the helper process goes away with the mount.  Whether a file is in the page
cache is asked of the kernel itself, with mincore(2), which reads nothing in."""

import itertools
import os
import threading
import time

import pytest
import trio

from artfs.fs import warm
from artfs.fs.warm import Warmer
from tests.conftest import resident, write
from tests.test_loader import images, read_whole  # noqa: F401 - a fixture
from tests.test_ops_direct import commit_dir, drive


def evict(paths: list[str]) -> None:
    """Drop the files from the page cache (written back first: dirty pages stay)."""
    os.sync()
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    assert not any(map(resident, paths)), "the kernel kept pages it was told to drop"


def wait_until(check, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def chunk_paths(store, ref: str) -> list[str]:
    return [store.chunks.path(d) for d, _ in store.version_chunks(store.resolve(ref))]


@pytest.fixture
def warmer(store):
    made = Warmer(store.chunks)
    yield made
    made.close()


@pytest.mark.usefixtures("images")
def test_a_hint_has_the_kernel_read_the_chunk_file(store, warmer):
    path = chunk_paths(store, "ds:v0")[0]
    evict([path])
    warmer.hint(bytes(32))  # no such chunk: skipped, the helper goes on
    warmer.hint(store.version_chunks(store.resolve("ds:v0")).__next__()[0])
    assert wait_until(lambda: resident(path))


@pytest.mark.usefixtures("images")
def test_bulk_warms_a_version_in_order_within_the_budget(store, warmer, monkeypatch):
    chunks = list(store.version_chunks(store.resolve("ds:v0")))
    paths = [store.chunks.path(d) for d, _ in chunks]
    monkeypatch.setattr(warm, "budget", lambda: sum(size for _, size in chunks[:10]))
    evict(paths)
    warmer.bulk(chunks)
    assert wait_until(lambda: all(map(resident, paths[:10])))
    time.sleep(0.3)  # what was written to the helper is done by now
    assert not any(map(resident, paths[10:]))


@pytest.mark.usefixtures("images")
def test_opening_many_files_of_a_version_warms_it_whole_once(store, tmp_path, monkeypatch):
    write(tmp_path / "other" / "a.bin", os.urandom(5000))
    assert commit_dir(store, "other", tmp_path / "other") == "other:v0"
    monkeypatch.setattr(warm, "BULK_AFTER", 3)
    opened = ["c0/img00.bin", "c1/img01.bin", "c2/img02.bin"]
    paths = chunk_paths(store, "ds:v0")
    others = chunk_paths(store, "other:v0")
    evict(paths + others)

    async def steps(ops):
        for path in opened[:2]:
            await read_whole(ops, b"v0", path)
        await trio.sleep(0.3)
        before = sum(map(resident, paths))  # the two files read, and nothing else
        await read_whole(ops, b"v0", opened[2])  # the third open: warm the version
        for _ in range(500):
            if all(map(resident, paths)) and ops.warmer.covered:
                break
            await trio.sleep(0.02)
        return before, ops.warmer.covered

    before, covered = drive(store, steps, lineage=True, warm=True)
    assert before == 2
    assert all(map(resident, paths)) and not any(map(resident, others))
    assert covered == {("ds", 0)}


@pytest.mark.usefixtures("images")
@pytest.mark.parametrize("fits", [True, False])
def test_lookups_hint_no_more_once_their_version_went_to_the_helper_whole(store, monkeypatch, fits):
    """A version whose every chunk the helper has been given needs no hint per lookup
    (a write to a pipe and a wakeup each); one too big for the budget still does."""
    chunks = list(store.version_chunks(store.resolve("ds:v0")))
    total = sum(size for _, size in chunks)
    monkeypatch.setattr(warm, "budget", lambda: total if fits else total // 2)
    monkeypatch.setattr(warm, "BULK_AFTER", 3)
    names = [f"c{i % 3}/img{i:02d}.bin" for i in range(30)]

    async def steps(ops):
        hinted: list[bytes] = []
        real = ops.warmer.hint
        ops.warmer.hint = lambda digest: hinted.append(digest) or real(digest)
        for path in names[:3]:  # the third open has the version warmed
            await read_whole(ops, b"v0", path)
        for _ in range(250):
            if ("ds", 0) in ops.warmer.covered or not fits:
                break
            await trio.sleep(0.02)
        await trio.sleep(0.1)  # the bulk, when it does not fit, is over by now
        before = len(hinted)
        for path in names[3:]:
            await read_whole(ops, b"v0", path)
        return before, len(hinted), ops.warmer.covered

    before, after, covered = drive(store, steps, lineage=True, warm=True)
    assert before == 3
    if fits:
        assert covered == {("ds", 0)} and after == before
    else:
        assert covered == set() and after == before + len(names) - 3


def test_closing_stops_the_helper_and_a_bulk_write_under_way(store, warmer, monkeypatch):
    monkeypatch.setattr(warm, "budget", lambda: 1 << 62)
    endless = ((i.to_bytes(32, "big"), 1) for i in itertools.count())  # never there
    writing = threading.Thread(target=warmer.bulk, args=(endless,))
    writing.start()
    time.sleep(0.2)
    warmer.close()
    writing.join(10)
    assert not writing.is_alive()
    assert warmer._helper.returncode is not None
