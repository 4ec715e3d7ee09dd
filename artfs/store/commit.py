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
from contextlib import ExitStack

import blake3

from artfs.errors import ArtfsError, Conflict, NotFound, SpecialFile, StoreError
from artfs.store import meta
from artfs.store.chunker import MIN_CHUNK, chunks_of_stream
from artfs.store.chunks import digest_of, encode
from artfs.store.holes import is_zeros, skipping_holes, zeros
from artfs.store.names import LATEST, check_alias, check_name
from artfs.store.store import Store, Version
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
RACY_SECONDS = 2.0  # files modified this recently are not trusted to the stat cache

Progress = Callable[[int], None]


class Node(dict):
    """A directory being built: name (bytes) -> Entry, or Node for a subdirectory."""

    def __init__(self, mode: int = 0o755):
        super().__init__()
        self.mode = mode

    def child_dir(self, name: bytes) -> "Node":
        sub = self.get(check_component(name))
        if sub is None:
            sub = self[name] = Node()
        elif not isinstance(sub, Node):
            raise Conflict(f"{name.decode(errors='replace')} is a file and a directory")
        return sub

    def place(self, path: bytes, entry_or_node) -> None:
        """Put something at a relative path, creating parent directories."""
        *parents, leaf = [p for p in path.split(b"/") if p]
        node = self
        for part in parents:
            node = node.child_dir(part)
        node[check_component(leaf)] = entry_or_node


