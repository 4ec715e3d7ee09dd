"""The read-only part of the mount: artifacts, versions, aliases and metadata.

Everything here is computed from the store on demand; versions' contents never
change, so their entries and attributes are cached by the kernel for a long time,
while listings of artifacts and aliases are re-read so that versions made by
other processes appear within a second.  What changes in a logged version
(aliases, description, metadata, ttl: ``Artifact.save()``, ``artfs alias``) is
read afresh on every look: alias links and meta files are not cached by the
kernel, and the version xattrs that can change are not cached here.
"""

import errno
import functools
import json
import logging
import os
import stat
import time

import pyfuse3
from pyfuse3 import FUSEError

from artfs.errors import ArtfsError, StoreError
from artfs.fs import links as link_view
from artfs.fs.nodes import (
    ARTIFACTS,
    META,
    ROOT,
    STAGINGS,
    AliasLink,
    ArtifactDir,
    Inodes,
    Listing,
    MetaDir,
    MetaFile,
    VersionItem,
)
from artfs.lineage import redact
from artfs.store import retention
from artfs.store import runs as runs_mod
from artfs.store.attrs import DirAttrs
from artfs.store.names import parse_version
from artfs.store.staging import names as staging_names
from artfs.store.store import Store, Version
from artfs.store.tree import DIR, FILE, REFERENCE, SYMLINK, Entry

log = logging.getLogger("artfs.mount")
IMMUTABLE = 3600.0  # seconds the kernel may cache what a version holds
MUTABLE = 0.5  # seconds for listings that other processes change
EDITABLE = 0.0  # alias links and meta files: another process's save() shows at once
XATTR_PREFIX = b"user.artfs."
FIXED_NAMES = {b"artifacts": ARTIFACTS, b"staging": STAGINGS, b"meta": META}


