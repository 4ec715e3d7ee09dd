"""Bad input of every kind: one 'artfs: error:' line, exit 1 or 2, and no change to the store."""

import json
import os
import random
import socket

import lmdb
import pytest

from artfs.store import meta
from tests.conftest import write
from tests.test_names import (
    assert_refused,
    chunk_files,
    dump_meta,
    ok,
    refusals,
    store_state,
)


@pytest.fixture
def src(tmp_path):
    """A directory with content the store does not hold yet."""
    path = tmp_path / "src"
    rnd = random.Random()
    for i in range(6):
        write(path / f"f{i}.bin", rnd.randbytes(2000 + i))
    return str(path)


# --- things that do not exist ----------------------------------------------------------

MISSING = {
    "artifact": (
        "nosuch",
        [
            ["show", "nosuch"],
            ["ls", "nosuch"],
            ["get", "nosuch", "{dest}"],
            ["rm", "nosuch:v0"],
            ["alias", "nosuch:v0", "x"],
            ["alias", "--rm", "nosuch", "x"],
            ["diff", "ds", "nosuch:v0"],
            ["verify", "nosuch"],
            ["show", "nosuch:best"],
        ],
    ),
    "version": (
        "v9",
        [
            ["show", "ds:v9"],
            ["get", "ds:v9", "{dest}"],
            ["rm", "ds:v9"],
            ["alias", "ds:v9", "x"],
            ["diff", "ds:v0", "ds:v9"],
            ["verify", "ds:v9"],
            ["show", "model:v9"],
        ],
    ),
    "alias": (
        "nope",
        [
            ["show", "ds:nope"],
            ["get", "ds:nope", "{dest}"],
            ["rm", "ds:nope"],
            ["alias", "ds:nope", "x"],
            ["alias", "--rm", "ds", "nope"],
            ["diff", "ds:nope", "ds:v0"],
            ["verify", "ds:nope"],
            ["show", "model:nope"],
        ],
    ),
}


@pytest.mark.parametrize("missing", MISSING.values(), ids=MISSING.keys())
def test_unknown_artifact_version_or_alias(cli, store_dir, seeded, tmp_path, missing):
    word, commands = missing
    dest = str(tmp_path / "dest")
    commands = [[a.format(dest=dest) for a in args] for args in commands]
    assert refusals(cli, commands, codes=(1,), says=word) == []
    assert not os.path.exists(dest)
    assert store_state(store_dir) == seeded


def test_an_alias_of_another_artifact_is_unknown(cli, seeded):
    # 'best' is an alias of ds, not of model.
    assert "best" in assert_refused(cli("show", "model:best"), codes=(1,))


def test_put_of_a_missing_path(cli, store_dir, seeded, tmp_path):
    missing = str(tmp_path / "no" / "such")
    assert missing in assert_refused(cli("put", missing, "--name", "ds"), codes=(1,))
    assert store_state(store_dir) == seeded


def test_put_of_a_missing_path_creates_no_store(cli, store_dir, tmp_path):
    assert_refused(cli("put", str(tmp_path / "nothing"), "--name", "ds"), codes=(1,))
    assert not os.path.exists(store_dir)


# --- special files -----------------------------------------------------------------------


