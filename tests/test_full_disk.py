"""A store on a disk that fills up: the mount goes on serving, lineage waits in memory
and is written once there is room, and every error names the full disk.

The disk is a small tmpfs of the test's own (root only, as CI runs)."""

import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import read, unmount, write

SIZE_MB = 48


@pytest.fixture
def small_disk(tmp_path):
    path = tmp_path / "disk"
    os.makedirs(path)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(path)], check=True
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path) -> str:
    """Take every free byte of the disk; returns the file to remove for room."""
    filler = os.path.join(path, "filler")
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
        except OSError:
            pass
    with open(filler, "ab", buffering=0) as f:  # the last few bytes too
        try:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
        except OSError:
            pass
    return filler


def artfs(store: str, *args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "artfs", "--store", store, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_a_full_disk_never_kills_the_mount_and_lineage_waits_for_room(small_disk, tmp_path):
    store = str(small_disk / "store")
    src = tmp_path / "src"
    for i in range(20):
        write(src / f"f{i}.txt", f"file {i}\n" * 100)
    assert artfs(store, "put", str(src), "--name", "ds").returncode == 0
    mount = str(tmp_path / "mnt")
    os.makedirs(mount)
    assert artfs(store, "mount", mount).returncode == 0
    try:
        filler = fill(small_disk)
        version = os.path.join(mount, "artifacts", "ds", "v0")
        for round_ in range(6):  # many runs' reads, each flushed within a second
            for i in range(20):
                done = subprocess.run(
                    ["cat", os.path.join(version, f"f{i}.txt")],
                    capture_output=True,
                    start_new_session=True,
                )
                assert done.stdout == f"file {i}\n".encode() * 100, (round_, i)
            time.sleep(0.5)
        assert os.listdir(version)  # still serving
        log = read(os.path.join(store, "logs", "mount.log")).decode()
        assert (
            "reads are kept in memory and written once they can be: the store's disk is full" in log
        )
        # a put on the full disk fails with one line naming the disk
        failed = artfs(store, "put", str(src), "--name", "other")
        assert failed.returncode == 1
        assert failed.stderr.count("\n") == 1 and "is full" in failed.stderr, failed.stderr
        os.unlink(filler)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            runs = json.loads(artfs(store, "runs", "ls", "--all", "--json").stdout)
            read_runs = [r for r in runs if r.get("implicit")]
            if read_runs:
                break
            time.sleep(0.5)
        assert read_runs, "the reads were written once there was room"
        shown = json.loads(artfs(store, "runs", "show", read_runs[0]["id"], "--json").stdout)
        assert "ds:v0" in json.dumps(shown)
        assert (
            "the reads kept in memory are written"
            in read(os.path.join(store, "logs", "mount.log")).decode()
        )
    finally:
        unmount(mount)


@pytest.mark.fast
def test_reads_kept_for_a_full_disk_are_merged_and_bounded(store, monkeypatch, caplog):
    from artfs.fs import attribution as attribution_mod

    monkeypatch.setattr(attribution_mod, "MAX_PENDING", 2)
    attribution = attribution_mod.Attribution(store)
    older = {
        ("r1", "ds", 0): attribution_mod.Edge({"a": 10}, 1.0, 2.0),
        ("r2", "ds", 0): attribution_mod.Edge({"b": 5}, 1.0, 2.0),
    }
    attribution._edges = {
        ("r1", "ds", 0): attribution_mod.Edge({"a": 1, "c": 3}, 3.0, 4.0),
        ("r3", "ds", 1): attribution_mod.Edge({"d": 7}, 3.0, 4.0),
    }
    with caplog.at_level("WARNING", logger="artfs.mount"):
        attribution.put_back([{"id": "r1"}], older)
    runs, edges = attribution.take_batch()
    assert runs == [{"id": "r1"}]
    assert edges[("r1", "ds", 0)].files == {"a": 11, "c": 3}  # summed, nothing counted twice
    assert edges[("r1", "ds", 0)].first == 1.0
    assert len(edges) == 2 and "dropped the reads of ds:v0 by run r2" in caplog.text
