"""The artfs command end to end, in subprocesses against a real store."""

import ast
import json
import os
import re
from pathlib import Path

import click
import pytest

import artfs
from artfs.cli import main as cli_main
from artfs.store.commit import Commit, Node
from artfs.store.staging import COW_XATTR
from artfs.store.store import Store
from tests.conftest import read, write

COMMANDS = ["put", "ls", "show", "get", "diff", "alias", "rm", "verify", "gc", "stats"]


def make_tree(root, seed: int = 0) -> None:
    write(root / "train.csv", "".join(f"{i},{i * seed}\n" for i in range(5000)))
    write(root / "img/a.bin", os.urandom(300_000))
    write(root / "img/b.bin", bytes(range(256)) * 100)
    os.makedirs(root / "empty", exist_ok=True)
    os.symlink("train.csv", root / "link")


def test_help_on_every_command(cli):
    top = cli("--help")
    assert top.code == 0
    for command in COMMANDS:
        assert command in top.out
        result = cli(command, "--help")
        assert result.code == 0 and "Usage:" in result.out, command


def test_put_ls_show_get_diff(cli, tmp_path):
    src = tmp_path / "src"
    make_tree(src, 1)
    first = cli("put", str(src), "--name", "ds", "--metadata", '{"rows": 5000}', "-m", "first")
    assert (first.code, first.out) == (0, "ds:v0\n")
    again = cli("put", str(src), "--name", "ds")
    assert again.out == "ds:v0\n" and "unchanged" in again.err
    write(src / "train.csv", "changed\n")
    write(src / "new.txt", "new")
    os.unlink(src / "img/b.bin")
    assert cli("put", str(src), "--name", "ds", "--alias", "best").out == "ds:v1\n"

    versions = json.loads(cli("ls", "ds", "--json").out)
    assert [v["version"] for v in versions] == ["v0", "v1"]
    assert versions[1]["aliases"] == ["latest", "best"]
    listing = json.loads(cli("ls", "--json").out)
    assert listing == [{"name": "ds", "type": "dataset", "versions": 2, "latest": "v1"}]

    shown = json.loads(cli("show", "ds:v0", "--json").out)
    assert shown["metadata"] == {"rows": 5000} and shown["message"] == "first"
    paths = {f["path"]: f["size"] for f in shown["contents"]}
    assert paths["img/a.bin"] == 300_000 and "link" in paths
    assert "ds:v0" in cli("show", "ds:v0").out

    changes = {
        c["path"]: c["status"] for c in json.loads(cli("diff", "ds:v0", "ds:best", "--json").out)
    }
    assert changes == {"train.csv": "modified", "new.txt": "added", "img/b.bin": "removed"}
    old_size = len("".join(f"{i},{i}\n" for i in range(5000)))  # train.csv of v0
    assert sorted(cli("diff", "ds:v0", "ds:best").out.splitlines()) == [
        "+ new.txt  3 B",
        "- img/b.bin  25.0 KiB",
        f"M train.csv  {old_size / 1024:.1f} KiB -> 8 B (-{(old_size - 8) / 1024:.1f} KiB)",
    ]

    dest = tmp_path / "out"
    assert cli("get", "ds:v1", str(dest)).code == 0
    assert read(dest / "train.csv") == b"changed\n"
    assert read(dest / "img/a.bin") == read(src / "img/a.bin")
    assert os.readlink(dest / "link") == "train.csv"
    assert os.path.isdir(dest / "empty") and not os.listdir(dest / "empty")
    refused = cli("get", "ds:v0", str(dest))
    assert refused.code == 1 and "not empty" in refused.err
    assert read(dest / "train.csv") == b"changed\n"


def test_put_single_file(cli, tmp_path):
    write(tmp_path / "model.pt", b"weights")
    assert cli("put", str(tmp_path / "model.pt"), "--name", "m", "--type", "model").code == 0
    shown = json.loads(cli("show", "m:latest", "--json").out)
    assert shown["type"] == "model" and [f["path"] for f in shown["contents"]] == ["model.pt"]


