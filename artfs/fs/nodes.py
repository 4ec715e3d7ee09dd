"""What each inode of the mount stands for, and the table that numbers them.

    /                      Fixed("root")
    /artifacts/            Fixed("artifacts")
    /artifacts/NAME/       ArtifactDir
    /artifacts/NAME/vN/…   VersionItem (path b"" is the version directory)
    /artifacts/NAME/ALIAS  AliasLink
    /meta/NAME/vN.json     MetaDir, MetaFile (read-only JSON about a version)
    /staging/              Fixed("staging")
    /staging/NAME/…        StagingItem: a real file or directory under STORE/staging

Inodes are numbered on first lookup and forgotten when the kernel forgets
them (lookup count zero), so the table stays as small as what is in use.
"""

import errno
from dataclasses import dataclass, field

import pyfuse3

from artfs.store.tree import Entry

ROOT, ARTIFACTS, STAGINGS, META = pyfuse3.ROOT_INODE, 2, 3, 4


@dataclass(eq=False)
class Fixed:
    kind: str


@dataclass(eq=False)
class ArtifactDir:
    name: str


@dataclass(eq=False)
class VersionItem:
    name: str
    number: int
    path: bytes
    entry: Entry
    created: float
    attr: object = None  # its EntryAttributes, made once: a version never changes
    reader_run: str | None = None  # the run whose reads the kernel's page cache holds


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
    """A real file or directory; a hard-linked file is known under several paths."""

    staging: str
    paths: set[bytes] = field(default_factory=set)
    fds: set[int] = field(default_factory=set)  # open descriptors (an unlinked file has one)

    @property
    def path(self) -> bytes:
        if not self.paths:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return next(iter(self.paths))


class Inodes:
    """inode -> node, and a stable key -> inode so a second lookup gets the same inode."""

    def __init__(self):
        self.nodes: dict[int, object] = {
            ROOT: Fixed("root"), ARTIFACTS: Fixed("artifacts"),
            STAGINGS: Fixed("staging"), META: Fixed("meta"),
        }
        self._keys: dict[int, tuple] = {}
        self._by_key: dict[tuple, int] = {}
        self._lookups: dict[int, int] = {}
        self._next = META + 1

    def __getitem__(self, inode: int):
        try:
            return self.nodes[inode]
        except KeyError:
            raise pyfuse3.FUSEError(errno.ENOENT) from None

    def intern(self, key: tuple, make) -> int:
        """The inode for ``key``, creating its node with ``make()`` the first time."""
        inode = self._by_key.get(key)
        if inode is None:
            inode, self._next = self._next, self._next + 1
            self.nodes[inode] = make()
            self._keys[inode] = key
            self._by_key[key] = inode
        return inode

    def remember(self, inode: int) -> None:
        if inode in self._keys:
            self._lookups[inode] = self._lookups.get(inode, 0) + 1

    def forget(self, inode: int, count: int) -> None:
        left = self._lookups.get(inode, 0) - count
        if left > 0:
            self._lookups[inode] = left
            return
        self._lookups.pop(inode, None)
        key = self._keys.pop(inode, None)
        if key is not None:
            del self._by_key[key]
            del self.nodes[inode]

    def retire(self, node) -> None:
        """Keep the node for the kernel, but never hand its inode out for a new key."""
        for inode, known in self.nodes.items():
            if known is node and inode in self._keys:
                del self._by_key[self._keys[inode]]
                self._keys[inode] = ("retired", inode)
                self._by_key[("retired", inode)] = inode
                return

    def staging_items(self):
        return [n for n in self.nodes.values() if isinstance(n, StagingItem)]
