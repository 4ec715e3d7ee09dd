"""Files of a draft (``Artifact.add_file`` and friends), stored when they are added.

W&B snapshots a file when it is added, so a script may delete or change it before
logging.  artfs stores its chunks at once (no copy: the bytes are read once, as a
commit would), and the later commit only publishes them.  Until then those chunks
are written but not indexed, or indexed and needed by no version: gc would free
them.  So every draft owns a pin file ``STORE/drafts/ID`` listing the chunks it
needs, locked (flock) while the draft lives.  gc keeps what a locked pin file
names and deletes the pin files nobody locks (drafts of processes that ended),
whose chunks it then frees as strays.

A pin is written while the commit that stored the chunks holds the gc lock
shared, so gc never sees chunks a draft relies on without their pin.

A part of a distributed artifact (W&B's ``upsert_artifact``) must outlive the
process that added it, so it is kept apart: ``STORE/distributed/KEY/NAME.json``
holds the part's entries and what its draft stored, and gc keeps every chunk a
part names, with no lock, until ``finish_artifact`` publishes the parts and
removes them.
"""

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from artfs.store import meta
from artfs.store.commit import Commit
from artfs.store.durable import write_all
from artfs.store.store import Store
from artfs.store.tree import FILE, Entry

DRAFTS = "drafts"
PARTS = "distributed"


class DraftFiles:
    """What one draft has stored: chunks, chunk lists and stat-cache entries to publish."""

    def __init__(self, store: Store):
        self.store = store
        self.new_chunks: dict[bytes, tuple[int, int]] = {}
        self.filemaps: dict[bytes, bytes] = {}
        self.statcache: dict[bytes, bytes] = {}
        self.pinned: set[bytes] = set()
        self._fd: int | None = None
        self._path = ""

    @contextmanager
    def ingest(self) -> Iterator[Commit]:
        """A commit to store files with; call ``pin`` with its entries before leaving,
        while it still holds the gc lock."""
        with Commit(self.store) as commit:
            yield commit

    def pin(self, commit: Commit, entries: list[Entry]) -> None:
        """Keep, until ``release``, the chunks of ``entries`` (made by ``commit``), and the
        chunk lists of those files (named by the file's digest)."""
        commit.drain()
        chunks = set(commit.new_chunks)
        for entry in entries:
            if entry.kind != FILE or entry.size == 0:
                continue
            chunks.add(entry.digest)
            raw = commit.filemaps.get(entry.digest)
            items = meta.unpack_filemap(raw) if raw is not None else self.store.file_chunks(entry)
            chunks.update(digest for digest, _ in items)
        self._append(chunks)
        self.pinned |= chunks
        self.new_chunks.update(commit.new_chunks)
        self.filemaps.update(commit.filemaps)
        self.statcache.update(commit.statcache)

    def _append(self, chunks: set[bytes]) -> None:
        if self._fd is None:
            folder = os.path.join(self.store.path, DRAFTS)
            os.makedirs(folder, mode=0o700, exist_ok=True)
            self._path = os.path.join(folder, os.urandom(12).hex())
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)  # gc holds the store lock: nobody sees it unlocked
            self._fd = fd
        if chunks:
            write_all(self._fd, b"".join(d.hex().encode() + b"\n" for d in sorted(chunks)))

    def release(self) -> None:
        """The draft was logged (its chunks are indexed now) or dropped."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)
        os.close(self._fd)
        self._fd = None

    def __del__(self) -> None:  # a dropped draft: its chunks become strays for gc
        with contextlib.suppress(Exception):
            self.release()


def pinned_chunks(store: Store, *, dry_run: bool = False) -> set[bytes]:
    """The chunks (and chunk lists) live drafts and distributed parts need.  Called under
    the exclusive gc lock; pin files that no process locks belong to drafts that can no
    longer be logged: they go (unless ``dry_run``), and their chunks are freed as
    strays."""
    pinned = _part_pins(store)
    folder = os.path.join(store.path, DRAFTS)
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return pinned
    for name in names:
        path = os.path.join(folder, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # a live draft
                with open(fd, "rb", closefd=False) as f:
                    pinned.update(
                        bytes.fromhex(line.decode()) for line in f.read().split() if len(line) == 64
                    )
                continue
            if not dry_run:
                os.unlink(path)
        finally:
            os.close(fd)
    return pinned


# --- parts of distributed artifacts ------------------------------------------------------


def parts_dir(store: Store, key: str) -> str:
    return os.path.join(store.path, PARTS, key)


def keep_part(store: Store, folder: str, files: DraftFiles | None, document: dict) -> None:
    """Keep one upsert durably: ``document`` (the part's entries, as the caller encodes
    them) with what its draft stored, so that any process can publish it.  Written while
    the draft's own pin still holds its chunks, and renamed into place whole."""
    document = {
        **document,
        "pins": sorted(d.hex() for d in files.pinned) if files else [],
        "new_chunks": {d.hex(): list(v) for d, v in (files.new_chunks if files else {}).items()},
        "filemaps": {d.hex(): raw.hex() for d, raw in (files.filemaps if files else {}).items()},
    }
    os.makedirs(folder, mode=0o700, exist_ok=True)
    name = f"p{time.time_ns():020d}-{os.getpid()}.json"  # sorts in the order of upserts
    temp = os.path.join(folder, f".{name}.tmp")
    with open(temp, "w") as f:
        json.dump(document, f)
    store.chunks.sync()  # the draft's chunks and this file, before it counts
    os.rename(temp, os.path.join(folder, name))
    store.chunks.sync()  # an upsert that returned survives a crash


def read_parts(folder: str, store: Store) -> tuple[list[dict], DraftFiles]:
    """The parts kept in ``folder``, oldest first, and one DraftFiles holding what all of
    them stored, for the commit that publishes them to adopt."""
    files = DraftFiles(store)
    parts = []
    for name in sorted(n for n in os.listdir(folder) if n.endswith(".json")):
        with open(os.path.join(folder, name)) as f:
            part = json.load(f)
        files.new_chunks.update(
            {bytes.fromhex(d): tuple(v) for d, v in part.pop("new_chunks").items()}
        )
        files.filemaps.update(
            {bytes.fromhex(d): bytes.fromhex(raw) for d, raw in part.pop("filemaps").items()}
        )
        parts.append(part)
    return parts, files


def _part_pins(store: Store) -> set[bytes]:
    """Every chunk a kept part names (also of parts being published: ``KEY~PID``)."""
    pinned: set[bytes] = set()
    top = os.path.join(store.path, PARTS)
    for folder, _, names in os.walk(top):
        for name in names:
            if name.endswith(".json") and not name.startswith("."):
                with open(os.path.join(folder, name)) as f:
                    pinned.update(bytes.fromhex(d) for d in json.load(f).get("pins", []))
    return pinned