def test_alias_rm_gc_stats(cli, tmp_path, store_dir):
    src = tmp_path / "src"
    write(src / "big.bin", os.urandom(3_000_000))
    cli("put", str(src), "--name", "ds")
    write(src / "big.bin", os.urandom(2_000_000))
    cli("put", str(src), "--name", "ds")
    assert cli("alias", "ds:v0", "prod").out == "ds:prod -> ds:v0\n"
    refused = cli("rm", "ds:v0")
    assert refused.code == 1 and "prod" in refused.err
    assert cli("alias", "--rm", "ds", "prod").code == 0
    assert cli("alias", "--rm", "ds", "prod").code == 1
    stats_before = json.loads(cli("stats", "--json").out)
    assert stats_before["versions"] == 2 and stats_before["unique_bytes"] == 5_000_000
    assert cli("rm", "ds:v0").code == 0
    dry = json.loads(cli("gc", "--dry-run", "--json").out)
    assert dry["bytes"] >= 3_000_000 and dry["dry_run"]
    assert json.loads(cli("stats", "--json").out)["unique_bytes"] == 5_000_000
    freed = json.loads(cli("gc", "--json").out)
    assert freed["bytes"] == dry["bytes"]
    after = json.loads(cli("stats", "--json").out)
    assert after["unique_bytes"] == 2_000_000 and after["versions"] == 1
    assert cli("verify").code == 0
    dest = tmp_path / "out"
    assert cli("get", "ds:latest", str(dest)).code == 0
    assert read(dest / "big.bin") == read(src / "big.bin")


def test_dedup_across_artifacts_and_compression(cli, tmp_path):
    text = "".join(f"row {i}, value {i * 7 % 13}\n" for i in range(200_000)).encode()
    write(tmp_path / "a/data.txt", text)
    write(tmp_path / "b/copy.txt", text)
    cli("put", str(tmp_path / "a"), "--name", "one")
    second = cli("put", str(tmp_path / "b"), "--name", "two")
    assert "stored 0 new chunks" in second.err
    stats = json.loads(cli("stats", "--json").out)
    assert stats["logical_bytes"] == 2 * len(text) and stats["unique_bytes"] == len(text)
    assert stats["stored_bytes"] < len(text) / 3


def test_verify_selection(cli, tmp_path):
    write(tmp_path / "a/x.txt", "x")
    write(tmp_path / "b/y.txt", "y")
    cli("put", str(tmp_path / "a"), "--name", "one")
    cli("put", str(tmp_path / "b"), "--name", "two")
    assert json.loads(cli("verify", "one", "--json").out)["files"] == 1
    assert json.loads(cli("verify", "two:v0", "--json").out)["versions"] == 1
    assert json.loads(cli("verify", "--json").out)["versions"] == 2


@pytest.mark.fast
def test_stat_cache_skips_unchanged_files(store_dir, tmp_path, monkeypatch):
    src = tmp_path / "src"
    for i in range(20):
        write(src / f"f{i}.txt", f"content {i}")
    old = 1_000_000_000  # well outside the racy window
    for i in range(20):
        os.utime(src / f"f{i}.txt", (old, old))
    store = Store.open(store_dir)

    def commit() -> tuple[str, int, int]:
        """(version, files read, files opened)"""
        reads, opens = [], []
        original = Commit._ingest
        monkeypatch.setattr(Commit, "_ingest", lambda self, p: reads.append(p) or original(self, p))
        monkeypatch.setattr(os, "open", counting_open(opens))
        with Commit(store) as c:
            version, _ = c.publish("ds", c.scan_dir(str(src), Node()))
        monkeypatch.undo()
        return version.label, len(reads), sum(name.startswith(b"f") for name in opens)

    assert commit() == ("ds:v0", 20, 20)
    assert commit() == ("ds:v0", 0, 0)  # not even opened
    write(src / "f3.txt", "changed")
    os.utime(src / "f3.txt", (old + 5, old + 5))
    assert commit() == ("ds:v1", 1, 1)


def counting_open(opened: list):
    """os.open that records the names it opens."""
    real = os.open

    def counted(path, *args, **kwargs):
        opened.append(os.fsencode(path))
        return real(path, *args, **kwargs)

    return counted


