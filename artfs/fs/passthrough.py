"""The writable part of the mount: staging directories, passed through to disk.

A staging item is a real file under STORE/staging/NAME/tree, known to the
kernel by an inode of ours and to us by its path(s) relative to that tree.
Every system call reaches it from a descriptor of the tree (``*at`` calls),
so paths inside the mount may be as long as the kernel allows, wherever the
store lives.  System calls on local files are short, so they run on the trio
loop; copying a placeholder's content in from the store runs in a worker
thread.
"""

import ctypes
import errno
import os
import stat
from contextlib import contextmanager
from typing import Any

import pyfuse3
from pyfuse3 import FUSEError

from artfs.store.staging import COW_XATTR

HIDDEN_XATTRS = {COW_XATTR.encode()}
# Relative paths shorter than this go to one *at call as they are; longer ones are
# walked to in pieces (the kernel refuses a path of PATH_MAX bytes or more).
SHORT_PATH = 2048
_libc = ctypes.CDLL(None, use_errno=True)
_libc.renameat2.argtypes = [
    ctypes.c_int,
    ctypes.c_char_p,
    ctypes.c_int,
    ctypes.c_char_p,
    ctypes.c_uint,
]


class Tree:
    """A staging's working tree, held open: the start of every path of its items."""

    def __init__(self, name: str, path: str):
        self.name = name
        self.fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def __del__(self):
        os.close(self.fd)

    @contextmanager
    def at(self, rel: bytes):
        """(directory descriptor, relative path) to hand an ``*at`` call for ``rel``."""
        if len(rel) < SHORT_PATH:
            yield self.fd, rel or b"."
            return
        opened: list[int] = []
        fd, parts = self.fd, rel.split(b"/")
        try:
            while len(b"/".join(parts)) >= SHORT_PATH:
                take = _prefix_under(parts, SHORT_PATH)
                fd = os.open(
                    b"/".join(parts[:take]), os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd
                )
                opened.append(fd)
                parts = parts[take:]
            yield fd, b"/".join(parts)
        finally:
            for each in opened:
                os.close(each)

    @contextmanager
    def proc(self, rel: bytes):
        """A short path that reaches ``rel`` itself (for calls with no ``*at`` form)."""
        with self.at(rel) as (fd, tail):
            yield b"/proc/self/fd/%d/%s" % (fd, tail)

    def lstat(self, rel: bytes) -> os.stat_result:
        with self.at(rel) as (fd, tail):
            return os.stat(tail, dir_fd=fd, follow_symlinks=False)


def _prefix_under(parts: list[bytes], limit: int) -> int:
    """How many leading components (at least one) to open in one call."""
    length, take = 0, 0
    while take < len(parts) - 1 and length + len(parts[take]) + 1 < limit:
        length += len(parts[take]) + 1
        take += 1
    return max(take, 1)


def real_attr(inode: int, st: os.stat_result) -> pyfuse3.EntryAttributes:
    a = pyfuse3.EntryAttributes()
    for key in (
        "st_mode",
        "st_nlink",
        "st_uid",
        "st_gid",
        "st_rdev",
        "st_size",
        "st_blksize",
        "st_blocks",
        "st_atime_ns",
        "st_mtime_ns",
        "st_ctime_ns",
    ):
        setattr(a, key, getattr(st, key))
    a.st_ino = inode
    a.entry_timeout = a.attr_timeout = 1.0
    return a


def child_path(parent: bytes, name: bytes) -> bytes:
    if name in (b".", b"..") or b"/" in name:
        raise FUSEError(errno.EINVAL)
    return parent + b"/" + name if parent else name


def set_attrs(
    tree: Tree, rel: bytes, fd: int | None, attr: pyfuse3.EntryAttributes, fields
) -> None:
    """chmod / chown / utimens (size is done by the caller: it may copy up), through the
    open descriptor ``fd`` when there is one."""
    st = os.fstat(fd) if fd is not None else tree.lstat(rel)
    with tree.at(rel) as (dir_fd, tail):
        where: dict[str, Any] = {"path": fd} if fd is not None else {"path": tail, "dir_fd": dir_fd}
        nofollow: dict[str, Any] = {} if fd is not None else {"follow_symlinks": False}
        if fields.update_uid or fields.update_gid:
            os.chown(
                **where,
                uid=attr.st_uid if fields.update_uid else -1,
                gid=attr.st_gid if fields.update_gid else -1,
                **nofollow,
            )
        if fields.update_mode and not stat.S_ISLNK(st.st_mode):
            os.chmod(**where, mode=stat.S_IMODE(attr.st_mode))
        if fields.update_atime or fields.update_mtime:
            atime = attr.st_atime_ns if fields.update_atime else st.st_atime_ns
            mtime = attr.st_mtime_ns if fields.update_mtime else st.st_mtime_ns
            os.utime(**where, ns=(atime, mtime), **nofollow)


def add_group_other_bits(dir_fd: int, name: bytes, mode: int) -> None:
    """The daemon's umask took the group and other write bits the caller asked for (after
    its own umask): put them back, keeping whatever the kernel decided (a setgid bit
    inherited, or stripped).  As the daemon: a chmod by the caller could strip more."""
    wanted = mode & 0o022
    if wanted:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode) and (st.st_mode & wanted) != wanted:
            os.chmod(name, stat.S_IMODE(st.st_mode) | wanted, dir_fd=dir_fd)


def rename(tree: Tree, old: bytes, new: bytes, flags: int) -> None:
    """renameat2: RENAME_NOREPLACE and RENAME_EXCHANGE as the disk does them."""
    with tree.at(old) as (old_fd, old_tail), tree.at(new) as (new_fd, new_tail):
        if _libc.renameat2(old_fd, old_tail, new_fd, new_tail, flags) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def rename_paths(items, old: bytes, new: bytes, exchange: bool = False) -> None:
    """After a rename on disk, known paths under ``old`` now live under ``new`` (and the
    other way round for an exchange)."""
    moves = [(old, new), (new, old)] if exchange else [(old, new)]

    def moved(path: bytes) -> bytes:
        for src, dst in moves:
            if path == src or path.startswith(src + b"/"):
                return dst + path[len(src) :]
        return path

    for item in items:
        item.paths = {moved(p) for p in item.paths}


def forget_path(items, path: bytes) -> list:
    """Drop ``path`` (and paths under it); returns the items left with no path at all."""
    prefix = path + b"/"
    orphans = []
    for item in items:
        if not item.paths:
            continue
        item.paths = {p for p in item.paths if p != path and not p.startswith(prefix)}
        if not item.paths:
            orphans.append(item)
    return orphans


def check_xattr_name(name: bytes) -> None:
    if name in HIDDEN_XATTRS:
        raise FUSEError(errno.EPERM)
