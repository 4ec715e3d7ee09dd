"""pyfuse3 Operations: dispatch each request to the read-only views or to staging.

Every mutating request outside a staging directory is refused with EROFS.
Inside one, mutations wait while that staging is being committed, so that a
write is either entirely in the new version or entirely after it.
"""

import collections
import contextlib
import errno
import fcntl
import itertools
import logging
import os
import stat

import pyfuse3
import trio
from pyfuse3 import FUSEError

from artfs.errors import ArtfsError, Conflict, CorruptData, StoreError, disk_full
from artfs.fs import passthrough as pt
from artfs.fs.attribution import Attribution
from artfs.fs.creds import as_caller
from artfs.fs.layouts import Layouts
from artfs.fs.nodes import STAGINGS, Inodes, Listing, MetaFile, StagingItem, VersionItem
from artfs.fs.reader import ChunkCache, FileReader
from artfs.fs.views import XATTR_PREFIX, Views, fill_entry_attr
from artfs.fs.warm import Warmer
from artfs.store import meta
from artfs.store.chunks import ChunkFiles
from artfs.store.names import Ref, check_name
from artfs.store.staging import (
    Staging,
    copy_up,
    discard,
    few,
    placeholder_digest,
    placeholder_entry,
)
from artfs.store.staging import names as staging_names
from artfs.store.tree import DIR, FILE, REFERENCE

log = logging.getLogger("artfs.mount")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_APPEND
OPEN_IGNORED = os.O_CREAT | os.O_EXCL  # the kernel has done these; reopening must not
FLUSH_SECONDS = 1.0
# A file this small is handed to the kernel's page cache with its open (notify_store)
# rather than in answer to READ requests: a data loader's small files then cost one
# request fewer each, and a second epoch no GETATTR (the kernel drops a file's atime,
# and so asks for its attributes again, after a READ on a writable mount).
PUSH_BYTES = 256 * 1024


def errors_to_errno(fn):
    """Map OSError and ArtfsError to FUSE errors; log unexpected ones (never crash the loop)."""

    async def wrapper(*args, **kwargs):
        try:
            return await fn(*args, **kwargs)
        except FUSEError:
            raise
        except OSError as e:
            raise FUSEError(e.errno or errno.EIO) from None
        except ArtfsError as e:
            log.error("%s: %s", fn.__name__, e)
            raise FUSEError(e.errno) from None
        except Exception:  # a bug must fail one request, never the whole mount
            log.exception("%s failed", fn.__name__)
            raise FUSEError(errno.EIO) from None

    wrapper.__name__ = fn.__name__
    return wrapper


# (run, artifact, version number, path, file size): what a read is credited to
Source = tuple[str | None, str, int, str, int]


class StoredFile:
    """An open file of a version (or a placeholder): bytes from the chunk cache.

    ``source`` is (run, artifact, version number, path) when reads are lineage."""

    def __init__(
        self,
        reader: FileReader,
        label: str,
        source: "Source | None" = None,
        item: "VersionItem | None" = None,
    ):
        self.reader, self.label, self.source, self.item = reader, label, source, item


class DirListing:
    """An open directory: its entries, listed on the first readdir (a version's at opendir)."""

    def __init__(self, inode: int):
        self.inode = inode
        self.entries: Listing | list[tuple[bytes, int]] | None = None


class LocalFile:
    """An open staging file: a real descriptor, and the staging item it belongs to."""

    def __init__(self, fd: int, item: StagingItem):
        self.fd, self.item, self.staging = fd, item, item.staging
        item.fds.add(fd)
        # While the file is a placeholder, its bytes come from the store: one reader
        # (with its chunk offsets and read-ahead) for every read, not one per read.
        self.placeholder: tuple[bytes, StoredFile] | None = None

    def stored(self, store, cache, layouts: Layouts) -> "StoredFile | None":
        """The placeholder's content in the store; None once the file holds its own."""
        digest = placeholder_digest(self.fd)
        if digest is None:
            return None
        if self.placeholder is None or self.placeholder[0] != digest:
            entry = placeholder_entry(b"", os.fstat(self.fd), digest)
            self.placeholder = (
                digest,
                StoredFile(FileReader(store, cache, entry, layouts), f"staging {self.staging}"),
            )
        return self.placeholder[1]


# What an open file handle stands for: a version's file, a staging file, a directory,
# or a meta file's JSON (made once, at open)
Handle = StoredFile | LocalFile | DirListing | bytes