@pytest.mark.parametrize("args", [["put"], ["get", "ds:v0"], ["diff", "a:v0"], ["nosuch"]])
def test_usage_errors_exit_2(cli, args):
    assert cli(*args).code == 2


# --- staging from the latest version, re-staging, unstage -----------------------------


def staged(store_dir, name: str):
    return os.path.join(store_dir, "staging", name, "tree")


def contents(cli, ref: str) -> dict[str, str]:
    shown = json.loads(cli("show", ref, "--json").out)
    return {f["path"]: f["digest"] for f in shown["contents"]}


def test_stage_starts_from_the_latest_version_without_copying(cli, tmp_path, store_dir):
    src = tmp_path / "src"
    make_tree(src, 1)
    cli("put", str(src), "--name", "ds")
    write(src / "train.csv", "second\n")
    assert cli("put", str(src), "--name", "ds").out == "ds:v1\n"

    result = cli("stage", "ds")
    assert result.code == 0, result.err
    assert "from ds:v1, the latest version" in result.err and "--empty" in result.err
    tree = staged(store_dir, "ds")
    assert read(os.path.join(tree, "train.csv")) != b"second\n"  # a placeholder: no bytes
    assert os.stat(os.path.join(tree, "img/a.bin")).st_blocks == 0
    assert os.getxattr(os.path.join(tree, "img/a.bin"), COW_XATTR) == bytes.fromhex(
        contents(cli, "ds:v1")["img/a.bin"]
    )
    write(os.path.join(tree, "added.txt"), "one more")
    assert cli("commit", "ds").out == "ds:v2\n"
    v1, v2 = contents(cli, "ds:v1"), contents(cli, "ds:v2")
    assert {p: d for p, d in v2.items() if p != "added.txt"} == v1  # nothing dropped
    assert set(v2) - set(v1) == {"added.txt"}


def test_stage_empty_and_new_names_start_empty(cli, tmp_path, store_dir):
    write(tmp_path / "src/a.txt", "a")
    cli("put", str(tmp_path / "src"), "--name", "ds")
    empty = cli("stage", "ds", "--empty")
    assert empty.code == 0 and "(empty)" in empty.err
    assert os.listdir(staged(store_dir, "ds")) == []
    fresh = cli("stage", "brand-new")
    assert fresh.code == 0 and "brand-new has no versions yet" in fresh.err
    assert os.listdir(staged(store_dir, "brand-new")) == []
    both = cli("stage", "ds", "--from", "v0", "--empty")
    assert both.code == 2 and len(both.err.splitlines()) == 1
    write(os.path.join(staged(store_dir, "ds"), "only.txt"), "only")
    assert cli("commit", "ds").out == "ds:v1\n"
    assert set(contents(cli, "ds:v1")) == {"only.txt"}
    assert json.loads(cli("show", "ds:v1", "--json").out)["base"] is None


def test_clean_staging_is_restaged_and_changed_one_refused(cli, tmp_path, store_dir):
    write(tmp_path / "src/a.txt", "version zero")
    cli("put", str(tmp_path / "src"), "--name", "ds")
    assert cli("stage", "ds").code == 0
    tree = staged(store_dir, "ds")
    write(os.path.join(tree, "b.txt"), "b")
    assert cli("commit", "ds").out == "ds:v1\n"

    again = cli("stage", "ds", "--from", "v0")  # clean right after the commit
    assert again.code == 0, again.err
    assert "replacing one with no uncommitted changes" in again.err
    assert sorted(os.listdir(tree)) == ["a.txt"]
    for i in range(8):
        write(os.path.join(tree, f"new{i}.txt"), "x")
    refused = cli("stage", "ds", "--from", "v1")
    assert refused.code == 1 and len(refused.err.splitlines()) == 1
    assert "new0.txt, new1.txt, new2.txt, new3.txt, new4.txt and 3 more" in refused.err
    assert "'artfs commit ds'" in refused.err and "'artfs unstage ds --force'" in refused.err
    assert len(os.listdir(tree)) == 9  # nothing lost
    assert json.loads(cli("show", "ds:v1", "--json").out)["base"] == "ds:v0"
    assert "  base     ds:v0" in cli("show", "ds:v1").out.splitlines()
    assert json.loads(cli("show", "ds:v0", "--json").out)["base"] is None


