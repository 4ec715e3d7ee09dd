"""Turning files into a version, atomically.

A ``Commit`` ingests files (chunk, hash, compress, write new chunks in worker
threads), builds Merkle trees, and ``publish`` makes the version visible in
one LMDB write transaction, after ``syncfs`` has made every new chunk durable.
A crash at any point before that transaction leaves only unreferenced chunk
files, which gc removes; a crash after it leaves a complete version.

The commit holds the store's gc lock shared from its first dedup check to its
publication, so gc cannot free a chunk it decided not to write again.

Files whose (device, inode, size, mtime, ctime) match the stat cache are not
read again: their digest comes from the cache, if the store still holds it.
"""

import io
import os
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

from artfs.errors import ArtfsError, Conflict, MissingPath, SpecialFile, StoreError
from artfs.store import attrs, keys, meta, pending, rundocs, statcache
from artfs.store.chunker import MIN_CHUNK, chunks_of_stream
from artfs.store.chunks import digest_of, encode
from artfs.store.holes import is_zeros, skipping_holes, zeros
from artfs.store.local import LocalObjectTxn, LocalRefTxn
from artfs.store.names import LATEST, check_alias, check_name, check_run_id
from artfs.store.remote import Claim
from artfs.store.store import PENDING, Store, Version
from artfs.store.tree import (
    DIR,
    FILE,
    REFERENCE,
    SYMLINK,
    Entry,
    check_component,
    encode_tree,
    tree_digest,
)

WORKERS = 2
MAX_IN_FLIGHT = 8  # chunks being compressed/written at once: bounds memory to ~8 x 4 MiB
SHORT_PATH = 2048  # longer paths are opened one directory at a time (PATH_MAX is 4096)
RACY_SECONDS = 2.0  # files modified this recently are not trusted to the stat cache

Progress = Callable[[int], None]


class Node(dict):
    """A directory being built: name (bytes) -> Entry, or Node for a subdirectory.

    Times ride beside the entries (``mtimes``, and a subdirectory's own ``mtime_ns``):
    they are not content.  Whatever has none gets the commit's time."""

    def __init__(self, mode: int = 0o755, mtime_ns: int | None = None):
        super().__init__()
        self.mode = mode
        self.mtime_ns = mtime_ns
        self.mtimes: dict[bytes, int] = {}

    def child_dir(self, name: bytes) -> "Node":
        sub = self.get(check_component(name))
        if sub is None:
            sub = self[name] = Node()
        elif not isinstance(sub, Node):
            raise Conflict(f"{name.decode(errors='replace')} is a file and a directory")
        return sub

    def place(self, path: bytes, entry_or_node, mtime_ns: int | None = None) -> None:
        """Put something at a relative path, creating parent directories."""
        *parents, leaf = [p for p in path.split(b"/") if p]
        node = self
        for part in parents:
            node = node.child_dir(part)
        node.add(check_component(leaf), entry_or_node, mtime_ns)

    def add(self, name: bytes, entry_or_node, mtime_ns: int | None = None) -> None:
        self[name] = entry_or_node
        if mtime_ns is not None and not isinstance(entry_or_node, Node):
            self.mtimes[name] = mtime_ns


