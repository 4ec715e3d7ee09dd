"""Writing a version out to a directory (``artfs get``, ``artifact.download``).

Every chunk is verified on the way out; a damaged one stops the export with
an error naming the file, and never leaves wrong bytes under the final name
(files are written to a temporary name and renamed).  Files already present
with the right digest are left untouched.
"""

import contextlib
import os
import stat
from collections.abc import Callable, Iterator

import blake3

from artfs.errors import CommError, Conflict, CorruptData, NotFound
from artfs.store import meta, references
from artfs.store.chunker import chunks_of_stream
from artfs.store.chunks import digest_of
from artfs.store.holes import write_sparse
from artfs.store.packs import Location
from artfs.store.store import Store, Version
from artfs.store.tree import DIR, FILE, REFERENCE, SYMLINK, Entry

_BLOCK = 1 << 20


def holds(path: str | bytes | int, digest: bytes, chunks: list[tuple[bytes, int]]) -> bool:
    """Whether a file (a path, or an open descriptor at its start, left open) holds the
    stored content ``digest`` names, whose chunks are ``chunks`` (``Store.file_chunks``;
    none for a reference).  The file is read once, and no further than its first chunk
    that differs; a file of several chunks committed before format 7 (and a reference) is
    named by BLAKE3 of all its bytes, and hashed whole instead."""
    with open(path, "rb", buffering=0, closefd=not isinstance(path, int)) as f:
        if len(chunks) != 1 and not meta.named_by_chunks(digest, chunks):
            whole = blake3.blake3()
            while block := f.read(_BLOCK):
                whole.update(block)
            return whole.digest() == digest
        expected = iter(chunks)
        for chunk in chunks_of_stream(f):
            if next(expected, None) != (digest_of(chunk), len(chunk)):
                return False
        return next(expected, None) is None


def export(
    store: Store,
    version: Version,
    dest: str,
    progress: Callable[[int], None] = lambda n: None,
    only: bytes | None = None,
    *,
    prefix: bytes | None = None,
    missing_references_ok: bool = False,
    fetch: "list[tuple[bytes, Location]] | None" = None,
) -> None:
    """Write ``version``'s tree (or only the path ``only``, or only the files whose paths
    start with the string ``prefix``) into ``dest``.  A reference that cannot be fetched
    stops the export, unless ``missing_references_ok`` (it is then left out).

    Holds the gc lock shared, as a commit does: a version removed meanwhile is
    written out whole, and gc frees its chunks afterwards.  Everything is written
    through directory descriptors opened from ``dest`` down without following
    links, into new files of unpredictable names: whatever ``dest`` holds (links
    planted at any name), nothing is written outside it.

    With a remote, what the export will read and the cache lacks is fetched first, in
    parallel (``fetch_plan``; pass ``fetch`` to have fetched it already)."""
    with store.gc_lock():
        try:
            store.resolve(version.label)
        except NotFound:
            raise NotFound(
                f"{version.label} was removed before it could be read; "
                f"'artfs ls {version.name}' lists the versions left"
            ) from None
        plan = fetch_plan(store, version, dest, only, prefix) if fetch is None else fetch
        if plan and store.remote is not None:
            store.remote.prefetch(plan)
        os.makedirs(dest, exist_ok=True)
        fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
        try:
            exporter = _Export(store, version, os.fsencode(dest), progress)
            exporter.missing_references_ok = missing_references_ok
            exporter.run(fd, only, prefix)
        except CorruptData as e:
            raise CorruptData(
                f"{version.label} is damaged in the store ({e}); run 'artfs verify'"
            ) from None
        finally:
            os.close(fd)


def fetch_plan(
    store: Store,
    version: Version,
    dest: str | None = None,
    only: bytes | None = None,
    prefix: bytes | None = None,
) -> "list[tuple[bytes, Location]]":
    """The chunks an export of ``version`` into ``dest`` would fetch from the remote one
    by one, to fetch them all at once instead (``Remote.prefetch``).  Nothing without a
    remote or offline, and nothing when they would not fit in half the cache's limit:
    fetched ahead, the first would be evicted again before the export reached them.
    A file already in ``dest`` at its size is left out (the export keeps it if it is the
    same; if not, its chunks are fetched as it is written)."""
    remote = store.remote
    if remote is None or store.is_offline():
        return []
    chunks = (
        chunk
        for path, entry in _selected(store, version, only, prefix)
        if dest is None or not _present(dest, path, entry)
        for chunk, _ in store.file_chunks(entry)
    )
    plan = remote.missing(chunks)
    limit = remote.cache.limit()
    if limit is not None and sum(where.length for _, where in plan) > limit // 2:
        return []
    return plan


def _selected(
    store: Store, version: Version, only: bytes | None, prefix: bytes | None
) -> Iterator[tuple[bytes, Entry]]:
    """(path, entry) of the files an export writes."""
    if only is not None:  # one entry: looked up, not found by walking the whole version
        entry = store.lookup(version.root, only)
        if entry.kind == DIR:
            below = store.walk(entry.digest, only + b"/")
            yield from ((path, e) for path, e in below if e.kind == FILE)
        elif entry.kind == FILE:
            yield only, entry
        return
    for path, entry in store.walk(version.root):
        if entry.kind == FILE and (prefix is None or path.startswith(prefix)):
            yield path, entry