def test_unstage_refuses_changes_unless_forced(cli, tmp_path, store_dir):
    write(tmp_path / "src/a.txt", "a")
    write(tmp_path / "src/sub/b.txt", "b")
    cli("put", str(tmp_path / "src"), "--name", "ds")
    assert cli("stage", "ds").code == 0
    assert cli("unstage", "ds").code == 0  # unchanged: nothing to lose
    assert not os.path.exists(os.path.join(store_dir, "staging", "ds"))
    missing = cli("unstage", "ds")
    assert missing.code == 1 and "no staging named 'ds'" in missing.err

    assert cli("stage", "ds").code == 0
    tree = staged(store_dir, "ds")
    os.unlink(os.path.join(tree, "sub/b.txt"))
    os.chmod(os.path.join(tree, "a.txt"), 0o600)
    refused = cli("unstage", "ds")
    assert refused.code == 1 and len(refused.err.splitlines()) == 1
    assert "(a.txt, sub/b.txt)" in refused.err and "--force" in refused.err
    assert os.listdir(os.path.join(tree, "sub")) == []  # still there
    forced = cli("unstage", "ds", "--force")
    assert forced.code == 0, forced.err
    assert not os.path.exists(os.path.join(store_dir, "staging", "ds"))
    assert cli("stage", "ds").code == 0  # a new one, from the latest again
    assert sorted(os.listdir(staged(store_dir, "ds"))) == ["a.txt", "sub"]


# --- every 'artfs ...' the code suggests exists ------------------------------------------


def _strings(tree: ast.AST):
    """Every string literal as the user sees it: implicitly joined pieces are one string,
    f-string fields become {…}."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):
            yield (
                node.lineno,
                "".join(v.value if isinstance(v, ast.Constant) else "{…}" for v in node.values),
            )


def suggestions() -> list[tuple[str, str]]:
    """(where, the words after 'artfs') of every quoted 'artfs …' in the package."""
    found = []
    for path in sorted(Path(artfs.__file__).parent.rglob("*.py")):
        for line, text in _strings(ast.parse(path.read_text())):
            found += [
                (f"{path.name}:{line}", m.group(1)) for m in re.finditer(r"'artfs ([^']*)'", text)
            ]
    return found


def command_problem(words: list[str]) -> str | None:
    """Why ``artfs WORDS`` is not a command line of the CLI, or None if it is."""
    command, path, args = cli_main, ["artfs"], iter(words)
    for word in args:
        if word.startswith("-"):
            option = next(
                (
                    p
                    for p in command.params
                    if isinstance(p, click.Option)
                    and word.split("=")[0] in p.opts + p.secondary_opts
                ),
                None,
            )
            if option is None:
                return f"'{' '.join(path)}' has no option {word}"
            if not option.is_flag and "=" not in word:
                next(args, None)  # its value
        elif isinstance(command, click.Group):
            if word not in command.commands:
                return f"'{' '.join(path)}' has no command {word!r}"
            command = command.commands[word]
            path.append(word)
    if isinstance(command, click.Group) and not command.invoke_without_command:
        return f"'{' '.join(path)}' needs a command"
    return None


@pytest.mark.fast
def test_every_suggested_command_exists():
    found = suggestions()
    said = {words for _, words in found}
    # the scan itself works: it sees suggestions built in several ways
    assert {"gc", "runs ls", "unstage {…} --force", "umount {…}", "verify"} <= said
    assert command_problem(["nosuch"]) and command_problem(["runs"])
    assert command_problem(["unstage", "x", "--nope"]) and command_problem(["runs", "nope"])
    assert command_problem(["--store", "s", "stage", "x", "--from", "v1"]) is None
    wrong = [
        (where, words, problem)
        for where, words in found
        if (problem := command_problem(words.split()))
    ]
    assert wrong == []
