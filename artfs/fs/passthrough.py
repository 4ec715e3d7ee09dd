"""The writable part of the mount: staging directories, passed through to disk.

A staging item is a real file under STORE/staging/NAME/tree, known to the
kernel by an inode of ours and to us by its real path(s).  System calls on
local files are short, so they run on the trio loop; copying a placeholder's
content in from the store runs in a worker thread.
"""

import errno
import os
import stat

import pyfuse3
from pyfuse3 import FUSEError

from artfs.fs.nodes import StagingItem
from artfs.store.staging import COW_XATTR

HIDDEN_XATTRS = {COW_XATTR.encode()}


def real_attr(inode: int, path: bytes | int) -> pyfuse3.EntryAttributes:
    st = _lstat(path)
    a = pyfuse3.EntryAttributes()
    for key in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_rdev", "st_size", "st_blksize",
                "st_blocks", "st_atime_ns", "st_mtime_ns", "st_ctime_ns"):
        setattr(a, key, getattr(st, key))
    a.st_ino = inode
    a.entry_timeout = a.attr_timeout = 1.0
    return a


def _lstat(path: bytes | int) -> os.stat_result:
    try:
        return os.fstat(path) if isinstance(path, int) else os.lstat(path)
    except OSError as e:
        raise FUSEError(e.errno) from None


def key_of(path: bytes) -> tuple:
    st = _lstat(path)
    return ("stg", st.st_dev, st.st_ino)


def child_path(parent: StagingItem, name: bytes) -> bytes:
    if name in (b".", b"..") or b"/" in name:
        raise FUSEError(errno.EINVAL)
    return os.path.join(parent.path, name)


def set_attrs(path: bytes, attr: pyfuse3.EntryAttributes, fields) -> None:
    """chmod / chown / utimens of a real file (size is done by the caller: it may copy up)."""
    is_link = stat.S_ISLNK(_lstat(path).st_mode)
    if fields.update_mode and not is_link:
        os.chmod(path, stat.S_IMODE(attr.st_mode))
    if fields.update_uid or fields.update_gid:
        os.chown(path, attr.st_uid if fields.update_uid else -1,
                 attr.st_gid if fields.update_gid else -1,
                 **({} if isinstance(path, int) else {"follow_symlinks": False}))
    if fields.update_atime or fields.update_mtime:
        st = _lstat(path)
        atime = attr.st_atime_ns if fields.update_atime else st.st_atime_ns
        mtime = attr.st_mtime_ns if fields.update_mtime else st.st_mtime_ns
        os.utime(path, ns=(atime, mtime),
                 **({} if isinstance(path, int) else {"follow_symlinks": False}))


def rename_paths(items: list[StagingItem], old: bytes, new: bytes) -> None:
    """After a rename on disk, known paths under ``old`` now live under ``new``."""
    prefix = old + b"/"
    for item in items:
        moved = {new + p[len(old):] for p in item.paths if p == old or p.startswith(prefix)}
        if moved:
            item.paths = {p for p in item.paths if p != old and not p.startswith(prefix)} | moved


def forget_path(items: list[StagingItem], path: bytes) -> list[StagingItem]:
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
