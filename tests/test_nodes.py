"""The mount's inode table (artfs/fs/nodes.py): numbered blocks for version
directories, lookup counts, and what is forgotten when."""

import errno

import pyfuse3
import pytest

from artfs.fs.nodes import ARTIFACTS, Inodes, Listing, VersionItem
from artfs.fs.views import Views
from artfs.store.attrs import DirAttrs
from artfs.store.commit import Commit, Node
from artfs.store.tree import DIR, FILE, SYMLINK, Entry

pytestmark = pytest.mark.fast

ENTRIES = (
    Entry(b"a.txt", FILE, 0o644, 3, b"\1" * 32),
    Entry(b"link", SYMLINK, 0o777, 0, b"", b"a.txt"),
    Entry(b"sub", DIR, 0o755, 0, b"\2" * 32),
)


def version_dir(inodes: Inodes, path: bytes = b"") -> tuple[int, VersionItem]:
    root = Entry(b"", DIR, 0o555, 0, b"\3" * 32)
    inode = inodes.intern(
        ("ver", "ds", 2, path), VersionItem, "ds", 2, path, root, 123, DirAttrs(1, None), 123
    )
    return inode, inodes[inode]


def listed(inodes: Inodes, entries=ENTRIES, path: bytes = b"") -> Listing:
    inode, item = version_dir(inodes, path)
    return inodes.listing(inode, item, contents(entries))


def contents(entries):
    """What a version directory's listing is made of: entries, mtimes, subdirectories."""
    dirs = [DirAttrs(0, b"\5" * 32) for e in entries if e.kind == DIR]
    return lambda: (entries, [123] * len(entries), dirs)


def enoent(inodes: Inodes, inode: int) -> int:
    with pytest.raises(pyfuse3.FUSEError) as caught:
        inodes[inode]  # noqa: B018
    return caught.value.errno


def test_a_listing_numbers_its_names_as_one_block():
    inodes = Inodes()
    listing = listed(inodes)
    inodes.hold(listing, 3)
    assert [listing.inode_of(e.name) for e in ENTRIES] == [listing.base + i for i in range(3)]
    assert listing.inode_of(b"missing") is None
    item = inodes[listing.base + 2]
    assert (item.name, item.number, item.path, item.entry) == ("ds", 2, b"sub", ENTRIES[2])
    assert inodes[listing.base + 2] is item  # made once, then kept
    assert enoent(inodes, listing.base + 3) == errno.ENOENT
    # the same directory listed again is the same block
    assert listed(inodes) is listing


def test_paths_below_a_subdirectory_join_the_parent_path():
    inodes = Inodes()
    listing = listed(inodes, path=b"sub")
    assert inodes[listing.base].path == b"sub/a.txt"


def test_new_numbers_never_reuse_a_block():
    inodes = Inodes()
    listing = listed(inodes)
    other = inodes.intern(("art", "x"), dict)
    assert other >= listing.base + len(ENTRIES)


def test_a_block_goes_when_the_kernel_forgets_its_last_name():
    inodes = Inodes()
    listing = listed(inodes)
    inodes.hold(listing, 3)  # a readdir replied three names
    inodes.remember(listing.base)  # and one was looked up
    for offset, count in ((0, 2), (1, 1)):
        inodes.forget(listing.base + offset, count)
    assert inodes[listing.base + 2].path == b"sub"  # one lookup left
    inodes.forget(listing.base + 2, 1)
    assert enoent(inodes, listing.base) == errno.ENOENT
    again = listed(inodes)
    assert again is not listing and again.base > listing.base
    assert inodes[again.base].entry == ENTRIES[0]


def test_held_digests_name_what_the_kernel_may_still_ask_about():
    """gc keeps these: the version directory, each listed directory's tree and times,
    and files interned on their own; nothing once the kernel has let go."""
    inodes = Inodes()
    assert inodes.held_digests() == (set(), set())
    root, _ = version_dir(inodes)
    assert inodes.held_digests() == ({b"\3" * 32}, set())
    listing = inodes.listing(root, inodes[root], contents(ENTRIES))
    inodes.hold(listing)
    sub = inodes.listing(
        listing.base + 2,
        inodes[listing.base + 2],
        contents((Entry(b"x", FILE, 0o644, 5, b"\4" * 32),)),
    )
    inodes.hold(sub)
    held = {b"\3" * 32, b"\2" * 32, b"\5" * 32}
    assert inodes.held_digests() == (held, set())
    inodes.intern(("file",), VersionItem, "ds", 2, b"f", ENTRIES[0], 0, None, 0)
    assert inodes.held_digests() == (held, {b"\1" * 32})
    inodes.release(sub)
    inodes.release(listing)
    inodes.forget(root, 1)
    assert inodes.held_digests() == (set(), {b"\1" * 32})


def test_an_open_handle_keeps_its_block():
    inodes = Inodes()
    listing = listed(inodes)
    inodes.hold(listing)  # opendir
    inodes.hold(listing, 1)  # readdir replied one name
    inodes.forget(listing.base, 1)
    assert inodes[listing.base + 1].entry == ENTRIES[1]  # still numbered for the handle
    inodes.release(listing)  # releasedir
    assert enoent(inodes, listing.base + 1) == errno.ENOENT


def test_an_empty_directory_takes_a_number_but_names_nothing():
    inodes = Inodes()
    listing = listed(inodes, entries=())
    assert len(listing) == 0 and listing.inode_of(b"x") is None
    assert enoent(inodes, listing.base) == errno.ENOENT
    assert inodes.intern(("art", "y"), dict) == listing.base + 1


def test_forgetting_an_interned_node_drops_it_and_its_key():
    inodes = Inodes()
    inode = inodes.intern(("art", "x"), dict)
    inodes.remember(inode, 2)
    inodes.forget(inode, 1)
    assert inodes[inode] == {}
    inodes.forget(inode, 1)
    assert enoent(inodes, inode) == errno.ENOENT
    assert inodes.intern(("art", "x"), dict) != inode


def test_a_block_made_for_a_missing_name_is_not_kept(store, tmp_path):
    """A lookup of a name that is not there numbers the directory's names; with none
    of them handed to the kernel, no FORGET would ever drop that block."""
    with Commit(store) as c:
        node = Node()
        node[b"a.txt"] = c.bytes_entry(b"a.txt", b"a")
        c.publish("ds", node)
    inodes = Inodes()
    views = Views(store, inodes)
    root = views.lookup(views.lookup(ARTIFACTS, b"ds"), b"v0")
    for _ in range(2):
        with pytest.raises(pyfuse3.FUSEError):
            views.lookup(root, b"missing")
    found = views.lookup(root, b"a.txt")
    inodes.remember(found)
    assert inodes[found].path == b"a.txt"
    # each missing lookup numbered a block that was then dropped (a kept block would
    # have been found again and given a.txt the number root + 1)
    assert found == root + 3