class Operations(pyfuse3.Operations):
    supports_dot_lookup = False

    def __init__(
        self,
        store,
        nursery: trio.Nursery,
        *,
        lineage: bool = True,
        warm: bool = False,
        push: bool = False,
    ):
        super().__init__()
        self.lineage = lineage
        self.store = store
        self.nursery = nursery
        self.inodes = Inodes()
        self.views = Views(store, self.inodes)
        self.cache = ChunkCache(store)
        self.layouts = Layouts(store)
        # A helper process (the daemon's choice); only a local store's chunks are files to
        # warm, a remote's are fetched on demand.
        self.warmer = _warmer(store) if warm and isinstance(store.chunks, ChunkFiles) else None
        self.attribution = Attribution(store)
        self.handles: dict[int, Handle] = {}
        self._fh = itertools.count(1)
        self._committing: dict[str, trio.Event] = {}
        # held by a commit and by every copy-up of the same staging: a commit never sees
        # (nor turns into a placeholder) a file that is being copied in
        self._locks: collections.defaultdict[str, trio.Lock] = collections.defaultdict(trio.Lock)
        self._refreshing = trio.Lock()
        self._trees: dict[str, pt.Tree] = {}
        self._unwritten = False  # the last write of read records failed (a full disk...)
        # Small files' bytes go with their opens (a mounted session only: notify_store
        # needs the kernel), until the kernel says it cannot store pages (ENOSYS).
        self._push = push

    # --- helpers -----------------------------------------------------------------

    def _staging_item(self, inode: int) -> StagingItem:
        node = self.inodes[inode]
        if not isinstance(node, StagingItem):
            raise FUSEError(errno.EROFS)
        return node

    async def _writable(self, inode: int) -> StagingItem:
        """The staging item to mutate, after any commit of its staging has finished."""
        item = self._staging_item(inode)
        await self._no_commit(item.staging)
        return item

    async def _no_commit(self, staging: str) -> None:
        while (event := self._committing.get(staging)) is not None:
            await event.wait()

    async def _real_content(
        self, item: StagingItem, fd: int | None = None, truncate: bool = False
    ) -> None:
        """Return when the file (through ``fd``, else its path) holds real content and no
        commit runs; the caller then changes it without awaiting, so the change is wholly
        before or after any commit."""
        if fd is None:
            fd = self._open_item(item, os.O_RDONLY)
            try:
                return await self._real_content(item, fd, truncate)
            finally:
                os.close(fd)
        while True:
            await self._no_commit(item.staging)
            if placeholder_digest(fd) is None:
                return
            async with self._locks[item.staging]:
                if placeholder_digest(fd) is not None:
                    await trio.to_thread.run_sync(
                        lambda: copy_up(self.store, fd, truncate=truncate)
                    )

    def _open_item(self, item: StagingItem, flags: int) -> int:
        """A new descriptor of a staging file (one still open but unlinked, too)."""
        flags = (flags & ~OPEN_IGNORED) | os.O_NOFOLLOW | os.O_CLOEXEC
        if not item.paths and item.fds:
            return os.open(f"/proc/self/fd/{next(iter(item.fds))}", flags & ~os.O_NOFOLLOW)
        with item.tree.at(item.path) as (dir_fd, tail):
            return os.open(tail, flags, dir_fd=dir_fd)

    def _tree(self, name: str) -> pt.Tree:
        """The open tree of a staging; a staging made anew since gets a new one."""
        path = Staging(self.store, name).tree
        st = os.stat(path)
        tree = self._trees.get(name)
        if tree is None or not os.path.samestat(os.fstat(tree.fd), st):
            tree = self._trees[name] = pt.Tree(name, path)
        return tree

    def _intern_staging(self, tree: pt.Tree, rel: bytes) -> int:
        st = tree.lstat(rel)
        inode = self.inodes.intern(("stg", st.st_dev, st.st_ino), StagingItem, tree)
        self.inodes[inode].paths.add(rel)
        return inode

    def _entry(self, inode: int) -> pyfuse3.EntryAttributes:
        self.inodes.remember(inode)
        return self._attr(inode)

    def _attr(self, inode: int) -> pyfuse3.EntryAttributes:
        node = self.inodes[inode]
        if isinstance(node, StagingItem):
            if not node.paths and node.fds:  # unlinked, still open
                return pt.real_attr(inode, os.fstat(next(iter(node.fds))))
            return pt.real_attr(inode, node.tree.lstat(node.path))
        return self.views.attr(inode)

    async def _run_of(self, pid: int) -> str | None:
        """The run of a requesting process; the running runs are re-read (in a worker
        thread) only when the store has changed since.  One re-read at a time: two at
        once could finish out of order, and the older would hide a run just started."""
        if self.attribution.stale():
            async with self._refreshing:
                if self.attribution.stale():
                    await trio.to_thread.run_sync(self.attribution.refresh)
        return self.attribution.run_of(pid)

    def _new_handle(self, handle: Handle) -> int:
        fh = next(self._fh)
        self.handles[fh] = handle
        return fh

    # --- lookups and attributes ----------------------------------------------------------

    @errors_to_errno
    async def lookup(self, parent_inode, name, ctx):
        parent = self.inodes[parent_inode]
        if isinstance(parent, StagingItem):
            return self._entry(self._intern_staging(parent.tree, pt.child_path(parent.path, name)))
        if parent_inode == STAGINGS:
            if not _ok_name(name) or not Staging(self.store, name.decode()).exists():
                raise FUSEError(errno.ENOENT)
            return self._entry(self._intern_staging(self._tree(name.decode()), b""))
        inode = self.views.lookup(parent_inode, name)
        if self.warmer is not None:
            self._hint(inode)
        return self._entry(inode)

    def _hint(self, inode: int) -> None:
        """A file looked up is opened and read next: have its first chunk read now."""
        node = self.inodes[inode]
        assert self.warmer is not None
        if (
            isinstance(node, VersionItem)
            and node.entry.kind == FILE
            and node.entry.size
            and (node.name, node.number) not in self.warmer.covered
        ):
            self.warmer.hint(self.layouts.of(node.entry).chunks[0][0])

    async def forget(self, inode_list):
        for inode, count in inode_list:
            self.inodes.forget(inode, count)

    @errors_to_errno
    async def getattr(self, inode, ctx):
        return self._attr(inode)

    @errors_to_errno
    async def setattr(self, inode, attr, fields, fh, ctx):
        item = await self._writable(inode)
        handle = self.handles.get(fh) if fh is not None else None
        fd = handle.fd if isinstance(handle, LocalFile) else None
        if fields.update_size:
            await self._real_content(item, fd, truncate=attr.st_size == 0)
            if fd is not None:
                os.ftruncate(fd, attr.st_size)
            else:  # the path now: a rename while we waited may have moved it
                own = self._open_item(item, os.O_WRONLY)
                try:
                    os.ftruncate(own, attr.st_size)
                finally:
                    os.close(own)
        if not item.paths and fd is None and item.fds:
            fd = next(iter(item.fds))  # unlinked, still open
        pt.set_attrs(item.tree, item.path if fd is None else b"", fd, attr, fields)
        return self._attr(inode)

    @errors_to_errno
    async def readlink(self, inode, ctx):
        node = self.inodes[inode]
        if isinstance(node, StagingItem):
            with node.tree.at(node.path) as (dir_fd, tail):
                return os.readlink(tail, dir_fd=dir_fd)
        return self.views.readlink(inode)

    # --- directories ------------------------------------------------------------------

    @errors_to_errno
    async def opendir(self, inode, ctx):
        node = self.inodes[inode]
        handle = DirListing(inode)
        if isinstance(node, VersionItem) and node.entry.kind == DIR:
            listing = handle.entries = self.views.listing(inode, node)  # never changes
            self.inodes.hold(listing)  # its numbers stay valid while the handle is open
        return self._new_handle(handle)

    @errors_to_errno
    async def readdir(self, fh, start_id, token):
        handle = self.handles[fh]
        assert isinstance(handle, DirListing), "the kernel reads only what opendir opened"
        # "." and ".." come first, at offsets 0 and 1; the kernel counts no lookup for them
        for offset in range(start_id, 2):
            if not pyfuse3.readdir_reply(
                token, (b".", b"..")[offset], self._attr(handle.inode), offset + 1
            ):
                return
        start = max(start_id, 2) - 2
        if isinstance(handle.entries, Listing):
            return self._reply_listing(handle.entries, start, token)
        if handle.entries is None or start_id == 0:  # listed once per opendir (or rewind)
            handle.entries = self._listing(handle.inode)
        for index, (name, inode) in enumerate(handle.entries[start:], start + 3):
            if not pyfuse3.readdir_reply(token, name, self._attr(inode), index):
                return
            self.inodes.remember(inode)

    def _reply_listing(self, listing: Listing, start: int, token) -> None:
        """A version directory's names, with attributes made straight from its tree:
        the hot loop of ``find`` and ``ls -l`` over a dataset."""
        attr, base, replied = self.views.listing_attr(listing), listing.base, 0
        entries, mtimes, dirs, reply = (
            listing.entries,
            listing.mtimes,
            listing.dirs,
            pyfuse3.readdir_reply,
        )
        for index in range(start, len(listing)):
            entry = entries[index]
            filled = fill_entry_attr(attr, base + index, entry, mtimes[index], dirs.get(index))
            if not reply(token, entry.name, filled, index + 3):
                break
            replied += 1
        self.inodes.hold(listing, replied)  # each name replied is a kernel lookup

    async def releasedir(self, fh):
        handle = self.handles.pop(fh, None)
        if isinstance(handle, DirListing) and isinstance(handle.entries, Listing):
            self.inodes.release(handle.entries)

    def _listing(self, inode: int) -> list[tuple[bytes, int]]:
        node = self.inodes[inode]
        if isinstance(node, StagingItem):
            with node.tree.at(node.path) as (dir_fd, tail):
                fd = os.open(tail, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            try:
                names = sorted(map(os.fsencode, os.listdir(fd)))
            finally:
                os.close(fd)
            return [
                (n, self._intern_staging(node.tree, pt.child_path(node.path, n))) for n in names
            ]
        if inode == STAGINGS:
            return [
                (n.encode(), self._intern_staging(self._tree(n), b""))
                for n in staging_names(self.store)
            ]
        return self.views.names(inode)

    @errors_to_errno
    async def mkdir(self, parent_inode, name, mode, ctx):
        if parent_inode == STAGINGS:
            return await self._new_staging(name)
        parent = await self._writable(parent_inode)
        path = pt.child_path(parent.path, name)
        mode = stat.S_IMODE(mode) & ~ctx.umask
        with parent.tree.at(path) as (dir_fd, tail):
            with as_caller(ctx):
                os.mkdir(tail, mode, dir_fd=dir_fd)
            pt.add_group_other_bits(dir_fd, tail, mode)
        return self._entry(self._intern_staging(parent.tree, path))

    async def _new_staging(self, name: bytes) -> pyfuse3.EntryAttributes:
        text = name.decode(errors="surrogateescape")
        try:
            check_name(text)
        except ArtfsError as e:
            log.warning("mkdir staging/%r refused: %s", text, e)
            raise FUSEError(errno.EINVAL) from None
        staging = Staging(self.store, text)
        if staging.exists():
            raise FUSEError(errno.EEXIST)
        await trio.to_thread.run_sync(staging.create)
        return self._entry(self._intern_staging(self._tree(text), b""))

    @errors_to_errno
    async def rmdir(self, parent_inode, name, ctx):
        if parent_inode == STAGINGS:
            if not _ok_name(name) or not Staging(self.store, name.decode()).exists():
                raise FUSEError(errno.ENOENT)
            staging = Staging(self.store, name.decode())
            if os.listdir(staging.tree):
                raise FUSEError(errno.ENOTEMPTY)
            self._forget_staging(staging.name)
            await trio.to_thread.run_sync(staging.remove)
            return
        parent = await self._writable(parent_inode)
        path = pt.child_path(parent.path, name)
        with parent.tree.at(path) as (dir_fd, tail):
            os.rmdir(tail, dir_fd=dir_fd)
        self._forget_path(parent.tree, path)

    def _forget_staging(self, name: str) -> None:
        """A staging's tree is gone: none of its items may be found again by a new file
        that reuses an inode number on disk (open ones go on through their descriptors)."""
        tree = self._trees.pop(name, None)
        for item in self.inodes.staging_items():
            if item.tree is tree:
                item.paths = set()
                self.inodes.retire(item)

    # --- names ------------------------------------------------------------------------

    def _forget_path(self, tree: pt.Tree, path: bytes) -> None:
        """A name is gone; an inode left with no name must not be found by a new file
        that reuses its number on disk."""
        items = [i for i in self.inodes.staging_items() if i.tree is tree]
        for item in pt.forget_path(items, path):
            self.inodes.retire(item)

    @errors_to_errno
    async def unlink(self, parent_inode, name, ctx):
        parent = await self._writable(parent_inode)
        path = pt.child_path(parent.path, name)
        with parent.tree.at(path) as (dir_fd, tail):
            os.unlink(tail, dir_fd=dir_fd)
        self._forget_path(parent.tree, path)

    @errors_to_errno
    async def symlink(self, parent_inode, name, target, ctx):
        parent = await self._writable(parent_inode)
        path = pt.child_path(parent.path, name)
        with parent.tree.at(path) as (dir_fd, tail), as_caller(ctx):
            os.symlink(target, tail, dir_fd=dir_fd)
        return self._entry(self._intern_staging(parent.tree, path))

    @errors_to_errno
    async def link(self, inode, new_parent_inode, new_name, ctx):
        item = await self._writable(inode)
        parent = await self._writable(new_parent_inode)
        if item.staging != parent.staging:
            raise FUSEError(errno.EXDEV)
        path = pt.child_path(parent.path, new_name)
        with item.tree.at(item.path) as (src_fd, src), parent.tree.at(path) as (dst_fd, dst):
            os.link(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
        item.paths.add(path)
        return self._entry(inode)

    @errors_to_errno
    async def rename(self, parent_old, name_old, parent_new, name_new, flags, ctx):
        old_parent = await self._writable(parent_old)
        new_parent = await self._writable(parent_new)
        if old_parent.staging != new_parent.staging:
            raise FUSEError(errno.EXDEV)
        tree = old_parent.tree
        old = pt.child_path(old_parent.path, name_old)
        new = pt.child_path(new_parent.path, name_new)
        exchange = bool(flags & pyfuse3.RENAME_EXCHANGE)
        replaced = not exchange and _lexists(tree, new)
        pt.rename(tree, old, new, flags)
        if replaced:
            self._forget_path(tree, new)
        pt.rename_paths(
            [i for i in self.inodes.staging_items() if i.tree is tree], old, new, exchange
        )

    @errors_to_errno
    async def mknod(self, parent_inode, name, mode, rdev, ctx):
        parent = await self._writable(parent_inode)  # EROFS outside staging, first
        path = pt.child_path(parent.path, name)
        perm = stat.S_IMODE(mode) & ~ctx.umask
        with parent.tree.at(path) as (dir_fd, tail):
            with as_caller(ctx):
                os.mknod(tail, stat.S_IFMT(mode) | perm, rdev, dir_fd=dir_fd)
            pt.add_group_other_bits(dir_fd, tail, perm)
        return self._entry(self._intern_staging(parent.tree, path))

    # --- files -------------------------------------------------------------------------

    @errors_to_errno
    async def open(self, inode, flags, ctx):
        node = self.inodes[inode]
        writing = flags & WRITE_FLAGS
        if isinstance(node, StagingItem):
            if writing:
                node = await self._writable(inode)
                await self._real_content(node, truncate=bool(flags & os.O_TRUNC))
            fd = self._open_item(node, flags)
            return pyfuse3.FileInfo(fh=self._new_handle(LocalFile(fd, node)))
        if writing:
            raise FUSEError(errno.EROFS)
        if isinstance(node, MetaFile):
            return pyfuse3.FileInfo(fh=self._new_handle(self.views.meta_json(node)))
        if isinstance(node, VersionItem) and node.entry.kind in (FILE, REFERENCE):
            if node.entry.kind == REFERENCE:
                raise FUSEError(errno.EOPNOTSUPP)
            reader = FileReader(self.store, self.cache, node.entry, self.layouts)
            if self.warmer is not None and self.warmer.due((node.name, node.number)):
                self.nursery.start_soon(self._warm_version, node.name, node.number)
            path = node.path.decode(errors="replace")
            source, run = None, None
            if self.lineage:
                run = await self._run_of(ctx.pid)
                source = (run, node.name, node.number, path, node.entry.size)
                self.attribution.opened(*source)
                self._count_open(node, source)
            # Pages another run read would hide this run's reads from us: keep the
            # kernel's cache only for the run that filled it (or that this open fills).
            filled = node.reader_run == run
            pushed = not filled and await self._pushed(inode, node, reader, source)
            keep = pushed or filled or not self.lineage
            node.reader_run = run
            node.handles += 1
            handle = StoredFile(reader, f"{node.name}:v{node.number}: {path}", source, node)
            return pyfuse3.FileInfo(fh=self._new_handle(handle), keep_cache=keep)
        raise FUSEError(errno.EISDIR)

    async def _pushed(
        self, inode: int, node: VersionItem, reader: FileReader, source: "Source | None"
    ) -> bool:
        """Whether a small file's bytes went to the kernel's page cache with its open
        (credited to the opening run as read: the kernel's first READ would have asked
        for all of them).  Never while another handle of the file is open: a READ of
        it in flight holds pages locked until we answer, and storing into a locked
        page would wait for an answer this loop cannot give."""
        if not self._push or node.handles or node.entry.size > PUSH_BYTES:
            return False
        node.handles += 1  # an open of the same file while we fetch does not push too
        try:
            data = await reader.read(0, node.entry.size)
        except (ArtfsError, OSError):  # the reads will fail (or fetch) and tell
            return False
        finally:
            node.handles -= 1
        if node.handles:  # opened by another meanwhile: its READs may be in flight
            return False
        try:
            # Any contiguous buffer: pyfuse3 takes it as one (its stub says bytes), so a
            # raw chunk's view goes to the kernel without a copy.
            pyfuse3.notify_store(inode, 0, data)  # type: ignore[arg-type]
        except OSError as e:
            if e.errno == errno.ENOSYS:
                self._push = False
            return False
        if source is not None:
            self.attribution.read(*source, len(data))
        return True

    async def _warm_version(self, name: str, number: int) -> None:
        """Many files of a version are being opened: warm all of it (see fs/warm.py)."""
        assert self.warmer is not None
        warmer, store = self.warmer, self.store

        def warm() -> None:  # the version's record and trees read off the loop, too
            version = store.resolve(Ref(name, f"v{number}"))
            warmer.bulk(store.version_chunks(version), (name, number))

        try:
            await trio.to_thread.run_sync(warm)
        except (ArtfsError, OSError) as e:  # a hint: the reads themselves will tell
            log.info("did not warm %s:v%d: %s", name, number, e)

    @errors_to_errno
    async def create(self, parent_inode, name, mode, flags, ctx):
        parent = await self._writable(parent_inode)
        path = pt.child_path(parent.path, name)
        perm = stat.S_IMODE(mode) & ~ctx.umask
        with parent.tree.at(path) as (dir_fd, tail):
            with as_caller(ctx):
                fd = os.open(tail, flags | os.O_CREAT | os.O_CLOEXEC, perm, dir_fd=dir_fd)
            pt.add_group_other_bits(dir_fd, tail, perm)
        inode = self._intern_staging(parent.tree, path)
        fh = self._new_handle(LocalFile(fd, self.inodes[inode]))
        return pyfuse3.FileInfo(fh=fh), self._entry(inode)

    @errors_to_errno
    async def read(self, fh, off, size):
        handle = self.handles[fh]
        if isinstance(handle, bytes):
            return handle[off : off + size]
        if isinstance(handle, LocalFile):
            stored = handle.stored(self.store, self.cache, self.layouts)
            if stored is None:
                return os.pread(handle.fd, size, off)
            handle = stored
        assert isinstance(handle, StoredFile), "the kernel reads only what open opened"
        try:
            data = await handle.reader.read(off, size)
        except CorruptData as e:
            log.error("read of %s failed: %s", handle.label, e)
            raise FUSEError(errno.EIO) from None
        if handle.source is not None:
            self.attribution.read(*handle.source, len(data))
        return data

    @errors_to_errno
    async def write(self, fh, off, buf):
        handle = self.handles[fh]
        if not isinstance(handle, LocalFile):
            raise FUSEError(errno.EROFS)
        # made clean by a commit since open? copy in through the descriptor: the file may
        # have been renamed or unlinked since
        await self._real_content(handle.item, handle.fd)
        return os.pwrite(handle.fd, buf, off)

    # No flush: pyfuse3 answers ENOSYS, and the kernel then sends no FLUSH on any later
    # close (a round trip saved per file). Writes go straight to the staging file, so a
    # close has nothing to push.

    @errors_to_errno
    async def fsync(self, fh, datasync):
        handle = self.handles[fh]
        if isinstance(handle, LocalFile):
            (os.fdatasync if datasync else os.fsync)(handle.fd)

    def _count_open(self, node: VersionItem, source: tuple) -> None:
        """Another run with the file open at the same time makes both runs' counts lower
        bounds: say so, rather than credit one what the other read."""
        run, name, number, path, _ = source
        node.open_by = node.open_by or {}
        others = [r for r, n in node.open_by.items() if n and r != run]
        for other in others:
            self.attribution.shared(other, name, number, path)
        if others:
            self.attribution.shared(run, name, number, path)
        node.open_by[run] = node.open_by.get(run, 0) + 1

    @errors_to_errno
    async def release(self, fh):
        handle = self.handles.pop(fh, None)
        if isinstance(handle, StoredFile) and handle.item is not None:  # a version's file
            handle.item.handles -= 1
            open_by = handle.item.open_by
            if handle.source and open_by and open_by.get(handle.source[0]):
                open_by[handle.source[0]] -= 1
        if isinstance(handle, LocalFile):
            handle.item.fds.discard(handle.fd)
            os.close(handle.fd)

    def close(self) -> None:
        """Stop the chunk workers and the warming helper (at unmount)."""
        self.cache.close()
        if self.warmer is not None:
            self.warmer.close()

    def held_digests(self) -> tuple[set[bytes], set[bytes]]:
        """What gc must keep for this mount (see Inodes.held_digests).  gc may then delete
        every other file's chunk list, so their cached layouts go."""
        trees, files = self.inodes.held_digests()
        self.layouts.keep_only(files)
        return trees, files

    # --- the file system -------------------------------------------------------------

    @errors_to_errno
    async def statfs(self, ctx):
        st = os.statvfs(self.store.path)
        out = pyfuse3.StatvfsData()
        for key in (
            "f_bsize",
            "f_frsize",
            "f_blocks",
            "f_bfree",
            "f_bavail",
            "f_files",
            "f_ffree",
            "f_favail",
            "f_namemax",
        ):
            setattr(out, key, getattr(st, key))
        return out

    # --- extended attributes ---------------------------------------------------------

    @errors_to_errno
    async def getxattr(self, inode, name, ctx):
        node = self.inodes[inode]
        if isinstance(node, StagingItem):
            if name in pt.HIDDEN_XATTRS:
                raise FUSEError(pyfuse3.ENOATTR)
            with node.tree.proc(node.path) as path:
                return _xattr_call(os.getxattr, path, name)
        if not name.startswith(XATTR_PREFIX):  # ls -l asks each file for two others
            raise FUSEError(pyfuse3.ENOATTR)
        value = self.views.xattrs(inode).get(name)
        if value is None:
            raise FUSEError(pyfuse3.ENOATTR)
        return value

    @errors_to_errno
    async def listxattr(self, inode, ctx):
        node = self.inodes[inode]
        if isinstance(node, StagingItem):
            with node.tree.proc(node.path) as path:
                names = os.listxattr(path, follow_symlinks=False)
            return [n.encode() for n in names if n.encode() not in pt.HIDDEN_XATTRS]
        return list(self.views.xattrs(inode))

    @errors_to_errno
    async def setxattr(self, inode, name, value, ctx):
        item = await self._writable(inode)
        pt.check_xattr_name(name)
        with item.tree.proc(item.path) as path:
            os.setxattr(path, name, value, follow_symlinks=False)

    @errors_to_errno
    async def removexattr(self, inode, name, ctx):
        item = await self._writable(inode)
        pt.check_xattr_name(name)
        with item.tree.proc(item.path) as path:
            _xattr_call(os.removexattr, path, name)

    # --- commits (asked for through the control socket) -------------------------------

    async def record_reads_forever(self) -> None:
        """Write what runs read at least once a second (a crash loses at most that).  A
        full disk or damaged metadata never stops the mount: the records wait in memory
        until they can be written, and reads go on (or fail with EIO, if the store can no
        longer be read)."""
        while True:
            await trio.sleep(FLUSH_SECONDS)
            with contextlib.suppress(StoreError):
                await self.record_reads()

    async def record_reads(self) -> None:
        """Store what runs read; StoreError (DiskFull if the store's disk has no room), the
        records kept for the next try, if they cannot be written now."""
        batch = self.attribution.take_batch()
        try:
            await trio.to_thread.run_sync(lambda: self.attribution.write_batch(*batch))
        except (*meta.FULL_ERRORS, OSError, StoreError) as e:
            if not isinstance(e, StoreError) and not meta.is_disk_full(e):
                raise
            if not self._unwritten:
                log.warning(
                    "reads are kept in memory and written once they can be: %s",
                    "the store's disk is full" if not isinstance(e, StoreError) else e,
                )
            self._unwritten = True
            self.attribution.put_back(*batch)
            raise e if isinstance(e, StoreError) else disk_full(self.store.path) from None
        if self._unwritten:
            log.info("the reads kept in memory are written")
            self._unwritten = False

    async def commit(self, name: str, *, pid: int | None = None, **options):
        """Commit a staging while its writers wait; the staging then shows the new version.

        Without an explicit run, the version is an output of the requesting process's run."""
        if not options.get("run_id") and pid is not None:
            options["run_id"] = await self._run_of(pid)
        await self.record_reads()  # the run must be stored before a version names it
        staging = Staging(self.store, name)
        async with self._locks[name]:
            event = self._committing[name] = trio.Event()
            try:
                return await trio.to_thread.run_sync(lambda: staging.commit(**options))
            finally:
                del self._committing[name]
                event.set()

    async def restage(self, name: str, base) -> bool:
        """Make staging ``name`` show ``base`` (None: empty), replacing one with no
        uncommitted changes; → whether one was replaced."""
        staging = Staging(self.store, name)
        async with self._holding_writers(name):
            replaced = staging.exists()
            if replaced:
                await self._discard(staging, then=" first")
            await self.stage(name, base)
        if replaced:
            await self._invalidate_staging(name)
        return replaced

    async def unstage(self, name: str, force: bool = False) -> None:
        """Discard a staging (refused while it holds uncommitted changes, unless forced)."""
        staging = Staging(self.store, name)
        async with self._holding_writers(name):
            await self._discard(staging, force=force)
        await self._invalidate_staging(name)

    @contextlib.asynccontextmanager
    async def _holding_writers(self, name: str):
        """Changes to the staging wait meanwhile, as during a commit: nothing is written
        between the check for uncommitted changes and the removal."""
        async with self._locks[name]:
            event = self._committing[name] = trio.Event()
            try:
                yield
            finally:
                del self._committing[name]
                event.set()

    async def _discard(self, staging: Staging, *, force: bool = False, then: str = "") -> None:
        if not force:
            self._refuse_open_writers(staging, then)
        await trio.to_thread.run_sync(lambda: discard(staging, force=force, then=then))
        self._forget_staging(staging.name)  # like an rmdir of staging/NAME

    def _refuse_open_writers(self, staging: Staging, then: str) -> None:
        """A file open for writing would take its next writes into a removed file."""
        writing = sorted(
            os.fsdecode(item.path) if item.paths else "(a deleted file)"
            for item in self.inodes.staging_items()
            if item.staging == staging.name and any(map(_writing, item.fds))
        )
        if writing:
            raise Conflict(
                f"staging {staging.name!r} has files open for writing "
                f"({few(writing)}); close them{then}, or discard it with "
                f"'artfs unstage {staging.name} --force'"
            )

    async def _invalidate_staging(self, name: str) -> None:
        """The kernel still knows staging/NAME as the removed directory: make it look again.
        In a thread: the kernel may need an answer from this loop first."""
        with contextlib.suppress(OSError):  # ENOENT: the kernel never looked it up
            await trio.to_thread.run_sync(pyfuse3.invalidate_entry, STAGINGS, name.encode())

    async def stage(self, name: str, base) -> None:
        staging = Staging(self.store, name)
        await trio.to_thread.run_sync(lambda: staging.create(base))


def _warmer(store) -> Warmer | None:
    try:
        return Warmer(store.chunks)
    except OSError as e:  # reads work without it, only slower
        log.warning("chunk files are not warmed ahead of reads: %s", e)
        return None


def _xattr_call(call, path: bytes, name: bytes):
    try:
        return call(path, name, follow_symlinks=False)
    except OSError as e:
        raise FUSEError(
            pyfuse3.ENOATTR if e.errno == errno.ENODATA else e.errno or errno.EIO
        ) from None


def _lexists(tree: pt.Tree, path: bytes) -> bool:
    try:
        tree.lstat(path)
    except FileNotFoundError:
        return False
    return True


def _ok_name(name: bytes) -> bool:
    try:
        check_name(name.decode())
    except (ArtfsError, UnicodeDecodeError):
        return False
    return True


def _writing(fd: int) -> bool:
    try:
        return fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY
    except OSError:
        return False
