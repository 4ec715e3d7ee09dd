"""Names, aliases and version numbers on the command line.

Every refused command must exit 1 or 2 with exactly one ``artfs: error:`` line
on stderr and leave the store as it was: the same ``artfs ls --json``, the same
metadata records and the same chunk files.  The helpers here are shared with
test_bad_input.py.
"""

import json
import os
import random
import shutil
import subprocess
import sys

import lmdb
import pytest

from artfs.store import meta
from tests.conftest import Result, write

# --- shared helpers ----------------------------------------------------------------------


def run(store: str, *args: str) -> Result:
    """The CLI on an explicit store, for module-scoped fixtures (no ``cli`` there)."""
    env = {k: v for k, v in os.environ.items() if k not in ("ARTFS_RUN_ID", "ARTFS_HOME")}
    proc = subprocess.run(
        [sys.executable, "-m", "artfs", "--store", store, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def ok(result: Result) -> Result:
    assert result.code == 0, result.err
    return result


def make_template(root) -> str:
    """A store with ds:v0, ds:v1 (alias 'best'), ds:v2, and model:v0 of type model."""
    store, src = str(root / "store"), root / "src"
    rnd = random.Random(42)
    write(src / "a.txt", rnd.randbytes(3000))
    write(src / "sub/b.bin", rnd.randbytes(300_000))
    ok(run(store, "put", str(src), "--name", "ds", "-m", "first"))
    write(src / "a.txt", rnd.randbytes(3000))
    ok(run(store, "put", str(src), "--name", "ds", "--alias", "best"))
    write(src / "sub/c.txt", b"third")
    ok(run(store, "put", str(src), "--name", "ds", "--metadata", '{"rows": 3}'))
    write(root / "model/weights.bin", rnd.randbytes(5000))
    ok(run(store, "put", str(root / "model"), "--name", "model", "--type", "model"))
    return store


def dump_meta(store: str) -> dict:
    """Every record of every named database, read without a lock."""
    env = lmdb.open(
        os.path.join(store, "meta"),
        readonly=True,
        lock=False,
        max_dbs=len(meta.DBS) + 1,
        subdir=True,
    )
    try:
        out = {}
        with env.begin() as txn:
            for name in meta.DBS:
                db = env.open_db(name.encode(), txn=txn, create=False)
                out[name] = dict(txn.cursor(db))
        return out
    finally:
        env.close()


def chunk_files(store: str) -> list[tuple[str, int]]:
    root = os.path.join(store, "chunks")
    return sorted(
        (os.path.relpath(os.path.join(d, f), root), os.path.getsize(os.path.join(d, f)))
        for d, _, files in os.walk(root)
        for f in files
    )


def store_state(store: str) -> dict:
    listing = ok(run(store, "ls", "--json"))
    return {"ls": json.loads(listing.out), "meta": dump_meta(store), "chunks": chunk_files(store)}


def assert_refused(result: Result, codes=(1, 2)) -> str:
    """Exit 1 or 2, nothing on stdout, one 'artfs: error:' line on stderr; returns it."""
    assert result.code in codes, result
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("artfs: error: "), result.err
    assert result.err == lines[0] + "\n", repr(result.err)
    assert result.out == "", result.out
    return lines[0]


def copy_store(template: str, dest: str) -> None:
    shutil.copytree(template, dest, ignore=shutil.ignore_patterns("lock.mdb"))


@pytest.fixture
def src(tmp_path):
    """A directory with content the store does not hold yet."""
    path = tmp_path / "src"
    rnd = random.Random()
    for i in range(4):
        write(path / f"f{i}.bin", rnd.randbytes(2000 + i))
    write(path / "big.bin", rnd.randbytes(600_000))
    return str(path)


# --- invalid names -------------------------------------------------------------------------

BAD_NAMES = [
    "",
    "a/b",
    "/abs",
    ".",
    "..",
    "../ds",
    "a:b:c",
    ":v1",
    "ds:",
    "a\x01b",
    "a\nb",
    "a\tb",
    "a b",
    "d\u015b",
    "x" * 129,
]
BAD_ALIASES = ["", "a/b", "..", "a:b:c", ":v1", "a\x01b", "x" * 129, "v0", "v3", "v12"]


def refusals(cli, commands, codes=(2,), says: str | dict | None = None) -> list[str]:
    """Run each command; the ones not refused as they should be, with why.

    ``says`` is a text every error line must contain, or a map from an
    argument to a text that the error line of a command with that argument must contain.
    """
    problems = []
    for args in commands:
        try:
            line = assert_refused(cli(*args), codes)
            wanted = {args[0]: says} if isinstance(says, str) else (says or {})
            for arg, text in wanted.items():
                assert arg not in args or text in line, f"{text!r} not in {line!r}"
        except AssertionError as e:
            problems.append(f"{args!r}: {e}")
    return problems


NAME_COMMANDS = {
    "put": lambda bad, src: ["put", src, "--name", bad],
    "show": lambda bad, src: ["show", bad],
    "ls": lambda bad, src: ["ls", bad],
    "alias-ref": lambda bad, src: ["alias", f"{bad}:v0", "x"],
    "rm": lambda bad, src: ["rm", f"{bad}:v0"],
}


@pytest.mark.parametrize("command", NAME_COMMANDS.values(), ids=NAME_COMMANDS.keys())
def test_invalid_artifact_names_are_refused(cli, store_dir, seeded, src, command):
    # 'artfs ls ""' is plain 'artfs ls'; the other commands take every name.
    names = BAD_NAMES if command(":", src)[0] in ("put", "show") else BAD_NAMES[1::2]
    assert refusals(cli, [command(bad, src) for bad in names]) == []
    assert store_state(store_dir) == seeded


def test_invalid_aliases_are_refused(cli, store_dir, seeded):
    commands = [["alias", "ds:v0", bad] for bad in BAD_ALIASES]
    commands += [["alias", "--rm", "ds", bad] for bad in BAD_ALIASES[:4]]
    version_like = {v: "looks like a version" for v in ("v0", "v3", "v12")}
    assert refusals(cli, commands, says=version_like) == []
    assert store_state(store_dir) == seeded


def test_invalid_refs_in_any_command_are_refused(cli, store_dir, seeded, tmp_path):
    dest = str(tmp_path / "dest")
    commands = [
        ["get", "a:b:c", dest],
        ["rm", "ds"],  # rm needs an explicit version
        ["alias", "ds", "x"],  # so does alias
        ["diff", "ds:v0", ":v1"],
        ["diff", "a/b", "ds:v0"],
        ["verify", "x" * 129],
        ["show", "ds:v1:v2"],
        ["show", "ds:a/b"],
    ]
    assert refusals(cli, commands) == []
    assert not os.path.exists(dest)
    assert store_state(store_dir) == seeded


BAD_PUTS = {
    "type": ["--name", "ds", "--type", "a/b"],
    "alias": ["--name", "ds", "--alias", "v3"],
    "name-with-version": ["--name", "ds:v1"],
    "name-with-alias": ["--name", "new:best"],
}


@pytest.mark.parametrize("args", BAD_PUTS.values(), ids=BAD_PUTS.keys())
def test_put_with_invalid_name_stores_nothing(cli, store_dir, seeded, src, args):
    """Refused before anything is read: no chunk of src may reach the store."""
    assert_refused(cli("put", src, *args), codes=(2,))
    assert store_state(store_dir) == seeded


def test_longest_and_punctuated_names_are_accepted(cli, seeded, src):
    for name in ["x" * 128, "my-data_set.2024", "A.b-C_d"]:
        assert ok(cli("put", src, "--name", name)).out == f"{name}:v0\n"
        assert ok(cli("show", f"{name}:v0")).out.startswith(f"{name}:v0")


# --- alias rules ---------------------------------------------------------------------------


def versions(cli, name: str) -> dict[str, list[str]]:
    """'vN' -> aliases, from ``artfs ls NAME --json``."""
    return {v["version"]: v["aliases"] for v in json.loads(ok(cli("ls", name, "--json")).out)}


def test_alias_latest_is_refused(cli, store_dir, seeded):
    for ref in ("ds:v0", "ds:v2", "ds:best"):
        line = assert_refused(cli("alias", ref, "latest"), codes=(1,))
        assert "latest" in line
    assert store_state(store_dir) == seeded


def test_alias_moves_and_is_removed(cli, seeded):
    assert ok(cli("alias", "ds:v0", "best")).out == "ds:best -> ds:v0\n"
    assert versions(cli, "ds") == {"v0": ["best"], "v1": [], "v2": ["latest"]}
    ok(cli("alias", "--rm", "ds", "best"))
    assert versions(cli, "ds") == {"v0": [], "v1": [], "v2": ["latest"]}
    assert_refused(cli("alias", "--rm", "ds", "best"), codes=(1,))


def test_rm_of_version_with_user_alias_needs_force(cli, store_dir, seeded):
    for ref in ("ds:v1", "ds:best"):
        line = assert_refused(cli("rm", ref), codes=(1,))
        assert "best" in line and "--force" in line
    assert store_state(store_dir) == seeded

    ok(cli("rm", "ds:v1", "--force"))
    assert versions(cli, "ds") == {"v0": [], "v2": ["latest"]}
    assert "best" in assert_refused(cli("show", "ds:best"), codes=(1,))
    assert "v1" in assert_refused(cli("show", "ds:v1"), codes=(1,))


def test_rm_latest_moves_latest_to_previous_version(cli, seeded):
    ok(cli("rm", "ds:latest"))
    assert versions(cli, "ds") == {"v0": [], "v1": ["latest", "best"]}
    assert json.loads(ok(cli("show", "ds", "--json")).out)["version"] == "v1"
    listing = {a["name"]: a for a in json.loads(ok(cli("ls", "--json")).out)}
    assert listing["ds"]["latest"] == "v1" and listing["ds"]["versions"] == 2
    # The new latest holds a user alias: removing it through 'latest' is refused too.
    assert_refused(cli("rm", "ds:latest"), codes=(1,))
    ok(cli("rm", "ds:latest", "--force"))
    assert versions(cli, "ds") == {"v0": ["latest"]}


def test_version_numbers_are_never_reused(cli, seeded, src, tmp_path):
    old_v2 = str(tmp_path / "old_v2")
    ok(cli("get", "ds:v2", old_v2))
    ok(cli("rm", "ds:v2"))
    # The removed version's content comes back under a new number.
    assert ok(cli("put", old_v2, "--name", "ds")).out == "ds:v3\n"
    ok(cli("rm", "ds:v3"))
    assert ok(cli("put", src, "--name", "ds")).out == "ds:v4\n"
    # Even with no version left, numbering continues.
    for ref in ("ds:v0", "ds:v1", "ds:v4"):
        ok(cli("rm", ref, "--force"))
    assert versions(cli, "ds") == {}
    assert_refused(cli("show", "ds"), codes=(1,))
    assert ok(cli("put", src, "--name", "ds")).out == "ds:v5\n"
    assert versions(cli, "ds") == {"v5": ["latest"]}