class Commit:
    """One version in the making.  Use as a context manager, then ``publish``."""

    def __init__(
        self,
        store: Store,
        *,
        progress: Progress | None = None,
        skip_special: bool = False,
        warn: Callable[[str], None] | None = None,
    ):
        self.store = store
        self.progress = progress or (lambda n: None)
        self.skip_special = skip_special
        self.warn = warn or (lambda msg: None)
        self.started = time.time()
        self.new_chunks: dict[bytes, tuple[int, int]] = {}  # written by this commit
        self.filemaps: dict[bytes, bytes] = {}
        self.trees: dict[bytes, bytes] = {}
        self.attrs: dict[bytes, bytes] = {}
        self.skipped: list[str] = []  # special files left out (skip_special)
        self.statcache: dict[bytes, bytes] = {}
        self._claimed: set[bytes] = set()  # chunks this commit has handled or is writing
        self._claim_lock = threading.Lock()
        self._futures: list[Future] = []
        self._slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)
        self._stack = ExitStack()

    def __enter__(self) -> "Commit":
        self._stack.enter_context(self.store.gc_lock())
        self._pool = self._stack.enter_context(ThreadPoolExecutor(WORKERS, "artfs-chunk"))
        self._zero_chunks: dict[int, Future] = {}
        # One snapshot of the objects for the dedup checks and the stat cache.
        self._objects = self._stack.enter_context(self.store.objects.transaction())
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    # --- chunks --------------------------------------------------------------

    def _content_known(self, digest: bytes, size: int) -> bool:
        """Whether the store (or this commit) already holds a file's content."""
        if size == 0 or digest in self._claimed or digest in self.filemaps:
            return True
        return self._objects.has(keys.chunk_index_key(digest)) or self._objects.has(
            keys.filemap_key(digest)
        )

    def _submit(self, data: bytes, digest: bytes | None = None) -> Future:
        """Hash (unless given), dedup, compress and write a chunk in a worker: → digest."""
        self._slots.acquire()
        future = self._pool.submit(self._store_chunk, data, digest)
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append(future)
        return future

    def _store_chunk(self, data: bytes, digest: bytes | None) -> bytes:
        digest = digest or digest_of(data)
        if self._claim(digest):
            stored = self.store.chunks.put(digest, *encode(data))
            with self._claim_lock:
                self.new_chunks[digest] = (len(data), stored)
        return digest

    def _claim(self, digest: bytes) -> bool:
        """True for the one caller that must write this chunk: new to the store and commit."""
        with self._claim_lock:
            if digest in self._claimed:
                return False
            self._claimed.add(digest)
        return self.store.objects.find(keys.chunk_index_key(digest)) is None  # any thread

    def _drain(self) -> None:
        """Wait for every chunk write; re-raise the first failure."""
        for future in self._futures:
            future.result()
        self._futures.clear()

    drain = _drain  # a draft pins what a commit wrote once it is all written

    def adopt(self, new_chunks: dict, filemaps: dict, statcache: dict) -> None:
        """Publish with this version what a draft stored when its files were added (and
        kept pinned since, so gc has not freed it)."""
        self.new_chunks.update(new_chunks)
        self.filemaps.update(filemaps)
        self.statcache.update(statcache)
        self._claimed.update(new_chunks)

    # --- files -----------------------------------------------------------------

    def file_entry(
        self,
        name: bytes,
        path: str | bytes | int,
        st: os.stat_result | None = None,
        *,
        cache: bool = True,
        key_path: bytes | None = None,
    ) -> Entry:
        """Ingest one regular file; its Entry carries the content digest.  ``path`` is the
        file (or an open descriptor of it); ``key_path`` (default ``path``, absolute) names
        it in the stat cache."""
        st = st or os.stat(path)
        # LMDB keys are at most 511 bytes
        if key_path is None:
            assert not isinstance(path, int), "a descriptor is named by its key_path"
            key_path = os.fsencode(path)
        if cache and (entry := self.cached_entry(name, st, key_path)) is not None:
            return entry
        return self._read_entry(name, path, st, key_path if cache else None)

    def _read_entry(
        self, name: bytes, path: str | bytes | int, st: os.stat_result, key_path: bytes | None
    ) -> Entry:
        """Ingest a file the stat cache did not vouch for; remember it there under
        ``key_path`` (None: not at all) once it is old enough to trust."""
        digest, size = self._ingest(path)
        if key_path and size == st.st_size and st.st_mtime < self.started - RACY_SECONDS:
            self.statcache[statcache.key_of(key_path)] = statcache.entry(st, digest)
        return Entry(name, FILE, stat.S_IMODE(st.st_mode), size, digest)

    def cached_entry(self, name: bytes, st: os.stat_result, key_path: bytes) -> Entry | None:
        """The Entry of a file the stat cache vouches for (unchanged since a commit read
        it, and its content still in the store), without opening it; else None."""
        digest = self._cached_digest(statcache.key_of(key_path), st)
        if digest is None:
            return None
        self.progress(st.st_size)
        return Entry(name, FILE, stat.S_IMODE(st.st_mode), st.st_size, digest)

    def _cached_digest(self, key: bytes, st: os.stat_result) -> bytes | None:
        digest = statcache.cached_digest(self._objects.lmdb, self.store.meta.db, key, st)
        if digest is None:
            return None
        return digest if self._content_known(digest, st.st_size) else None

    def _ingest(self, path: str | bytes | int) -> tuple[bytes, int]:
        # buffered: read() returns short only at the end; a descriptor stays the caller's
        with open(path, "rb", closefd=not isinstance(path, int)) as f:
            reader = skipping_holes(f)
            head = reader.read(MIN_CHUNK)
            if len(head) < MIN_CHUNK:
                return self._ingest_small(head), len(head)
            reader.seek(0)
            return self._ingest_large(reader)

    def _ingest_small(self, data: bytes) -> bytes:
        digest = digest_of(data)
        if data and digest not in self._claimed:
            self._submit(data, digest)
        self.progress(len(data))
        return digest

    def _ingest_large(self, f) -> tuple[bytes, int]:
        pieces = []
        data: bytes | memoryview
        for view in chunks_of_stream(f):
            if is_zeros(view):  # holes of sparse files, zero padding
                data, piece = zeros(len(view)), self._zero_chunk(len(view))
            else:
                data = bytes(view)  # the view is reused by the chunker; workers need a copy
                piece = self._submit(data)
            pieces.append((piece, len(data)))
            self.progress(len(data))
        items = [(piece.result(), size) for piece, size in pieces]
        digest = meta.file_digest(items)  # from the chunk digests: no second pass
        if len(items) > 1:
            self.filemaps[digest] = meta.pack_filemap(items)
        return digest, sum(n for _, n in items)

    def _zero_chunk(self, size: int) -> Future:
        """A chunk of zeros: hashed and stored once per size, not once per chunk.  Zeros
        cut at the maximum chunk size, so a 100 GiB hole is one chunk repeated."""
        future = self._zero_chunks.get(size)
        if future is None:
            future = self._zero_chunks[size] = self._submit(bytes(size))
        return future

    def bytes_entry(self, name: bytes, data: bytes, mode: int = 0o644) -> Entry:
        """A file given as bytes (chunked like a file on disk)."""
        if len(data) < MIN_CHUNK:
            digest = self._ingest_small(data)
        else:
            digest = self._ingest_large(io.BytesIO(data))[0]
        return Entry(name, FILE, mode, len(data), digest)

    def reference_entry(self, name: bytes, uri: str, size: int, digest: bytes) -> Entry:
        return Entry(name, REFERENCE, 0o644, size, digest, uri.encode())

    def inherited_entry(self, entry: Entry) -> Entry:
        """An entry of an existing version, reused as is: its content must still be stored."""
        if entry.kind == FILE and not self._content_known(entry.digest, entry.size):
            raise StoreError(
                f"{entry.name.decode(errors='replace')} of the base version is no "
                "longer stored (removed and collected); add the file again"
            )
        return entry

    # --- directories -----------------------------------------------------------

    def scan_dir(
        self,
        path: str | bytes,
        node: Node | None = None,
        entry_for: Callable[[bytes, int, os.stat_result, bytes], Entry] | None = None,
    ) -> Node:
        """A directory on disk as a Node: files ingested (or made into entries by
        ``entry_for(name, open descriptor, stat, stat-cache path)``), links kept as links,
        every mtime recorded.

        The whole tree is walked before any file is read, so that a refused
        special file stops the commit before it has stored anything.  Directories
        are reached from their parent's descriptor, so depth has no limit.
        """
        root = os.path.abspath(os.fsencode(path))
        st = os.stat(root)
        node = node if node is not None else Node(stat.S_IMODE(st.st_mode))
        node.mtime_ns = st.st_mtime_ns
        groups: list[tuple[bytes, Node, list]] = []
        specials: list[bytes] = []
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            self._walk(fd, b"", node, groups, specials)
        finally:
            os.close(fd)
        self._refuse_special(root, specials)
        for rel, parent, files in groups:
            folder = os.path.join(root, rel, b"")
            with open_dir(root, rel) as dir_fd:
                for name, st in files:
                    key = folder + name
                    entry = self._scanned_entry(dir_fd, name, st, key, entry_for)
                    parent.add(name, entry, st.st_mtime_ns)
        return node

    def _scanned_entry(
        self,
        dir_fd: int,
        name: bytes,
        st: os.stat_result,
        key: bytes,
        entry_for: Callable[[bytes, int, os.stat_result, bytes], Entry] | None,
    ) -> Entry:
        """A walked file's Entry.  Without a caller's ``entry_for``, a file the stat cache
        vouches for is not even opened (an unchanged re-commit of 20,000 files spent a
        third of its time on the opens)."""
        if entry_for is None and (entry := self.cached_entry(name, st, key)) is not None:
            return entry
        fd = _open_file(dir_fd, name, key)
        try:
            return (entry_for or self._read_entry)(name, fd, st, key)
        finally:
            os.close(fd)

    def _walk(self, fd: int, rel: bytes, node: Node, groups: list, specials: list) -> None:
        files: list[tuple[bytes, os.stat_result]] = []
        with os.scandir(fd) as it:
            items = sorted(it, key=lambda item: item.name)
        for item in items:
            name = os.fsencode(item.name)
            st = item.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                sub = node.child_dir(name)
                sub.mode, sub.mtime_ns = stat.S_IMODE(st.st_mode), st.st_mtime_ns
                child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                try:
                    self._walk(child, os.path.join(rel, name), sub, groups, specials)
                finally:
                    os.close(child)
            elif stat.S_ISREG(st.st_mode):
                files.append((name, st))
            elif stat.S_ISLNK(st.st_mode):
                node.add(
                    name,
                    Entry(name, SYMLINK, 0o777, 0, b"", os.readlink(name, dir_fd=fd)),
                    st.st_mtime_ns,
                )
            else:
                specials.append(os.path.join(rel, name))
        if files:
            groups.append((rel, node, files))

    def _refuse_special(self, root: bytes, specials: list[bytes]) -> None:
        """Fifos, sockets and devices cannot be in a version: refuse them all at once, or
        leave them out and say which (``skip_special``)."""
        shown = [os.fsdecode(os.path.join(root, p)) for p in specials]
        if shown and not self.skip_special:
            more = f" and {len(shown) - 3} more" if len(shown) > 3 else ""
            raise SpecialFile(
                f"{', '.join(shown[:3])}{more}: fifos, sockets and devices cannot "
                "be in a version; remove them, or pass --skip-special"
            )
        for path in shown:
            self.skipped.append(path)
            self.warn(f"skipped special file {path}")

    def build(self, node: Node) -> tuple[bytes, bytes, int, int]:
        """Write the tree and attribute objects of a Node: (root digest, attribute digest,
        total bytes, file count)."""
        entries, size, files = [], 0, 0
        dirs: dict[bytes, attrs.DirAttrs] = {}
        default = int(self.started * 1e9)
        mtimes: dict[bytes, int] = {}
        for name, child in node.items():
            if isinstance(child, Node):
                digest, child_attrs, sub_size, sub_files = self.build(child)
                entries.append(Entry(name, DIR, child.mode, 0, digest))
                subdirs = sum(isinstance(c, Node) for c in child.values())
                dirs[name] = attrs.DirAttrs(subdirs, child_attrs)
                mtimes[name] = child.mtime_ns if child.mtime_ns is not None else default
                size, files = size + sub_size, files + sub_files
            else:
                entries.append(child)
                mtimes[name] = node.mtimes.get(name, default)
                if child.kind in (FILE, REFERENCE):
                    size, files = size + child.size, files + 1
        blob = encode_tree(entries)
        digest = tree_digest(blob)
        self.trees[digest] = blob
        order = sorted(mtimes)  # the tree's order
        attrs_blob = attrs.encode([mtimes[n] for n in order], [dirs[n] for n in order if n in dirs])
        attrs_digest = attrs.digest_of(attrs_blob)
        self.attrs[attrs_digest] = attrs_blob
        return digest, attrs_digest, size, files

    # --- publication -------------------------------------------------------------

    def publish(
        self,
        name: str,
        node: Node,
        *,
        type: str = "dataset",
        description: str = "",
        metadata: dict | None = None,
        message: str = "",
        aliases=(),
        run_id: str | None = None,
        base: str | None = None,
        refs: dict[str, str] | None = None,
        history_step: int | None = None,
    ) -> tuple[Version, bool]:
        """Make the version visible; (version, False) if the newest version has this content.

        ``base`` is the label of the version this one was derived from (staged or drafted
        from), recorded for lineage; ``refs`` maps paths whose content came from another
        artifact's file to W&B's reference URL of it (``wandb-artifact://``);
        ``history_step`` is the logging run's next metrics step (W&B's)."""
        self.base, self.refs, self.history_step = base, refs, history_step  # for the record
        aliases = check_publication(name, type, aliases, metadata, run_id)
        root, root_attrs, size, files = self.build(node)
        times = {
            "attrs": root_attrs.hex(),
            "mtime_ns": node.mtime_ns if node.mtime_ns is not None else int(self.started * 1e9),
        }
        self._drain()
        if self.new_chunks:
            self.store.chunks.sync()
        self._objects.close()  # the write transactions below see everything newer
        record = {
            "root": root.hex(),
            "size": size,
            "files": files,
            "created": time.time(),
            "base": self.base,
            **({"refs": self.refs} if self.refs else {}),
            **({} if self.history_step is None else {"history_step": self.history_step}),
            "type": type,
            "description": description,
            "metadata": metadata or {},
            "message": message,
            "run": run_id,
            # stored bytes of the chunks this version added (with a remote: set to what
            # the remote lacked, as it is uploaded)
            "new_bytes": sum(stored for _, stored in self.new_chunks.values()),
            **times,
        }
        if self.store.remote is None:  # one LMDB transaction, one fsync: objects and version
            with self.store.refs.transaction(write=True) as txn:
                self._write_objects(self.store.objects.within(txn))
                return record_locally(self.store, txn, name, record, aliases, run_id)
        # The objects locally first (invisible until a version names them), so the
        # upload reads them from one place; then the remote, the store of record.
        with self.store.objects.transaction(write=True) as objects:
            self._write_objects(objects)
        if self.store.is_offline():
            kept = pending.keep(self.store, name, record, aliases, run_id)
            return Version(name, PENDING, kept.record, list(aliases)), True
        return publish_on_remote(self.store, name, record, aliases, run_id)

    def _write_objects(self, txn: LocalObjectTxn) -> None:
        for digest, (raw, stored) in self.new_chunks.items():
            txn.put(keys.chunk_index_key(digest), meta.CHUNK.pack(raw, stored), replace=True)
        for digest, blob in self.filemaps.items():
            txn.put(keys.filemap_key(digest), blob)
        for digest, blob in self.trees.items():
            txn.put(keys.tree_key(digest), blob)
        for digest, blob in self.attrs.items():
            txn.put(keys.attrs_key(digest), blob)
        statcache.put_all(txn.lmdb, self.store.meta.db, self.statcache.items())


