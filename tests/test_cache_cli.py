"""'artfs cache' on a store with an S3 remote (moto, the session's ``s3_server``): the
use it shows, --limit, prune, the sizes in 'artfs stats', and two processes reading
through one cache at once."""

import json
import os
import random
import subprocess
import sys

import pytest

from tests.conftest import read, write

SIZE = 64 * 1024  # random, below the smallest chunk: one chunk file each, stored raw
STORED = 1 + SIZE


@pytest.fixture
def remote_url(s3_server, monkeypatch) -> str:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("ARTFS_OFFLINE", raising=False)
    return f"s3://{s3_server.bucket()}/team"


def files_of(seed: int, count: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {f"f{i}.bin": rng.randbytes(SIZE) for i in range(count)}


def chunk_bytes(store: str) -> int:
    total = 0
    for root, _, names in os.walk(os.path.join(store, "chunks")):
        total += sum(os.lstat(os.path.join(root, n)).st_size for n in names)
    return total


def use(cli) -> dict:
    result = cli("cache", "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def published_and_cloned(cli, tmp_path, remote_url: str, files: dict, limit: int) -> str:
    """Commit ``files`` as ds to the remote; → a clone's store with cache limit ``limit``."""
    for name, data in files.items():
        write(tmp_path / "src" / name, data)
    assert cli("remote", "add", remote_url).code == 0
    assert cli("put", str(tmp_path / "src"), "--name", "ds").code == 0
    clone = str(tmp_path / "clone")
    cloned = cli("clone", remote_url, clone, "--cache-size", str(limit))
    assert cloned.code == 0, cloned.err
    return clone


def test_cache_shows_limits_and_prunes(cli, store_dir, tmp_path, remote_url):
    files = files_of(1, 6)
    for name, data in files.items():
        write(tmp_path / "src" / name, data)
    put = cli("put", str(tmp_path / "src"), "--name", "ds")
    assert put.code == 0, put.err
    alone = cli("cache")
    assert alone.code == 2 and "no remote" in alone.err and "artfs remote add" in alone.err
    added = cli("remote", "add", remote_url, "--cache-size", f"{3 * STORED}")
    assert added.code == 0, added.err
    # pushed, so cache now: held to the limit at once
    assert use(cli) == {
        "cached_bytes": 3 * STORED,
        "cached_files": 3,
        "pinned_bytes": 0,
        "pinned_files": 0,
        "limit": 3 * STORED,
    }
    assert chunk_bytes(store_dir) == 3 * STORED
    got = cli("get", "ds", str(tmp_path / "out"))
    assert got.code == 0, got.err
    assert {n: read(tmp_path / "out" / n) for n in files} == files
    assert chunk_bytes(store_dir) <= 3 * STORED

    lowered = cli("cache", "--limit", f"{STORED}")
    assert lowered.code == 0, lowered.err
    assert "evicted 2 chunks" in lowered.out and "limit   64.0 KiB" in lowered.out
    assert chunk_bytes(store_dir) == STORED
    with open(os.path.join(store_dir, "remote.json")) as f:
        assert json.load(f)["cache_size"] == STORED

    pruned = cli("cache", "prune", "--to", "0")
    assert pruned.code == 0, pruned.err
    assert pruned.out.startswith("evicted 1 chunks")
    assert use(cli)["cached_bytes"] == 0 == chunk_bytes(store_dir)

    stats = cli("stats", "--json")
    assert stats.code == 0, stats.err
    sizes = json.loads(stats.out)
    assert sizes["local_bytes"] == 0 and sizes["remote_bytes"] >= 6 * STORED
    assert "remote bytes" in cli("stats").out

    assert cli("cache", "--limit", "none").code == 0
    no_limit = cli("cache", "prune")
    assert no_limit.code == 2 and "give --to SIZE" in no_limit.err
    bad = cli("cache", "--limit", "lots")
    assert bad.code == 2 and bad.err.count("\n") == 1 and "50G" in bad.err
    assert use(cli)["limit"] is None


def test_two_processes_read_through_one_cache(cli, store_dir, tmp_path, remote_url):
    files = files_of(2, 12)
    limit = 4 * STORED
    clone = published_and_cloned(cli, tmp_path, remote_url, files, limit)

    readers = [
        subprocess.Popen(
            [sys.executable, "-m", "artfs", "--store", clone, "get", "ds", str(tmp_path / f"o{i}")],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for reader in readers:
        _, err = reader.communicate(timeout=300)
        assert reader.returncode == 0, err
    for i in range(2):
        assert {n: read(tmp_path / f"o{i}" / n) for n in files} == files
    shown = cli("--store", clone, "cache", "--json")
    assert shown.code == 0, shown.err
    held = json.loads(shown.out)
    assert held["cached_bytes"] == chunk_bytes(clone) <= limit
    assert held["cached_files"] == limit // STORED


def test_fetch_caches_a_version_ahead_and_refuses_what_the_limit_cannot_hold(
    cli, store_dir, tmp_path, remote_url, s3_server
):
    files = files_of(3, 12)
    clone = published_and_cloned(cli, tmp_path, remote_url, files, 4 * STORED)

    refused = cli("--store", clone, "fetch", "ds")
    assert refused.code == 2 and refused.err.count("\n") == 1
    assert "more than its limit" in refused.err and "artfs cache --limit" in refused.err
    assert chunk_bytes(clone) == 0  # nothing fetched

    assert cli("--store", clone, "cache", "--limit", "none").code == 0
    s3_server.reset_counts()
    fetched = cli("--store", clone, "fetch", "ds:v0", "ds", "--json")
    assert fetched.code == 0, fetched.err
    done = json.loads(fetched.out)
    assert done["versions"] == ["ds:v0"] and done["chunks"] == 12
    gets = s3_server.counts()["GET-RANGE"]
    assert gets == done["requests"] == 1  # one pack, one ranged GET
    assert chunk_bytes(clone) == 12 * STORED

    s3_server.reset_counts()
    got = cli("--store", clone, "get", "ds", str(tmp_path / "out"))
    assert got.code == 0, got.err
    assert {n: read(tmp_path / "out" / n) for n in files} == files
    assert s3_server.counts()["GET-RANGE"] == 0  # read from the cache alone
    again = cli("--store", clone, "fetch", "ds")
    assert again.code == 0 and "cached here already" in again.out

    alone = cli("fetch", "nope")  # the first store has the remote too: a missing name
    assert alone.code != 0 and alone.err.count("\n") == 1
