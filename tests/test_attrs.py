"""File times beside the content tree (artfs/store/attrs.py): encoding, what a commit
writes, that times are not content, and that gc and verify know them."""

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from artfs.errors import CorruptData
from artfs.store import attrs, meta
from artfs.store import gc as gc_mod
from artfs.store.commit import Commit
from artfs.store.store import Store
from artfs.store.tree import DIR
from artfs.store.verify import verify
from tests.conftest import write

pytestmark = pytest.mark.fast

NS = st.integers(-(2**63), 2**63 - 1)
DIRS = st.builds(attrs.DirAttrs, st.integers(0, 2**32 - 1), st.binary(min_size=32, max_size=32))


@given(st.lists(NS, max_size=50), st.lists(DIRS, max_size=10))
def test_round_trip(mtimes, dirs):
    decoded = attrs.decode(attrs.encode(mtimes, dirs))
    assert (list(decoded.mtimes), list(decoded.dirs)) == (mtimes, dirs)


@given(st.lists(NS, min_size=1, max_size=20), st.lists(DIRS, max_size=5), st.data())
def test_truncated_or_extended_objects_are_corrupt(mtimes, dirs, data):
    blob = attrs.encode(mtimes, dirs)
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(CorruptData):
        attrs.decode(blob[:cut])
    with pytest.raises(CorruptData):
        attrs.decode(blob + b"\0")


def commit_dir(store: Store, name: str, src) -> "object":
    with Commit(store) as c:
        return c.publish(name, c.scan_dir(str(src)))


def tree_with_times(root) -> dict[str, int]:
    write(root / "a.txt", "a")
    write(root / "sub" / "b.txt", "b")
    os.makedirs(root / "sub" / "empty")
    os.symlink("a.txt", root / "link")
    times = {
        "a.txt": 10**18 + 1,
        "sub/b.txt": 10**18 + 2,
        "link": 10**18 + 3,
        "sub/empty": 10**18 + 4,
        "sub": 10**18 + 5,
    }
    for rel, ns in times.items():
        os.utime(root / rel, ns=(ns, ns), follow_symlinks=False)
    return times


def test_a_commit_records_each_mtime_and_link_count(store, tmp_path):
    times = tree_with_times(tmp_path / "src")
    version, created = commit_dir(store, "ds", tmp_path / "src")
    assert created
    assert version.mtime_ns == os.stat(tmp_path / "src").st_mtime_ns
    found = {path.decode(): ns for path, _, ns in store.walk_times(version)}
    assert found == times
    root = store.tree(version.root)
    _, dirs = store.listing_times(root, version.attrs_root, 0)
    assert [d.subdirs for d in dirs] == [1]  # sub/ holds empty/
    assert store.mtime_of(version, b"sub/b.txt") == times["sub/b.txt"]


def test_times_alone_make_no_new_version_and_do_not_change_the_identity(store, tmp_path):
    tree_with_times(tmp_path / "src")
    first, _ = commit_dir(store, "ds", tmp_path / "src")
    os.utime(tmp_path / "src" / "a.txt", ns=(5, 5))
    again, created = commit_dir(store, "ds", tmp_path / "src")
    assert (created, again.number, again.digest) == (False, first.number, first.digest)
    # another artifact with the same content but other times shares the tree
    other, _ = commit_dir(store, "other", tmp_path / "src")
    assert other.digest == first.digest and other.attrs_root != first.attrs_root


def test_gc_frees_attribute_objects_of_removed_versions_only(store, tmp_path):
    tree_with_times(tmp_path / "src")
    kept, _ = commit_dir(store, "ds", tmp_path / "src")
    write(tmp_path / "src" / "new.txt", "new")
    doomed, _ = commit_dir(store, "ds", tmp_path / "src")
    store.remove_version(doomed.label)
    gc_mod.collect(store)
    db = store.meta.db["attrs"]
    with store.meta.read() as txn:
        assert txn.get(kept.attrs_root, db=db) is not None
        assert txn.get(doomed.attrs_root, db=db) is None
        assert txn.stat(db)["entries"] == 3  # root, sub/ and sub/empty/ of the kept one
    assert verify(store, store.versions("ds")).damage == []


def test_verify_reports_a_damaged_attribute_object(store, tmp_path):
    tree_with_times(tmp_path / "src")
    version, _ = commit_dir(store, "ds", tmp_path / "src")
    with store.meta.write() as txn:
        txn.put(version.attrs_root, b"AA1\x09", db=store.meta.db["attrs"])
    store.attrs.cache_clear()
    damage = verify(store, [version]).damage
    assert len(damage) == 1 and "attribute object" in damage[0].problem


def test_a_version_without_times_shows_its_creation_time(store, tmp_path):
    tree_with_times(tmp_path / "src")
    version, _ = commit_dir(store, "ds", tmp_path / "src")
    record = dict(version.record)
    del record["attrs"], record["mtime_ns"]
    with store.meta.write() as txn:
        txn.put(meta.version_key("ds", 0), meta.dumps(record), db=store.meta.db["versions"])
    old = store.resolve("ds:v0")
    created = int(record["created"] * 1e9)
    assert {ns for _, _, ns in store.walk_times(old)} == {created}
    _, dirs = store.listing_times(store.tree(old.root), None, created)
    assert [d.subdirs for d in dirs] == [1]  # counted from the subdirectory's tree
    assert [e.kind for e in store.tree(old.root)].count(DIR) == 1
