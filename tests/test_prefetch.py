"""Fetching ahead of readers (Remote.prefetch, restore.fetch_plan): a version's missing
chunks come in a few ranged GETs, by pack, checked, into the cache; an export does it
first.  In process, as tests/test_remote.py: stores on one in-memory remote."""

import random

import pytest

from artfs.errors import CorruptData
from artfs.store import remote as remote_mod
from artfs.store.packs import Location, pack_key
from artfs.store.remote import _runs
from artfs.store.restore import export, fetch_plan
from artfs.store.store import Store
from tests.test_cache import on_disk, with_limit
from tests.test_remote import Team, commit, content

pytestmark = pytest.mark.fast

SIZE = 64 * 1024  # random: one raw chunk per file
STORED = 1 + SIZE


@pytest.fixture
def team(tmp_path) -> Team:
    return Team(tmp_path)


def files_of(seed: int, count: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {f"d{i % 3}/f{i}.bin": rng.randbytes(SIZE) for i in range(count)}


def ranged_gets(team: Team) -> list[tuple[str, int, int | None]]:
    """From now on, each GET of the remote's objects: (key, start, length)."""
    calls: list[tuple[str, int, int | None]] = []
    real_get = team.objects.get

    def counted(key: str, start: int = 0, length: int | None = None) -> bytes:
        calls.append((key, start, length))
        return real_get(key, start, length)

    team.objects.get = counted  # type: ignore[method-assign]
    return calls


def machines(team: Team, files: dict[str, bytes]) -> tuple[Store, Store]:
    a, b = team.machine(), team.machine()
    commit(a, "ds", files)
    b.refresh()
    return a, b


def test_a_version_comes_in_one_ranged_get_per_run_of_a_pack(team):
    files = files_of(1, 40)
    _, b = machines(team, files)
    assert b.remote is not None
    plan = fetch_plan(b, b.resolve("ds"))
    assert len(plan) == 40
    gets = ranged_gets(team)
    done = b.remote.prefetch(plan)
    assert (done.chunks, done.requests) == (40, 1)  # one pack: one GET
    assert len(gets) == 1 and gets[0][0].startswith("packs/")
    assert done.bytes == 40 * STORED
    assert content(b, "ds") == files  # and reading needs no request more
    assert len(gets) == 1
    assert fetch_plan(b, b.resolve("ds")) == []  # all here


def test_runs_split_at_packs_and_at_wide_gaps():
    p, q = b"p" * 32, b"q" * 32
    gap = remote_mod.PREFETCH_GAP
    wanted = [
        (b"3", Location(p, 100 + gap + 50, 10, 0)),
        (b"1", Location(p, 0, 100, 0)),
        (b"2", Location(p, 100 + gap - 1, 50, 0)),  # just under the gap after 1: same run
        (b"4", Location(q, 0, 10, 0)),
        (b"5", Location(p, 100 + gap + 60 + gap, 5, 0)),  # a whole gap after 3: a new run
    ]
    assert [[d for d, _ in run] for run in _runs(wanted)] == [[b"1", b"2", b"3"], [b"5"], [b"4"]]


def test_an_export_fetches_ahead_then_writes_locally(team, tmp_path):
    files = files_of(2, 30)
    _, b = machines(team, files)
    gets = ranged_gets(team)
    export(b, b.resolve("ds"), str(tmp_path / "out"))
    assert len(gets) == 1
    assert {p: (tmp_path / "out" / p).read_bytes() for p in files} == files


def test_the_plan_leaves_out_files_already_written_and_what_the_cache_cannot_hold(team, tmp_path):
    files = files_of(3, 10)
    _, b = machines(team, files)
    version = b.resolve("ds")
    out = tmp_path / "out"
    (out / "d0").mkdir(parents=True)
    (out / "d0" / "f0.bin").write_bytes(files["d0/f0.bin"])
    (out / "d1").mkdir()
    (out / "d1" / "f1.bin").write_bytes(b"short")  # another size: fetched
    assert len(fetch_plan(b, version, str(out))) == 9
    with_limit(b, 2 * 9 * STORED - 1)  # half of it is less than the plan: fetch lazily
    assert fetch_plan(b, version, str(out)) == []
    with_limit(b, 2 * 9 * STORED)
    assert len(fetch_plan(b, version, str(out))) == 9
    export(b, version, str(out))
    assert {p: (out / p).read_bytes() for p in files} == files


def test_a_damaged_chunk_is_left_for_its_reader_to_name(team):
    files = files_of(4, 5)
    _, b = machines(team, files)
    assert b.remote is not None
    plan = fetch_plan(b, b.resolve("ds"))
    victim, where = max(plan, key=lambda item: item[1].offset)  # the last in its pack
    key = pack_key(where.pack)
    blob = bytearray(team.objects.get(key))
    blob[where.offset + 10] ^= 0xFF
    team.objects.put(key, bytes(blob))
    done = b.remote.prefetch(plan)
    assert done.chunks == 4
    assert victim not in on_disk(b)
    with pytest.raises(CorruptData, match="damaged on the remote"):
        content(b, "ds")


def test_chunks_another_thread_is_fetching_are_not_fetched_twice(team):
    files = files_of(5, 6)
    _, b = machines(team, files)
    assert b.remote is not None
    plan = fetch_plan(b, b.resolve("ds"))
    busy = plan[0][0]
    with b.remote._fetch_lock:  # a reader's fetch of the first chunk is under way
        b.remote._fetching[busy] = remote_mod.threading.Event()
    try:
        done = b.remote.prefetch(plan)
    finally:
        with b.remote._fetch_lock:
            b.remote._fetching.pop(busy).set()
    assert done.chunks == 5 and busy not in on_disk(b)
    assert content(b, "ds") == files  # the reader's own fetch brings it


def test_the_plan_of_one_file_or_directory_holds_its_chunks_alone(team):
    files = files_of(6, 9)
    _, b = machines(team, files)
    version = b.resolve("ds")
    one = fetch_plan(b, version, only=b"d0/f3.bin")
    assert [d for d, _ in one] == [
        c for c, _ in b.file_chunks(b.lookup(version.root, b"d0/f3.bin"))
    ]
    under = fetch_plan(b, version, only=b"d1")
    assert len(under) == len([p for p in files if p.startswith("d1/")]) == 3
    assert len(fetch_plan(b, version, prefix=b"d2/f")) == 3
