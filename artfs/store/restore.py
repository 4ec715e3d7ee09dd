"""Writing a version out to a directory (``artfs get``, ``artifact.download``).

Every chunk is verified on the way out; a damaged one stops the export with
an error naming the file, and never leaves wrong bytes under the final name
(files are written to a temporary name and renamed).  Files already present
with the right digest are left untouched.
"""

import os
import stat
from collections.abc import Callable
from urllib.parse import unquote, urlparse

import blake3

from artfs.errors import ArtfsError, Conflict, CorruptData, NotFound, ReferenceChanged
from artfs.store.holes import write_sparse
from artfs.store.store import Store, Version
from artfs.store.tree import DIR, FILE, REFERENCE, SYMLINK, Entry

_BLOCK = 1 << 20


def file_digest(path: str | bytes) -> bytes:
    h = blake3.blake3()
    with open(path, "rb", buffering=0) as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.digest()


def reference_path(uri: str) -> str:
    """The local path of a ``file://`` reference; other schemes are not fetched here."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise ArtfsError(f"cannot fetch {uri}: only file:// references are supported")
    return unquote(parsed.path)


def _same_file(path: bytes, entry: Entry) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return (stat.S_ISREG(st.st_mode) and st.st_size == entry.size
            and file_digest(path) == entry.digest)


def export(store: Store, version: Version, dest: str,
           progress: Callable[[int], None] = lambda n: None, only: bytes | None = None) -> None:
    """Write ``version``'s tree (or only the path ``only``) into ``dest``.

    Holds the gc lock shared, as a commit does: a version removed meanwhile is
    written out whole, and gc frees its chunks afterwards."""
    with store.gc_lock():
        try:
            store.resolve(version.label)
        except NotFound:
            raise NotFound(f"{version.label} was removed before it could be read; "
                           f"'artfs ls {version.name}' lists the versions left") from None
        _export(store, version, os.fsencode(dest), progress, only)


def _export(store: Store, version: Version, dest_b: bytes, progress, only: bytes | None):
    if only is None:
        os.makedirs(dest_b, exist_ok=True)
        entries = store.walk_times(version)
    else:
        os.makedirs(os.path.dirname(os.path.join(dest_b, only)), exist_ok=True)
        entries = [(only, store.lookup(version.root, only), store.mtime_of(version, only))]
    dirs = []
    for rel, entry, mtime in entries:
        path = os.path.join(dest_b, rel)
        try:
            if entry.kind == DIR:
                _make_dir(path)
                dirs.append((path, entry.mode, mtime))
                continue
            if entry.kind == SYMLINK:
                _make_link(path, entry.target)
                progress(0)
            elif not _same_file(path, entry):
                _write_file(store, path, entry, progress)
            else:
                progress(entry.size)
            os.utime(path, ns=(mtime, mtime), follow_symlinks=False)
        except CorruptData as e:
            raise CorruptData(f"{version.label}: {os.fsdecode(rel)} is damaged in the store "
                              f"({e}); run 'artfs verify'") from None
    # children first: a read-only dir is set last, and filling a dir changes its mtime
    for path, mode, mtime in reversed(dirs):
        os.chmod(path, mode)
        os.utime(path, ns=(mtime, mtime))
    if only is None:
        os.utime(dest_b, ns=(version.mtime_ns, version.mtime_ns))


def _make_dir(path: bytes) -> None:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise Conflict(f"{os.fsdecode(path)} is in the way of a directory; move it") from None


def _make_link(path: bytes, target: bytes) -> None:
    if os.path.islink(path) and os.readlink(path) == target:
        return
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            raise Conflict(f"{os.fsdecode(path)} is a directory in the way of a symlink; move it")
        os.unlink(path)
    os.symlink(target, path)


def _write_file(store: Store, path: bytes, entry: Entry, progress) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        raise Conflict(f"{os.fsdecode(path)} is a directory in the way of a file; move it")
    tmp = path + b".artfs-tmp"
    try:
        with open(tmp, "wb") as out:  # zeros become holes: a sparse file stays sparse
            write_sparse(out, _entry_blocks(store, entry), progress)
        os.chmod(tmp, entry.mode)
        os.rename(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def _entry_blocks(store: Store, entry: Entry):
    if entry.kind == FILE:
        yield from store.read_file(entry)
    elif entry.kind == REFERENCE:
        yield from _reference_blocks(entry)


def _reference_blocks(entry: Entry):
    """A referenced file's bytes, checked against the size and digest it had when recorded."""
    uri = entry.target.decode()
    path = reference_path(uri)
    h, size = blake3.blake3(), 0
    try:
        with open(path, "rb") as f:
            while block := f.read(_BLOCK):
                h.update(block)
                size += len(block)
                yield block
    except FileNotFoundError:
        raise NotFound(f"referenced file {uri} no longer exists") from None
    if size != entry.size or h.digest() != entry.digest:
        raise ReferenceChanged(f"referenced file {uri} changed since it was recorded "
                               f"(size {entry.size} → {size}); log a new version of it")