def _present(dest: str, path: bytes, entry: Entry) -> bool:
    try:
        st = os.lstat(os.path.join(os.fsencode(dest), path))
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == entry.size


class _Export:
    def __init__(self, store: Store, version: Version, dest: bytes, progress):
        self.store, self.version, self.dest, self.progress = store, version, dest, progress

    missing_references_ok = False

    def run(self, fd: int, only: bytes | None, prefix: bytes | None = None) -> None:
        if prefix is not None:
            for path, entry in list(self.store.walk(self.version.root)):
                if entry.kind != DIR and path.startswith(prefix):
                    self._one(fd, path)
        elif only is not None:
            self._one(fd, only)
        else:
            self._directory(fd, b"", self.version.root, self.version.attrs_root)
            os.utime(fd, ns=(self.version.mtime_ns, self.version.mtime_ns))

    def _one(self, fd: int, only: bytes) -> None:
        *parents, _ = only.split(b"/")
        entry = self.store.lookup(self.version.root, only)
        opened: list[int] = []
        try:
            for part in parents:
                fd = _open_dir(fd, part, self.dest, create=True)
                opened.append(fd)
            self._entry(
                fd, os.path.dirname(only), entry, self.store.mtime_of(self.version, only), None
            )
        finally:
            for each in opened:
                os.close(each)

    def _directory(self, fd: int, rel: bytes, digest: bytes, attrs: bytes | None) -> None:
        tree = self.store.tree(digest)
        mtimes, dirs = self.store.listing_times(tree, attrs, self.version.mtime_ns)
        subdirs = iter(dirs)
        for entry, mtime in zip(tree, mtimes, strict=True):
            child_attrs = next(subdirs).attrs if entry.kind == DIR else None
            self._entry(fd, rel, entry, mtime, child_attrs)

    def _entry(self, fd: int, rel: bytes, entry: Entry, mtime: int, attrs: bytes | None):
        name, path = entry.name, os.path.join(rel, entry.name)
        try:
            if entry.kind == DIR:
                child = _open_dir(fd, name, self.dest, create=True)
                try:
                    self._directory(child, path, entry.digest, attrs)
                    os.chmod(child, entry.mode)  # filled first: it may be read-only
                    os.utime(child, ns=(mtime, mtime))  # filling it changed its mtime
                finally:
                    os.close(child)
                return
            if entry.kind == SYMLINK:
                _make_link(fd, name, entry.target, self._shown(path))
                self.progress(0)
            elif _same_file(self.store, fd, name, entry):
                self.progress(entry.size)
            else:
                try:
                    _write_file(
                        fd,
                        name,
                        _entry_blocks(self.store, entry),
                        entry.mode,
                        self.progress,
                        self._shown(path),
                    )
                except CommError:  # a reference unreachable or gone: left out if asked
                    if entry.kind == REFERENCE and self.missing_references_ok:
                        return
                    raise
            os.utime(name, ns=(mtime, mtime), dir_fd=fd, follow_symlinks=False)
        except CorruptData as e:
            raise CorruptData(f"{os.fsdecode(path)} is damaged ({e})") from None

    def _shown(self, rel: bytes) -> str:
        return os.fsdecode(os.path.join(self.dest, rel))


def _open_dir(fd: int, name: bytes, dest: bytes, create: bool = False) -> int:
    """A subdirectory's descriptor, never through a link (made if missing)."""
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=fd)
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
    except FileNotFoundError:
        raise
    except OSError:  # ELOOP for a link, ENOTDIR for a file
        raise Conflict(
            f"{os.fsdecode(os.path.join(dest, name))} is in the way of a "
            "directory (a file or a link); move it"
        ) from None


def _lstat(fd: int, name: bytes) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _same_file(store: Store, fd: int, name: bytes, entry: Entry) -> bool:
    st = _lstat(fd, name)
    if st is None or not stat.S_ISREG(st.st_mode) or st.st_size != entry.size:
        return False
    own = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    try:
        return holds(own, entry.digest, store.file_chunks(entry))
    finally:
        os.close(own)


def _make_link(fd: int, name: bytes, target: bytes, shown: str) -> None:
    st = _lstat(fd, name)
    if st is not None and stat.S_ISLNK(st.st_mode) and os.readlink(name, dir_fd=fd) == target:
        return
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise Conflict(f"{shown} is a directory in the way of a symlink; move it")
        os.unlink(name, dir_fd=fd)
    os.symlink(target, name, dir_fd=fd)


def _write_file(fd: int, name: bytes, blocks, mode: int, progress, shown: str) -> None:
    """A new file of an unpredictable name beside ``name``, then renamed over it (a
    rename replaces a link itself, never its target)."""
    st = _lstat(fd, name)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise Conflict(f"{shown} is a directory in the way of a file; move it")
    tmp = b".artfs-" + os.urandom(8).hex().encode()
    out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=fd)
    try:
        with open(out, "wb", closefd=False) as f:  # zeros become holes: sparse stays sparse
            write_sparse(f, blocks, progress)
        os.chmod(out, mode)
        os.rename(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
        tmp = b""
    finally:
        os.close(out)
        if tmp:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=fd)


def _entry_blocks(store: Store, entry: Entry):
    if entry.kind == FILE:
        yield from store.read_file(entry)
    elif entry.kind == REFERENCE:
        yield from references.blocks(entry.target.decode(), entry.size, entry.digest)