def _open_file(dir_fd: int, name: bytes, shown: bytes) -> int:
    """A file found regular by the walk, opened without blocking on (or following) what
    may have replaced it since."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SpecialFile(
            f"{os.fsdecode(shown)} stopped being a regular file during the commit; commit again"
        )
    return fd


@contextmanager
def open_dir(root: bytes, rel: bytes):
    """A descriptor of ``root/rel``, reached one piece at a time when the path is longer
    than one system call takes."""
    if len(root) + len(rel) < SHORT_PATH:
        root, rel = os.path.join(root, rel), b""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in filter(None, rel.split(b"/")):
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def check_publication(
    name: str, type: str, aliases=(), metadata: dict | None = None, run_id: str | None = None
) -> list:
    """Refuse a bad name, type, alias, metadata or run id before any file is read;
    → user aliases."""
    check_name(name)
    check_name(type, "artifact type")
    if run_id is not None:
        check_run_id(run_id, "run id (from $ARTFS_RUN_ID, or given)")
    meta.check_document(metadata or {}, "metadata")  # depth, keys, size; NaN, Infinity
    return [check_alias(a) for a in aliases if a != LATEST]


def check_exists(path: str) -> os.stat_result:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        raise MissingPath(f"{path} does not exist") from None
    except OSError as e:
        raise ArtfsError(f"cannot read {path}: {e.strerror}") from None


def publish_on_remote(
    store: Store, name: str, record: dict, aliases: list, run_id: str | None
) -> tuple[Version, bool]:
    """Publish a version whose objects are in the local store on its remote, then take
    it in locally under the number claimed there."""
    assert store.remote is not None
    claim = store.remote.publish(name, record, aliases)
    with store.refs.transaction(write=True) as txn:
        published = record_locally(store, txn, name, record, aliases, run_id, claim)
    if run_id:
        store.push_lineage()  # the run's new output
    return published


def publish_pending(store: Store, progress: Callable[[str], None] = lambda label: None) -> int:
    """Publish what was committed offline, oldest first (``artfs sync``); → versions."""
    published = 0
    for kept in pending.waiting(store):
        version, _ = publish_on_remote(store, kept.name, kept.record, kept.aliases, kept.run)
        pending.done(kept)
        progress(version.label)
        published += 1
    return published


def record_locally(
    store: Store,
    txn: LocalRefTxn,
    name: str,
    record: dict,
    aliases: list,
    run_id: str | None,
    claim: "Claim | None" = None,
) -> tuple[Version, bool]:
    """The version in the local store: numbered here, or as the remote claimed it."""
    raw = txn.get(keys.artifact_key(name))
    art = (
        store.artifact(name, txn)
        if raw
        else {
            "type": record["type"],
            "description": record["description"],
            "created": time.time(),
            "next_version": 0,
        }
    )
    if art["type"] != record["type"]:
        raise Conflict(f"artifact {name!r} has type {art['type']!r}, not {record['type']!r}")
    versions = store.versions(name, txn) if raw else []
    if claim is not None:
        number, created, stored = claim.number, claim.created, claim.record
    # A latest version whose record cannot be read holds unknown content: a new one.
    elif versions and versions[-1].damage is None and versions[-1].root.hex() == record["root"]:
        number, created, stored = versions[-1].number, False, None
    else:
        number, created, stored = art["next_version"], True, meta.dumps(record)
    if stored is not None:
        txn.put(keys.version_key(name, number), stored)
    if created or not raw:  # also a version another machine made, new here
        art["next_version"] = max(art["next_version"], number + 1)
        if record["description"]:
            art["description"] = record["description"]
        txn.put(keys.artifact_key(name), meta.dumps(art))
    if run_id:  # also when the content was there: the run made it, if not first
        txn.put(keys.output_key(run_id, name, number), b"")
        if claim is not None:
            rundocs.mark(txn.lmdb, store.meta.db, run_id)  # the remote's bookkeeping
    for alias in aliases:
        txn.put(keys.alias_key(name, alias), meta.pack_version(number))
    return store.resolve(f"{name}:v{number}", txn), created