class Views:
    def __init__(self, store: Store, inodes: Inodes):
        self.store = store
        self.inodes = inodes
        self.uid, self.gid = os.getuid(), os.getgid()
        self.started_ns = time.time_ns()

    # --- names -> inodes ----------------------------------------------------------

    def lookup(self, parent: int, name: bytes) -> int:
        node = self.inodes[parent]
        text = name.decode(errors="surrogateescape")
        if parent == ROOT:
            if name in FIXED_NAMES:
                return FIXED_NAMES[name]
            if name == link_view.NAME and link_view.shown(self.store):
                return link_view.root(self.inodes)
        elif isinstance(node, link_view.NODES):
            return link_view.lookup(self.store, self.inodes, node, name)
        elif parent == ARTIFACTS and self._is_artifact(text):
            return self.inodes.intern(("art", text), ArtifactDir, text)
        elif parent == META and self._is_artifact(text):
            return self.inodes.intern(("meta", text), MetaDir, text)
        elif isinstance(node, ArtifactDir):
            return self._lookup_in_artifact(node.name, text)
        elif isinstance(node, MetaDir) and text.endswith(".json"):
            version = self._version(node.name, parse_version(text[:-5]))
            return self.inodes.intern(
                ("metafile", node.name, version.number), MetaFile, node.name, version.number
            )
        elif isinstance(node, VersionItem) and node.entry.kind == DIR:
            listing = self.listing(parent, node)
            inode = listing.inode_of(name)
            if inode is not None:
                return inode  # the caller counts the lookup before anything else runs
            self.inodes.release(listing, 0)  # held by nothing: no kernel forget will drop it
        raise FUSEError(errno.ENOENT)

    def _lookup_in_artifact(self, name: str, text: str) -> int:
        number = parse_version(text)
        if number is not None:
            version = self._version(name, number)
            root = Entry(b"", DIR, 0o555, 0, version.root)
            subdirs = sum(e.kind == DIR for e in self.store.tree(version.root))
            return self.inodes.intern(
                ("ver", name, number, b""),
                VersionItem,
                name,
                number,
                b"",
                root,
                version.mtime_ns,
                DirAttrs(subdirs, version.attrs_root),
                version.mtime_ns,
            )
        if text in self._aliases(name):
            return self.inodes.intern(("alias", name, text), AliasLink, name, text)
        raise FUSEError(errno.ENOENT)

    def listing(self, inode: int, node: VersionItem) -> Listing:
        """The numbered names of a version directory."""

        def contents():
            tree = self.store.tree(node.entry.digest)
            attrs = node.dir_attrs.attrs if node.dir_attrs else None
            return (tree, *self.store.listing_times(tree, attrs, node.version_ns))

        return self.inodes.listing(inode, node, contents)

    def _is_artifact(self, name: str) -> bool:
        try:
            return self.store.has_artifact(name)
        except ArtfsError:
            return False

    def _version(self, name: str, number: int | None) -> Version:
        if number is None:
            raise FUSEError(errno.ENOENT)
        try:
            return self.store.resolve(f"{name}:v{number}")
        except StoreError as e:  # a damaged record: there, but unreadable
            log.error("%s:v%d: %s", name, number, e)
            raise FUSEError(errno.EIO) from None
        except ArtfsError:
            raise FUSEError(errno.ENOENT) from None

    def _aliases(self, name: str) -> dict[str, int]:
        try:
            versions = self.store.versions(name)
        except ArtfsError:
            return {}
        return {alias: v.number for v in versions for alias in v.aliases}

    # --- attributes ---------------------------------------------------------------------

    def attr(self, inode: int) -> pyfuse3.EntryAttributes:
        node = self.inodes[inode]
        if isinstance(node, VersionItem):
            if node.attr is None:
                node.attr = fill_entry_attr(
                    self._base_attr(inode, IMMUTABLE),
                    inode,
                    node.entry,
                    node.mtime_ns,
                    node.dir_attrs,
                )
            return node.attr
        return self._other_attr(inode, node)

    def listing_attr(self, listing: Listing) -> pyfuse3.EntryAttributes:
        """One attribute object to fill for every name of a listing in turn (a readdir
        reply copies it), so a name costs a few assignments, not an object."""
        return self._base_attr(listing.base, IMMUTABLE)

    def _other_attr(self, inode: int, node) -> pyfuse3.EntryAttributes:
        a = self._base_attr(inode, EDITABLE if isinstance(node, AliasLink | MetaFile) else MUTABLE)
        a.st_atime_ns = a.st_mtime_ns = a.st_ctime_ns = self.started_ns
        if isinstance(node, AliasLink):
            a.st_mode = stat.S_IFLNK | 0o777
            a.st_size = len(self._alias_target(node))
        elif isinstance(node, link_view.LinkEntry):
            a.st_mode = stat.S_IFLNK | 0o777
            a.st_size = len(link_view.target(self.store, node))
        elif isinstance(node, MetaFile):
            a.st_mode = stat.S_IFREG | 0o444
            a.st_size = len(self.meta_json(node))
        else:
            a.st_mode = stat.S_IFDIR | (0o755 if inode == STAGINGS else 0o555)
            try:
                a.st_nlink = 2 + self._subdirs(inode, node)
            except ArtfsError:  # a damaged store still lists what it can
                a.st_nlink = 2
        a.st_blocks = (a.st_size + 511) // 512
        return a

    def _subdirs(self, inode: int, node) -> int:
        """Subdirectories of a directory outside the versions (its link count less 2)."""
        if inode == ROOT:
            return len(FIXED_NAMES) + link_view.shown(self.store)
        if isinstance(node, link_view.NODES):
            return link_view.subdirs(self.store, self.inodes, node)
        if inode in (ARTIFACTS, META):
            return len(self.store.artifact_names())
        if inode == STAGINGS:
            return len(staging_names(self.store))
        if isinstance(node, ArtifactDir):
            return self.store.version_count(node.name)
        return 0

    def _base_attr(self, inode: int, timeout: float) -> pyfuse3.EntryAttributes:
        a = pyfuse3.EntryAttributes()
        a.st_ino = inode
        a.st_uid, a.st_gid = self.uid, self.gid
        a.st_blksize = 128 * 1024
        a.st_nlink = 1
        a.entry_timeout = a.attr_timeout = timeout
        return a

    def _alias_target(self, node: AliasLink) -> bytes:
        number = self._aliases(node.name).get(node.alias)
        if number is None:
            raise FUSEError(errno.ENOENT)
        return f"v{number}".encode()

    def readlink(self, inode: int) -> bytes:
        node = self.inodes[inode]
        if isinstance(node, AliasLink):
            return self._alias_target(node)
        if isinstance(node, link_view.LinkEntry):
            return link_view.target(self.store, node)
        if isinstance(node, VersionItem) and node.entry.kind == SYMLINK:
            return node.entry.target
        raise FUSEError(errno.EINVAL)

    # --- listings -------------------------------------------------------------------------

    def names(self, inode: int) -> list[tuple[bytes, int]]:
        """(name, inode) of every entry of a directory other than a version's, in a
        stable order."""
        node = self.inodes[inode]
        if inode == ROOT:
            shown = (
                [(link_view.NAME, link_view.root(self.inodes))]
                if link_view.shown(self.store)
                else []
            )
            return [*FIXED_NAMES.items(), *shown]
        if isinstance(node, link_view.NODES):
            return link_view.names(self.store, self.inodes, node)
        if inode in (ARTIFACTS, META):
            kind = "art" if inode == ARTIFACTS else "meta"
            make = ArtifactDir if inode == ARTIFACTS else MetaDir
            return [
                (n.encode(), self.inodes.intern((kind, n), make, n))
                for n in self.store.artifact_names()
            ]
        if isinstance(node, ArtifactDir):
            return self._artifact_names(node.name)
        if isinstance(node, MetaDir):
            return [
                (
                    f"v{v.number}.json".encode(),
                    self.inodes.intern(
                        ("metafile", node.name, v.number), MetaFile, node.name, v.number
                    ),
                )
                for v in self.store.versions(node.name)
                if v.damage is None
            ]
        raise FUSEError(errno.ENOTDIR)

    def _artifact_names(self, name: str) -> list[tuple[bytes, int]]:
        out = []
        for v in self.store.versions(name):
            if v.damage is None:  # a damaged one is not listed; its lookup says EIO
                out.append(
                    (f"v{v.number}".encode(), self._lookup_in_artifact(name, f"v{v.number}"))
                )
            out += [(a.encode(), self._lookup_in_artifact(name, a)) for a in v.aliases]
        return out

    # --- file contents ------------------------------------------------------------------------

    def meta_json(self, node: MetaFile) -> bytes:
        """What the mount tells about a version outside its tree: record, aliases, lineage."""
        version = self._version(node.name, node.number)
        # readable by whoever enters the mount: secrets on command lines are taken out
        producer = redact.run(runs_mod.get_run(self.store, version.run)) if version.run else None
        consumers = [
            redact.run(runs_mod.get_run(self.store, r))
            for r in runs_mod.consumers(self.store, version)
        ]
        doc = {
            "name": version.name,
            "version": f"v{version.number}",
            "digest": version.digest,
            "aliases": version.aliases,
            "type": version.type,
            "size": version.size,
            "files": version.files,
            "created": version.created,
            "description": version.description,
            "metadata": version.metadata,
            "message": version.message,
            "producer": producer,
            "consumers": consumers,
            "base": version.record.get("base"),
            **self._edit_fields(version),
        }
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    def _edit_fields(self, version: Version) -> dict:
        """What changes after publication: ttl (seconds; None never expires; absent means
        inherited from the artifact's policy), when it expires, when and by which run
        (redacted, as above: only its id) the editable fields last changed."""
        doc = {
            "expires": self._expires(version),
            "updated": version.record.get("updated"),
            "edits": version.record.get("edits", []),
            "tags": version.record.get("tags", []),
        }
        if "ttl" in version.record:
            doc["ttl"] = version.record["ttl"]
        return doc

    def _expires(self, version: Version) -> float | None:
        try:
            return retention.expires_at(version, self.store.retention(version.name))
        except ArtfsError:  # a damaged artifact record: the version's own ttl only
            return retention.expires_at(version, {})

    # --- extended attributes ---------------------------------------------------------------------

    def xattrs(self, inode: int) -> dict[bytes, bytes]:
        node = self.inodes[inode]
        if not isinstance(node, VersionItem):
            return {}
        shared, root_digest = self._version_xattrs(node.name, node.number)
        out = shared | self._editable_xattrs(node.name, node.number)
        if node.entry.kind in (FILE, REFERENCE):
            out[XATTR_PREFIX + b"digest"] = node.entry.digest.hex().encode()
        elif node.path == b"":
            out[XATTR_PREFIX + b"digest"] = root_digest
        if node.entry.kind == REFERENCE:
            out[XATTR_PREFIX + b"reference"] = node.entry.target
        return out

    def _editable_xattrs(self, name: str, number: int) -> dict[bytes, bytes]:
        """Aliases and expiry, read on every call: another process may have changed them."""
        version = self._version(name, number)
        out = {b"aliases": ",".join(version.aliases).encode()}
        expires = self._expires(version)
        if expires is not None:
            out[b"expires"] = repr(expires).encode()
        return {XATTR_PREFIX + k: v for k, v in out.items()}

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - what never changes; Views lives long
    def _version_xattrs(self, name: str, number: int) -> tuple[dict[bytes, bytes], bytes]:
        """(what every name of a version has, the version's digest)."""
        version = self._version(name, number)
        out = {
            b"version": version.label.encode(),
            b"type": version.type.encode(),
            b"created": repr(version.created).encode(),
            b"run": (version.run or "").encode(),
        }
        return {XATTR_PREFIX + k: v for k, v in out.items()}, version.digest.encode()


def fill_entry_attr(
    a: pyfuse3.EntryAttributes, inode: int, entry: Entry, mtime_ns: int, dir_attrs: DirAttrs | None
) -> pyfuse3.EntryAttributes:
    """Set what differs between the names of a version.  Nothing in a version changes
    after it is committed, so atime and ctime are its mtime, as on a read-only disk."""
    a.st_ino = inode
    a.st_mode = entry.st_mode
    a.st_atime_ns = a.st_mtime_ns = a.st_ctime_ns = mtime_ns
    if entry.kind == DIR:
        a.st_nlink, a.st_size = 2 + (dir_attrs.subdirs if dir_attrs else 0), 0
    else:
        a.st_nlink = 1
        a.st_size = entry.size if entry.kind != SYMLINK else len(entry.target)
    a.st_blocks = (a.st_size + 511) // 512
    return a