def make_special(path: str, kind: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    else:
        assert len(path) < 100, "unix socket paths are limited to 107 bytes"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.bind(path)  # the socket file stays after close


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_special_file_in_a_directory_is_refused(cli, store_dir, seeded, src, kind):
    special = os.path.join(src, "sub", "sp")
    make_special(special, kind)
    line = assert_refused(cli("put", src, "--name", "ds"), codes=(1, 2))
    assert special in line and "--skip-special" in line
    assert store_state(store_dir) == seeded


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_special_file_as_the_path_is_refused(cli, store_dir, seeded, tmp_path, kind):
    special = str(tmp_path / "sp")
    make_special(special, kind)
    assert special in assert_refused(cli("put", special, "--name", "ds"), codes=(1, 2))
    assert store_state(store_dir) == seeded


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_skip_special_leaves_it_out(cli, seeded, src, tmp_path, kind):
    special = os.path.join(src, "sub", "sp")
    make_special(special, kind)
    write(os.path.join(src, "sub", "kept.txt"), b"kept")
    put = ok(cli("put", src, "--name", "ds", "--skip-special"))
    assert put.out == "ds:v3\n"
    warnings = [line for line in put.err.splitlines() if line.startswith("artfs: warning:")]
    assert len(warnings) == 1 and special in warnings[0], put.err
    assert "artfs: error" not in put.err

    contents = json.loads(ok(cli("show", "ds:v3", "--json")).out)["contents"]
    paths = {c["path"] for c in contents}
    assert paths == {f"f{i}.bin" for i in range(6)} | {"sub/kept.txt"}
    dest = tmp_path / "dest"
    ok(cli("get", "ds:v3", str(dest)))
    assert sorted(os.listdir(dest / "sub")) == ["kept.txt"]


# --- --metadata --------------------------------------------------------------------------

BAD_METADATA = [
    "not json",
    "{'rows': 1}",
    '{"rows": }',
    "{",
    "[1, 2]",
    '"text"',
    "42",
    "null",
    "true",
]


def test_metadata_must_be_a_json_object(cli, store_dir, seeded, src):
    commands = [["put", src, "--name", "ds", "--metadata", bad] for bad in BAD_METADATA]
    assert refusals(cli, commands, codes=(2,)) == []
    assert "--metadata" in cli("put", src, "--name", "ds", "--metadata", "[1]").err
    assert store_state(store_dir) == seeded


@pytest.mark.parametrize("value", ['{"x": NaN}', '{"x": [Infinity]}'])
def test_metadata_that_json_cannot_store_stores_nothing(cli, store_dir, seeded, src, value):
    """Python's json reads NaN, but records are strict JSON: refused before any chunk is written."""
    assert_refused(cli("put", src, "--name", "ds", "--metadata", value), codes=(2,))
    assert store_state(store_dir) == seeded


# --- stores this artfs cannot use -----------------------------------------------------------

ALL_COMMANDS = [
    ["ls"],
    ["ls", "ds"],
    ["show", "ds"],
    ["get", "ds", "{dest}"],
    ["put", "{src}", "--name", "ds"],
    ["alias", "ds:v0", "x"],
    ["rm", "ds:v0"],
    ["diff", "ds:v0", "ds:v1"],
    ["verify"],
    ["gc"],
    ["stats"],
]


def set_format(store: str, value: bytes) -> None:
    env = lmdb.open(os.path.join(store, "meta"), max_dbs=len(meta.DBS) + 1, subdir=True)
    try:
        info = env.open_db(b"info")
        with env.begin(write=True) as txn:
            txn.put(b"format", value, db=info)
    finally:
        env.close()


def test_newer_store_format_is_refused(cli, store_dir, seeded, src, tmp_path):
    set_format(store_dir, b"99")
    before = dump_meta(store_dir), chunk_files(store_dir)
    dest = str(tmp_path / "dest")
    commands = [[a.format(src=src, dest=dest) for a in args] for args in ALL_COMMANDS]
    assert refusals(cli, commands, codes=(1,), says="upgrade") == []
    assert not os.path.exists(dest)
    assert (dump_meta(store_dir), chunk_files(store_dir)) == before
    # Nothing else was touched: with the marker back, the store is as it was.
    set_format(store_dir, str(meta.FORMAT_VERSION).encode())
    assert store_state(store_dir) == seeded


def garbage(kind: str, original: bytes) -> bytes:
    rnd = random.Random(kind)
    if kind == "random":
        return rnd.randbytes(len(original))
    if kind == "zeros":
        return bytes(len(original))
    if kind == "short":
        return rnd.randbytes(100)
    # "pages": the two meta pages intact, every page after them garbage
    return original[:8192] + rnd.randbytes(len(original) - 8192)


@pytest.mark.parametrize("kind", ["random", "zeros", "short", "pages"])
def test_damaged_store_is_one_line_error(cli, store_dir, seeded, src, tmp_path, kind):
    data_mdb = os.path.join(store_dir, "meta", "data.mdb")
    with open(data_mdb, "rb") as f:
        damaged = garbage(kind, f.read())
    with open(data_mdb, "wb") as f:
        f.write(damaged)
    chunks = chunk_files(store_dir)
    dest = str(tmp_path / "dest")
    commands = [["ls"], ["show", "ds"], ["put", src, "--name", "ds"], ["get", "ds", dest], ["gc"]]
    assert refusals(cli, commands, codes=(1,)) == []
    with open(data_mdb, "rb") as f:
        assert f.read() == damaged, "the damaged metadata was overwritten"
    assert chunk_files(store_dir) == chunks
    assert not os.path.exists(dest)


def test_truncated_metadata_is_damage_not_an_empty_store(cli, store_dir, seeded):
    """An emptied data.mdb must not pass for a new, empty store: gc would then free every chunk."""
    data_mdb = os.path.join(store_dir, "meta", "data.mdb")
    open(data_mdb, "wb").close()
    chunks = chunk_files(store_dir)
    assert refusals(cli, [["ls"], ["gc"]], codes=(1,)) == []
    assert chunk_files(store_dir) == chunks
