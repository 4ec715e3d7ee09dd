"""A minimal read-only FUSE file system serving a directory tree from memory.

The reference for scripts/bench_mount.py: the same pyfuse3 + trio stack as
the artfs mount, with nothing behind it but bytes in RAM, so the difference
between the two is what artfs itself costs.  Like artfs's version trees, it
opens files with keep_cache and gives the kernel long entry/attr timeouts.

    python scripts/memfs.py SRC_DIR MOUNTPOINT

loads every file of SRC_DIR (a 1 GiB file takes 1 GiB of RAM) and serves
them until unmounted (fusermount3 -u MOUNTPOINT) or sent SIGTERM/SIGINT.
Regular files, directories and symlinks are kept; anything else is skipped.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import stat
import sys
from dataclasses import dataclass, field

import pyfuse3
import trio

TIMEOUT = 3600.0  # seconds the kernel may cache entries and attributes


@dataclass(eq=False)
class Node:
    """One file, directory or symlink, with the attributes it had at load time."""

    mode: int
    mtime_ns: int
    data: bytes = b""  # a file's contents or a symlink's target
    children: dict[bytes, int] = field(default_factory=dict)  # name -> inode, for directories


class MemFS(pyfuse3.Operations):
    """Serve a tree of Nodes by inode; every request is answered without awaiting."""

    def __init__(self, nodes: dict[int, Node], xattrs: bool = False):
        super().__init__()
        self.nodes = nodes
        self.xattrs = xattrs
        self.uid, self.gid = os.getuid(), os.getgid()
        self.views = {
            inode: memoryview(node.data) for inode, node in nodes.items() if stat.S_ISREG(node.mode)
        }

    def _node(self, inode: int) -> Node:
        try:
            return self.nodes[inode]
        except KeyError:
            raise pyfuse3.FUSEError(errno.ENOENT) from None

    def _attr(self, inode: int) -> pyfuse3.EntryAttributes:
        node = self._node(inode)
        a = pyfuse3.EntryAttributes()
        a.st_ino = inode
        a.st_mode = node.mode
        a.st_nlink = 2 if stat.S_ISDIR(node.mode) else 1
        a.st_uid, a.st_gid = self.uid, self.gid
        a.st_size = len(node.data)
        a.st_blksize = 128 * 1024
        a.st_blocks = (a.st_size + 511) // 512
        a.st_atime_ns = a.st_mtime_ns = a.st_ctime_ns = node.mtime_ns
        a.entry_timeout = a.attr_timeout = TIMEOUT
        return a

    async def lookup(self, parent_inode, name, ctx):
        inode = self._node(parent_inode).children.get(name)
        if inode is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return self._attr(inode)

    async def forget(self, inode_list):
        pass  # nothing is ever dropped: the tree is fixed

    async def getxattr(self, inode, name, ctx):
        """With --xattrs, "no such attribute" (as a file system that has them answers);
        otherwise ENOSYS, after which the kernel never asks again."""
        raise pyfuse3.FUSEError(pyfuse3.ENOATTR if self.xattrs else errno.ENOSYS)

    async def getattr(self, inode, ctx):
        return self._attr(inode)

    async def readlink(self, inode, ctx):
        node = self._node(inode)
        if not stat.S_ISLNK(node.mode):
            raise pyfuse3.FUSEError(errno.EINVAL)
        return node.data

    async def opendir(self, inode, ctx):
        if not stat.S_ISDIR(self._node(inode).mode):
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        return inode

    async def readdir(self, fh, start_id, token):
        entries = list(self.nodes[fh].children.items())  # dicts keep load order: stable
        for index, (name, inode) in enumerate(entries[start_id:], start_id + 1):
            if not pyfuse3.readdir_reply(token, name, self._attr(inode), index):
                return

    async def open(self, inode, flags, ctx):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_APPEND):
            raise pyfuse3.FUSEError(errno.EROFS)
        if not stat.S_ISREG(self._node(inode).mode):
            raise pyfuse3.FUSEError(errno.EISDIR)
        return pyfuse3.FileInfo(fh=inode, keep_cache=True)

    async def read(self, fh, off, size):
        return self.views[fh][off : off + size]  # a view: no copy before the reply

    async def release(self, fh):
        pass

    async def statfs(self, ctx):
        out = pyfuse3.StatvfsData()
        out.f_bsize = out.f_frsize = 4096
        out.f_blocks = sum(len(n.data) for n in self.nodes.values()) // 4096
        out.f_files = len(self.nodes)
        out.f_namemax = 255
        return out


def load(src: str) -> dict[int, Node]:
    """Every file, directory and symlink under src, by inode (the root is ROOT_INODE)."""
    nodes: dict[int, Node] = {}

    def add(path: str, st: os.stat_result, parent: Node | None, name: bytes) -> Node | None:
        if stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                node = Node(stat.S_IFREG | 0o444, st.st_mtime_ns, f.read())
        elif stat.S_ISLNK(st.st_mode):
            node = Node(stat.S_IFLNK | 0o777, st.st_mtime_ns, os.fsencode(os.readlink(path)))
        elif stat.S_ISDIR(st.st_mode):
            node = Node(stat.S_IFDIR | 0o555, st.st_mtime_ns)
        else:
            return None
        inode = pyfuse3.ROOT_INODE if parent is None else len(nodes) + pyfuse3.ROOT_INODE
        nodes[inode] = node
        if parent is not None:
            parent.children[name] = inode
        return node

    def walk(path: str, directory: Node) -> None:
        with os.scandir(path) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            node = add(
                entry.path, entry.stat(follow_symlinks=False), directory, os.fsencode(entry.name)
            )
            if node is not None and stat.S_ISDIR(node.mode):
                walk(entry.path, node)

    root = add(src, os.stat(src), None, b"")
    if root is None or not stat.S_ISDIR(root.mode):
        raise SystemExit(f"memfs: {src} is not a directory")
    walk(src, root)
    return nodes


async def serve(
    nodes: dict[int, Node], mountpoint: str, xattrs: bool = False, writable: bool = False
) -> None:
    # A read-only mount spares the kernel's GETATTR after each read: it drops a file's
    # cached atime after reads only on writable mounts (artfs's is, for staging).
    options = set(pyfuse3.default_options) | {"fsname=memfs", "subtype=memfs"}
    if not writable:
        options.add("ro")
    pyfuse3.init(MemFS(nodes, xattrs), mountpoint, options)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_stop_on_signal)
            await pyfuse3.main()
            nursery.cancel_scope.cancel()
    finally:
        pyfuse3.close(unmount=True)


async def _stop_on_signal() -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for _ in signals:
            pyfuse3.terminate()
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", help="directory whose files are loaded into memory")
    parser.add_argument("mountpoint")
    parser.add_argument(
        "--xattrs",
        action="store_true",
        help="answer getxattr (with 'no such attribute'), as artfs must",
    )
    parser.add_argument(
        "--rw",
        action="store_true",
        help="mount read-write, as artfs must (every request still refuses changes)",
    )
    args = parser.parse_args()
    nodes = load(args.src)
    size = sum(len(n.data) for n in nodes.values())
    print(
        f"memfs: {len(nodes)} entries, {size / 2**20:.1f} MiB from {args.src}",
        file=sys.stderr,
        flush=True,
    )
    trio.run(serve, nodes, args.mountpoint, args.xattrs, args.rw)


if __name__ == "__main__":
    main()
