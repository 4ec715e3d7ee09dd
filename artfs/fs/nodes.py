"""What each inode of the mount stands for, and the table that numbers them.

    /                      Fixed("root")
    /artifacts/            Fixed("artifacts")
    /artifacts/NAME/       ArtifactDir
    /artifacts/NAME/vN/…   VersionItem (path b"" is the version directory)
    /artifacts/NAME/ALIAS  AliasLink
    /meta/NAME/vN.json     MetaDir, MetaFile (read-only JSON about a version)
    /staging/              Fixed("staging")
    /staging/NAME/…        StagingItem: a real file or directory under STORE/staging/NAME/tree

Inodes are numbered on first lookup and forgotten when the kernel forgets
them (lookup count zero), so the table stays as small as what is in use.
The names of a version directory are numbered as one block (a ``Listing``),
so that listing a million files makes no object per file.
"""

import bisect
import errno
from dataclasses import dataclass, field

import pyfuse3

from artfs.fs.passthrough import Tree
from artfs.store.attrs import DirAttrs
from artfs.store.tree import DIR, FILE, Entry

ROOT, ARTIFACTS, STAGINGS, META = pyfuse3.ROOT_INODE, 2, 3, 4


@dataclass(eq=False)
class Fixed:
    kind: str


@dataclass(eq=False)
class ArtifactDir:
    name: str


NO_READER = ""  # no run id is empty, and None is the run of a process that vanished


class VersionItem:
    """A file, link or directory of a version; one is made per name listed, so it is lean.

    ``dir_attrs`` (directories only) says how many subdirectories it has and where its
    children's times are; ``version_ns`` is the time shown for entries of a version
    made before times were kept."""

    __slots__ = (
        "name",
        "number",
        "path",
        "entry",
        "mtime_ns",
        "dir_attrs",
        "version_ns",
        "attr",
        "reader_run",
        "open_by",
        "handles",
    )

    def __init__(
        self,
        name: str,
        number: int,
        path: bytes,
        entry: Entry,
        mtime_ns: int,
        dir_attrs: DirAttrs | None,
        version_ns: int,
    ):
        self.name, self.number, self.path, self.entry = name, number, path, entry
        self.mtime_ns, self.dir_attrs, self.version_ns = mtime_ns, dir_attrs, version_ns
        self.attr: pyfuse3.EntryAttributes | None = (
            None  # its EntryAttributes, made once: a version never changes
        )
        # the run whose bytes the kernel's page cache holds (read by it, or stored at
        # its open); NO_READER until one has
        self.reader_run: str | None = NO_READER
        self.open_by: dict[str | None, int] | None = None  # runs with it open: handles
        self.handles = 0  # open handles of it, with lineage or without


class Listing:
    """The names of one version directory, numbered as the block of inodes
    base, base+1, … in tree order.  A VersionItem is made only for a name the
    kernel asks about (lookup, getattr, open); the block is dropped when the
    kernel has forgotten every name in it and no open handle lists it."""

    __slots__ = (
        "dir_inode",
        "parent",
        "base",
        "entries",
        "mtimes",
        "dirs",
        "items",
        "lookups",
        "_index",
    )

    def __init__(
        self,
        dir_inode: int,
        parent: VersionItem,
        base: int,
        entries: tuple,
        mtimes,
        dirs: list[DirAttrs],
    ):
        self.dir_inode, self.parent, self.base, self.entries = dir_inode, parent, base, entries
        self.mtimes = mtimes
        # entry index -> its DirAttrs (the attribute object lists subdirectories in order)
        self.dirs = dict(
            zip((i for i, e in enumerate(entries) if e.kind == DIR), dirs, strict=True)
        )
        self.items: dict[int, VersionItem] = {}
        self.lookups = 0  # kernel lookups of names in the block, plus open handles
        self._index: dict[bytes, int] | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def inode_of(self, name: bytes) -> int | None:
        if self._index is None:
            self._index = {entry.name: i for i, entry in enumerate(self.entries)}
        index = self._index.get(name)
        return None if index is None else self.base + index

    def item(self, inode: int) -> VersionItem:
        item = self.items.get(inode)
        if item is None:
            entry, parent = self.entries[inode - self.base], self.parent
            path = parent.path + b"/" + entry.name if parent.path else entry.name
            index = inode - self.base
            item = self.items[inode] = VersionItem(
                parent.name,
                parent.number,
                path,
                entry,
                self.mtimes[index],
                self.dirs.get(index),
                parent.version_ns,
            )
        return item


@dataclass(eq=False)
class AliasLink:
    name: str
    alias: str


@dataclass(eq=False)
class MetaDir:
    name: str


@dataclass(eq=False)
class MetaFile:
    name: str
    number: int


