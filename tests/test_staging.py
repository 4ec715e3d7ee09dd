"""What counts as an uncommitted change of a staging (``changed_paths``): the staging
tree on disk against its base version, by name, type, mode, link target and content."""

import os

import pytest

from artfs.store.commit import Commit, Node
from artfs.store.staging import COW_XATTR, Staging, changed_paths, copy_up, few
from tests.conftest import read, write, write_sample_tree

pytestmark = pytest.mark.fast


@pytest.fixture
def staging(store, tmp_path):
    """Staging ``ds`` from ``ds:v0`` (files, a subdirectory, a link, an executable)."""
    src = tmp_path / "src"
    write_sample_tree(src)
    with Commit(store) as commit:
        version, _ = commit.publish("ds", commit.scan_dir(str(src), Node()))
    s = Staging(store, "ds")
    s.create(version)
    return s


def at(staging: Staging, rel: str) -> str:
    return os.path.join(staging.tree, rel)


def test_a_fresh_staging_and_one_only_touched_or_copied_in_are_unchanged(staging):
    assert changed_paths(staging) == []
    os.utime(at(staging, "a.txt"), (1, 1))  # times are not content
    os.utime(at(staging, "sub"), (1, 1))
    copy_up(staging.store, at(staging, "sub/b.bin"))  # real bytes now, the same ones
    assert COW_XATTR not in os.listxattr(at(staging, "sub/b.bin"))
    assert changed_paths(staging) == []


@pytest.mark.parametrize(
    "change, paths",
    [
        (lambda s: write(at(s, "new.txt"), "n"), ["new.txt"]),
        (lambda s: os.unlink(at(s, "a.txt")), ["a.txt"]),
        (
            lambda s: os.rename(at(s, "sub"), at(s, "moved")),
            ["moved", "moved/b.bin", "sub", "sub/b.bin"],
        ),
        (lambda s: os.chmod(at(s, "run.sh"), 0o644), ["run.sh"]),
        (lambda s: os.chmod(at(s, "sub"), 0o700), ["sub"]),
        (lambda s: (os.unlink(at(s, "link")), os.symlink("run.sh", at(s, "link"))), ["link"]),
        (lambda s: (os.unlink(at(s, "link")), write(at(s, "link"), "a.txt")), ["link"]),
        (lambda s: os.mkfifo(at(s, "fifo")), ["fifo"]),
        (lambda s: os.truncate(at(s, "a.txt"), 2), ["a.txt"]),  # a placeholder of another size
        (lambda s: os.setxattr(at(s, "a.txt"), COW_XATTR, bytes(32)), ["a.txt"]),  # other digest
    ],
)
def test_each_kind_of_change_is_named(staging, change, paths):
    change(staging)
    assert changed_paths(staging) == paths


def test_real_content_is_compared_by_digest(staging):
    path = at(staging, "a.txt")
    copy_up(staging.store, path)
    with open(path, "r+b") as f:  # same size, other bytes
        f.write(b"ALPHA")
    assert changed_paths(staging) == ["a.txt"]
    with open(path, "r+b") as f:
        f.write(b"alpha")
    assert read(path) == b"alpha" and changed_paths(staging) == []


def test_a_staging_without_a_base_is_unchanged_only_when_empty(store):
    s = Staging(store, "fresh")
    s.create()
    assert changed_paths(s) == []
    os.mkdir(at(s, "d"))
    write(at(s, "d/f"), "")
    assert changed_paths(s) == ["d", "d/f"]


def test_few_names_five_then_counts():
    assert few(["a"]) == "a"
    assert few([str(i) for i in range(5)]) == "0, 1, 2, 3, 4"
    assert few([str(i) for i in range(7)]) == "0, 1, 2, 3, 4 and 2 more"


def test_references_of_the_base_are_not_changes(store, tmp_path):
    """A staging never shows a version's references, so their absence is no change."""
    with Commit(store) as commit:
        node = Node()
        node[b"data.txt"] = commit.bytes_entry(b"data.txt", b"stored")
        node[b"ext"] = commit.reference_entry(b"ext", "file:///nowhere", 5, bytes(32))
        version, _ = commit.publish("refs", node)
    s = Staging(store, "refs")
    s.create(version)
    assert os.listdir(s.tree) == ["data.txt"]
    assert changed_paths(s) == []


def test_a_version_committed_from_a_staging_records_its_base(staging, store):
    write(at(staging, "new.txt"), "n")
    version, created = staging.commit()
    assert (version.label, created) == ("ds:v1", True)
    assert version.record["base"] == "ds:v0"
    assert store.resolve("ds:v0").record["base"] is None  # made from files, not a version
    assert staging.base["version"] == "ds:v1" and changed_paths(staging) == []
    write(at(staging, "newer.txt"), "n")
    assert staging.commit()[0].record["base"] == "ds:v1"