class Commit:
    """One version in the making.  Use as a context manager, then ``publish``."""

    def __init__(self, store: Store, *, progress: Progress | None = None,
                 skip_special: bool = False, warn: Callable[[str], None] | None = None):
        self.store = store
        self.progress = progress or (lambda n: None)
        self.skip_special = skip_special
        self.warn = warn or (lambda msg: None)
        self.started = time.time()
        self.new_chunks: dict[bytes, tuple[int, int]] = {}  # written by this commit
        self.filemaps: dict[bytes, bytes] = {}
        self.trees: dict[bytes, bytes] = {}
        self.statcache: dict[bytes, bytes] = {}
        self._claimed: set[bytes] = set()  # chunks this commit has handled or is writing
        self._claim_lock = threading.Lock()
        self._futures: list[Future] = []
        self._slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)
        self._stack = ExitStack()

    def __enter__(self) -> "Commit":
        self._stack.enter_context(self.store.gc_lock())
        self._pool = self._stack.enter_context(ThreadPoolExecutor(WORKERS, "artfs-chunk"))
        # Whole-file digests are updated in order on their own thread, off the reader's.
        self._hasher = self._stack.enter_context(ThreadPoolExecutor(1, "artfs-hash"))
        self._zero_chunks: dict[int, Future] = {}
        self._txn = self.store.meta.read()
        self._stack.callback(self._txn.abort)
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    # --- chunks --------------------------------------------------------------

    def _content_known(self, digest: bytes, size: int) -> bool:
        """Whether the store (or this commit) already holds a file's content."""
        if size == 0 or digest in self._claimed or digest in self.filemaps:
            return True
        db = self.store.meta.db
        return (self._txn.get(digest, db=db["chunks"]) is not None
                or self._txn.get(digest, db=db["filemaps"]) is not None)

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
        with self.store.meta.read() as txn:  # a transaction per worker thread
            return txn.get(digest, db=self.store.meta.db["chunks"]) is None

    def _drain(self) -> None:
        """Wait for every chunk write; re-raise the first failure."""
        for future in self._futures:
            future.result()
        self._futures.clear()

    # --- files -----------------------------------------------------------------

    def file_entry(self, name: bytes, path: str | bytes, st: os.stat_result | None = None,
                   *, cache: bool = True) -> Entry:
        """Ingest one regular file (an absolute path); its Entry carries the content digest."""
        st = st or os.stat(path)
        key = digest_of(os.fsencode(path))  # LMDB keys are at most 511 bytes
        digest = self._cached_digest(key, st) if cache else None
        if digest is None:
            digest, size = self._ingest(path)
            if cache and size == st.st_size and st.st_mtime < self.started - RACY_SECONDS:
                self.statcache[key] = meta.STAT.pack(st.st_dev, st.st_ino, st.st_size,
                                                     st.st_mtime_ns, st.st_ctime_ns, digest)
        else:
            size = st.st_size
            self.progress(size)
        return Entry(name, FILE, stat.S_IMODE(st.st_mode), size, digest)

    def _cached_digest(self, key: bytes, st: os.stat_result) -> bytes | None:
        raw = self._txn.get(key, db=self.store.meta.db["statcache"])
        if raw is None:
            return None
        *fields, digest = meta.STAT.unpack(raw)
        if fields != [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]:
            return None
        return digest if self._content_known(digest, st.st_size) else None

    def _ingest(self, path: str | bytes) -> tuple[bytes, int]:
        with open(path, "rb") as f:  # buffered: read() returns short only at the end
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
        whole = blake3.blake3()
        pieces, hashing = [], None
        for view in chunks_of_stream(f):
            if is_zeros(view):  # holes of sparse files, zero padding
                data, piece = zeros(len(view)), self._zero_chunk(len(view))
            else:
                data = bytes(view)  # the view is reused by the chunker; workers need a copy
                piece = self._submit(data)
            if hashing is not None:
                hashing.result()  # at most one chunk queued for the whole-file digest
            hashing = self._hasher.submit(whole.update, data)
            pieces.append((piece, len(data)))
            self.progress(len(data))
        items = [(piece.result(), size) for piece, size in pieces]
        file_digest = self._hasher.submit(whole.digest).result()
        if len(items) > 1:
            self.filemaps[file_digest] = meta.pack_filemap(items)
        return file_digest, sum(n for _, n in items)

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
            raise StoreError(f"{entry.name.decode(errors='replace')} of the base version is no "
                             "longer stored (removed and collected); add the file again")
        return entry

    # --- directories -----------------------------------------------------------

    def scan_dir(self, path: str | bytes, node: Node | None = None,
                 entry_for: Callable[[bytes, bytes, os.stat_result], Entry] | None = None
                 ) -> Node:
        """A directory on disk as a Node: files ingested (or made into entries by
        ``entry_for``), links kept as links.

        The whole tree is walked before any file is read, so that a refused
        special file stops the commit before it has stored anything.
        """
        node = node if node is not None else Node(stat.S_IMODE(os.stat(path).st_mode))
        files: list[tuple[Node, bytes, bytes, os.stat_result]] = []
        self._walk(os.path.abspath(os.fsencode(path)), node, files)
        entry_for = entry_for or self.file_entry
        for parent, name, file_path, st in files:
            parent[name] = entry_for(name, file_path, st)
        return node

    def _walk(self, path: bytes, node: Node, files: list) -> None:
        with os.scandir(path) as it:
            for item in it:
                st = item.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    sub = node.child_dir(item.name)
                    sub.mode = stat.S_IMODE(st.st_mode)
                    self._walk(item.path, sub, files)
                elif stat.S_ISREG(st.st_mode):
                    files.append((node, item.name, item.path, st))
                elif stat.S_ISLNK(st.st_mode):
                    node[item.name] = Entry(item.name, SYMLINK, 0o777, 0, b"",
                                            os.readlink(item.path))
                else:
                    self._special(item.path)

    def _special(self, path: bytes) -> None:
        shown = os.fsdecode(path)
        if not self.skip_special:
            raise SpecialFile(f"{shown} is a fifo, socket or device, which a version cannot "
                              "hold; remove it (artfs put can --skip-special)")
        self.warn(f"skipped special file {shown}")

    def build(self, node: Node) -> tuple[bytes, int, int]:
        """Write the tree objects of a Node: (root digest, total bytes, file count)."""
        entries, size, files = [], 0, 0
        for name, child in node.items():
            if isinstance(child, Node):
                digest, sub_size, sub_files = self.build(child)
                entries.append(Entry(name, DIR, child.mode, 0, digest))
                size, files = size + sub_size, files + sub_files
            else:
                entries.append(child)
                if child.kind in (FILE, REFERENCE):
                    size, files = size + child.size, files + 1
        blob = encode_tree(entries)
        digest = tree_digest(blob)
        self.trees[digest] = blob
        return digest, size, files

    # --- publication -------------------------------------------------------------

    def publish(self, name: str, node: Node, *, type: str = "dataset", description: str = "",
                metadata: dict | None = None, message: str = "", aliases=(),
                run_id: str | None = None, base: str | None = None) -> tuple[Version, bool]:
        """Make the version visible; (version, False) if the newest version has this content.

        ``base`` is the label of the version this one was derived from (staged or drafted
        from), recorded for lineage."""
        self.base = base  # for _publish_in's record
        aliases = check_publication(name, type, aliases, metadata)
        root, size, files = self.build(node)
        self._drain()
        if self.new_chunks:
            self.store.chunks.sync()
        self._txn.abort()  # the write transaction below sees everything newer
        with self.store.meta.write() as txn:
            return self._publish_in(txn, name, root, size, files, type, description,
                                    metadata or {}, message, aliases, run_id)

    def _publish_in(self, txn, name, root, size, files, type, description, metadata, message,
                    aliases, run_id) -> tuple[Version, bool]:
        db = self.store.meta.db
        raw = txn.get(name.encode(), db=db["artifacts"])
        art = meta.loads(raw) if raw else {"type": type, "description": description,
                                           "created": time.time(), "next_version": 0}
        if art["type"] != type:
            raise Conflict(f"artifact {name!r} has type {art['type']!r}, not {type!r}")
        self._write_objects(txn)
        versions = self.store.versions(name, txn) if raw else []
        if versions and versions[-1].root == root:
            number, created = versions[-1].number, False
        else:
            number, created = art["next_version"], True
            record = {"root": root.hex(), "size": size, "files": files, "created": time.time(),
                      "base": self.base,
                      "type": type, "description": description, "metadata": metadata,
                      "message": message, "run": run_id}
            txn.put(meta.version_key(name, number), meta.dumps(record), db=db["versions"])
            art["next_version"] = number + 1
            if description:
                art["description"] = description
            txn.put(name.encode(), meta.dumps(art), db=db["artifacts"])
        if run_id:  # also when the content was there: the run made it, if not first
            txn.put(meta.run_version_key(run_id, name, number), b"", db=db["outputs"])
        for alias in aliases:
            txn.put(meta.alias_key(name, alias), meta.pack_version(number), db=db["aliases"])
        return self.store.resolve(f"{name}:v{number}", txn), created

    def _write_objects(self, txn) -> None:
        db = self.store.meta.db
        for digest, (raw, stored) in self.new_chunks.items():
            txn.put(digest, meta.CHUNK.pack(raw, stored), db=db["chunks"])
        for digest, blob in self.filemaps.items():
            txn.put(digest, blob, db=db["filemaps"], overwrite=False)
        for digest, blob in self.trees.items():
            txn.put(digest, blob, db=db["trees"], overwrite=False)
        for key, value in self.statcache.items():
            txn.put(key, value, db=db["statcache"])


def check_publication(name: str, type: str, aliases=(), metadata: dict | None = None) -> list:
    """Refuse a bad name, type, alias or metadata before any file is read; → user aliases."""
    check_name(name)
    check_name(type, "artifact type")
    meta.dumps(metadata or {})  # NaN and Infinity cannot be stored
    return [check_alias(a) for a in aliases if a != LATEST]


def check_exists(path: str) -> os.stat_result:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        raise NotFound(f"{path} does not exist") from None
    except OSError as e:
        raise ArtfsError(f"cannot read {path}: {e.strerror}") from None