@dataclass(eq=False)
class StagingItem:
    """A real file or directory, by its path(s) in its staging's tree (b"" is the tree
    itself); a hard-linked file is known under several paths."""

    tree: Tree
    paths: set[bytes] = field(default_factory=set)
    fds: set[int] = field(default_factory=set)  # open descriptors (an unlinked file has one)

    @property
    def staging(self) -> str:
        return self.tree.name

    @property
    def path(self) -> bytes:
        if not self.paths:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return next(iter(self.paths))


class Inodes:
    """inode -> node, and a stable key -> inode so a second lookup gets the same inode."""

    def __init__(self):
        self.nodes: dict[int, object] = {
            ROOT: Fixed("root"),
            ARTIFACTS: Fixed("artifacts"),
            STAGINGS: Fixed("staging"),
            META: Fixed("meta"),
        }
        self._keys: dict[int, tuple] = {}
        self._by_key: dict[tuple, int] = {}
        self._lookups: dict[int, int] = {}
        self._bases: list[int] = []  # of the Listings, ascending: numbers only grow
        self._listings: dict[int, Listing] = {}  # by base
        self._listing_of: dict[int, Listing] = {}  # by the listed directory's inode
        self._next = META + 1

    def __getitem__(self, inode: int):
        node = self.nodes.get(inode)
        if node is not None:
            return node
        listing = self._block_of(inode)
        if listing is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return listing.item(inode)

    def intern(self, key: tuple, make, *args) -> int:
        """The inode for ``key``, creating its node with ``make(*args)`` the first time."""
        inode = self._by_key.get(key)
        if inode is None:
            inode = self._allocate(1)
            self.nodes[inode] = make(*args)
            self._keys[inode] = key
            self._by_key[key] = inode
        return inode

    def listing(self, dir_inode: int, parent: VersionItem, contents) -> Listing:
        """The block numbering a version directory's names (``contents()`` the first time:
        entries, their mtimes, their subdirectories' DirAttrs)."""
        listing = self._listing_of.get(dir_inode)
        if listing is None:
            names, mtimes, dirs = contents()
            listing = Listing(
                dir_inode, parent, self._allocate(max(len(names), 1)), names, mtimes, dirs
            )
            self._bases.append(listing.base)
            self._listings[listing.base] = self._listing_of[dir_inode] = listing
        return listing

    def _allocate(self, count: int) -> int:
        first, self._next = self._next, self._next + count
        return first

    def _block_of(self, inode: int) -> Listing | None:
        at = bisect.bisect_right(self._bases, inode) - 1
        if at < 0:
            return None
        listing = self._listings[self._bases[at]]
        return listing if inode < listing.base + len(listing) else None

    def remember(self, inode: int, count: int = 1) -> None:
        if inode in self._keys:
            self._lookups[inode] = self._lookups.get(inode, 0) + count
        elif (listing := self._block_of(inode)) is not None:
            listing.lookups += count

    def forget(self, inode: int, count: int) -> None:
        if inode not in self._keys:
            if (listing := self._block_of(inode)) is not None:
                self.release(listing, count)
            return
        left = self._lookups.get(inode, 0) - count
        if left > 0:
            self._lookups[inode] = left
            return
        self._lookups.pop(inode, None)
        del self._by_key[self._keys.pop(inode)]
        del self.nodes[inode]

    def hold(self, listing: Listing, count: int = 1) -> None:
        """Keep a block while an open directory handle (or the kernel) may name it."""
        listing.lookups += count

    def release(self, listing: Listing, count: int = 1) -> None:
        listing.lookups -= count
        if listing.lookups <= 0 and self._listings.get(listing.base) is listing:
            del self._bases[bisect.bisect_left(self._bases, listing.base)]
            del self._listings[listing.base]
            del self._listing_of[listing.dir_inode]

    def retire(self, node) -> None:
        """Keep the node for the kernel, but never hand its inode out for a new key."""
        for inode, known in self.nodes.items():
            if known is node and inode in self._keys:
                del self._by_key[self._keys[inode]]
                self._keys[inode] = ("retired", inode)
                self._by_key[("retired", inode)] = inode
                return

    def held_digests(self) -> tuple[set[bytes], set[bytes]]:
        """(tree and attribute digests, file digests) of the versions the kernel may still
        ask about, removed ones included: gc must keep them until the kernel lets go.  A
        listed directory's tree covers every name in its block."""
        items = [node for node in self.nodes.values() if isinstance(node, VersionItem)]
        items += [listing.parent for listing in self._listings.values()]
        entries = [item.entry for item in items]
        trees = {e.digest for e in entries if e.kind == DIR}
        trees |= {i.dir_attrs.attrs for i in items if i.dir_attrs and i.dir_attrs.attrs}
        files = {e.digest for e in entries if e.kind == FILE and e.size}
        return trees, files

    def staging_items(self):
        return [n for n in self.nodes.values() if isinstance(n, StagingItem)]
