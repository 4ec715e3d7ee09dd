"""A store's remote: the shared S3 home of record that the local store caches.

With a remote, every version, alias and artifact lives on the remote first and
the local store mirrors it.  The remote's key space (docs/format.md, section 16):

    objects/packs/HEX      a pack of chunks, or of trees, attribute objects and chunk lists
    objects/index/HEX      the index of that pack (packs.py)
    refs/artifacts/NAME    {type, description, created}, created once
    refs/versions/NAME/N   the version record (N zero-padded, so keys sort), or a
                           tombstone {"removed": time} once the version is removed
    refs/aliases/NAME      {alias: N} of the artifact

A commit uploads the objects the remote lacks in packs, writes every data
pack's index before any metadata pack's (so a tree on the remote implies its
chunks are), then claims the next version number by creating its record
create-only: two machines committing at once both succeed, with the numbers
after each other.  Aliases and edits move by compare-and-swap.  After each
change the local store takes the remote's state for that artifact, so the two
never disagree for longer than one write.
"""

import bisect
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from artfs.errors import ArtfsError, Conflict, CorruptData, NotFound
from artfs.store import attrs as attrs_mod
from artfs.store import meta, packs, rundocs
from artfs.store.backend import ObjectStore, Ref, RefConflict, RefStore, area_of
from artfs.store.cache import Cache, Pruned
from artfs.store.chunks import ChunkFiles, MissingChunk, decode
from artfs.store.mirror import REMOVED, TAG, Changes
from artfs.store.packs import Location
from artfs.store.remoteconfig import CONFIG, RemoteConfig, retry_seconds
from artfs.store.tree import DIR, FILE, decode_tree

if TYPE_CHECKING:
    from artfs.store.store import Store

LOOK_RETRY_SECONDS = 3.0  # retries of a refresh's first request (the rest: retry_seconds)
UPLOADERS = 4  # packs in flight at once: enough to hide a request's latency
COALESCE = 4 << 20  # bytes of a pack's next chunks fetched along with a missing one
PREFETCH_GAP = 1 << 20  # unwanted bytes between two wanted chunks that one GET fetches along
PACKS_REMEMBERED = 64  # packs whose object order a process keeps in memory
MARKS = "refs/gc/packs/"  # HEX -> {"doomed": time} or {"deleted": time} (remotegc.py)
FULL_LOOK_SECONDS = 60.0  # refresh lists the references at least this often
MAX_AREAS = 16  # changed areas that a refresh lists one by one; more: all references
PACK_KEY = b"p"  # in the remote db: b"p" + pack digest -> its index object
_LOOK = b"look"  # in the remote db: {"token", "tokens", "at", "full_at"} of the last look


def _ignore(size: int) -> None:
    pass


@dataclass
class Prefetched:
    """What ``Remote.prefetch`` did."""

    chunks: int = 0  # kept in the cache
    bytes: int = 0  # of the answers: the chunks, and the gaps fetched along
    requests: int = 0


def _runs(wanted: list[tuple[bytes, Location]]) -> list[list[tuple[bytes, Location]]]:
    """``wanted`` as runs of one pack's chunks in pack order, each fetched by one ranged
    GET: a run ends where the next wanted chunk is PREFETCH_GAP bytes or more away."""
    runs: list[list[tuple[bytes, Location]]] = []
    for digest, where in sorted(wanted, key=lambda item: (item[1].pack, item[1].offset)):
        last = runs[-1][-1][1] if runs else None
        if (
            last is None
            or last.pack != where.pack
            or where.offset - (last.offset + last.length) >= PREFETCH_GAP
        ):
            runs.append([])
        runs[-1].append((digest, where))
    return runs


def _look(
    token: str,
    tokens: dict[str, str],
    at: float,
    last: dict,
    full: bool = False,
    not_yet: frozenset[str] | set[str] = frozenset(),
) -> bytes:
    """The record of a look: the tokens it read, except those of areas holding a
    version it could not take yet (``not_yet``: so the next look lists them again)."""
    return meta.dumps(
        {
            "token": None if not_yet else token,
            "tokens": {area: tag for area, tag in tokens.items() if area not in not_yet},
            "at": at,
            "full_at": at if full else last.get("full_at", 0.0),
        }
    )


def version_key(name: str, number: int) -> str:
    return f"refs/versions/{name}/{number:010d}"


def _number_of(key: str) -> int:
    return int(key.rpartition("/")[2])


@dataclass
class Claim:
    """What publishing on the remote gave: the version's number and record."""

    number: int
    created: bool
    record: bytes


class Remote:
    """The remote of one opened store.  Thread-safe."""

    def __init__(
        self,
        store: "Store",
        config: RemoteConfig,
        objects: ObjectStore,
        refs: RefStore,
        looking: RefStore | None = None,
    ):
        self.store, self.config = store, config
        self.objects, self.refs = objects, refs
        # The first look of a refresh, with few retries: a remote that cannot be reached
        # must not hold up every command that only reads what is cached.
        self.looking = looking or refs
        self._refresh_lock = threading.Lock()
        self._fetching: dict[bytes, threading.Event] = {}
        self._items: dict[bytes, list] = {}  # a few packs' objects in order (_pack_items)
        self._fetch_lock = threading.Lock()
        self._config_mtime: int | None = None
        self.cache = Cache(store.meta, self.local_files, self._cache_limit)

    @classmethod
    def open(cls, store: "Store", config: RemoteConfig) -> "Remote":
        from artfs.store import s3  # the S3 client loads only for a store that has a remote

        patience = retry_seconds()
        form = config.unquoted_if_match
        objects, refs = s3.open_remote(
            config.url, config.endpoint_url, retry_seconds=patience, unquoted_if_match=form
        )
        _, looking = s3.open_remote(
            config.url,
            config.endpoint_url,
            retry_seconds=min(patience, LOOK_RETRY_SECONDS),
            unquoted_if_match=form,
        )
        return cls(store, config, objects, refs, looking)

    @property
    def db(self):
        return self.store.meta.db

    # --- uploading ---------------------------------------------------------------

    def upload(self, root: bytes, attrs_root: bytes | None) -> int:
        """Put every object of a version that the remote lacks into packs; → the stored
        bytes of the chunks among them (what the version adds to the remote's data).

        Each data pack goes up (its body, then its index) as soon as it is full, a few
        at a time, so a commit holds a few packs in memory, not all it made; metadata
        indexes go last: a reader that finds a tree in an index can rely on everything
        under it being there."""
        data, metadata = packs.Packer(packs.DATA_PACK), packs.Packer(packs.META_PACK)
        avoid = condemned(self.refs)
        sent: list[tuple[bytes, bytes]] = []  # (pack, index) of every pack written
        chunk_bytes = 0
        room = threading.BoundedSemaphore(UPLOADERS)  # full data packs in memory at once
        with ThreadPoolExecutor(UPLOADERS, "artfs-upload") as pool:
            pending: list = []

            def send_full() -> None:
                for pack in data.take():
                    room.acquire()
                    pending.append(pool.submit(self._send, pack, room))
                    sent.append((pack.digest, pack.index_blob()))

            with self.store.meta.read() as txn:
                missing = _Missing(txn, self.db, avoid)
                for kind, digest, blob in self._objects_of(txn, missing, root, attrs_root):
                    (data if kind == packs.CHUNK else metadata).add(kind, digest, blob)
                    chunk_bytes += len(blob) if kind == packs.CHUNK else 0
                    if data.done:
                        send_full()
            data.close()
            send_full()
            for future in pending:
                future.result()  # every data pack and its index is up
            metadata.close()
            tail = metadata.take()
            list(pool.map(lambda p: self.objects.put(p.key, p.data), tail))
            self.objects.barrier()
            list(pool.map(lambda p: self.objects.put(p.index_key, p.index_blob()), tail))
            self.objects.barrier()
        sent += [(pack.digest, pack.index_blob()) for pack in tail]
        with self.store.meta.write() as txn:
            for pack_digest, index in sent:
                self._learn(txn, pack_digest, index)
        self.cache.enforce()  # what was uploaded is cache now
        return chunk_bytes

    def _send(self, pack: packs.Pack, room: threading.BoundedSemaphore) -> None:
        try:
            self.objects.put(pack.key, pack.data)
            self.objects.put(pack.index_key, pack.index_blob())
        finally:
            room.release()

    def _objects_of(
        self, txn, missing: "_Missing", root: bytes, attrs_root: bytes | None
    ) -> Iterator[tuple[int, bytes, bytes]]:
        """(kind, digest, stored bytes) of every object under ``root`` not on the remote.
        A tree, chunk list or attribute object on the remote has everything under it
        there too, so the walk stops at it."""
        trees = [root]
        while trees:
            digest = trees.pop()
            if not missing(digest):
                continue
            blob = _must(txn.get(digest, db=self.db["trees"]), "tree", digest)
            yield packs.TREE, digest, blob
            for entry in decode_tree(blob):
                if entry.kind == DIR:
                    trees.append(entry.digest)
                elif entry.kind == FILE and entry.size:
                    yield from self._file_objects(txn, missing, entry.digest, entry.size)
        attrs = [attrs_root] if attrs_root else []
        while attrs:
            digest = attrs.pop()
            if not missing(digest):
                continue
            blob = _must(txn.get(digest, db=self.db["attrs"]), "attribute object", digest)
            yield packs.ATTRS, digest, blob
            attrs += [d.attrs for d in attrs_mod.decode(blob).dirs if d.attrs]

    def _file_objects(self, txn, missing, digest: bytes, size: int):
        raw = txn.get(digest, db=self.db["filemaps"])
        if raw is None:
            chunks = [(digest, size)]
        elif not missing(digest):
            return
        else:
            yield packs.FILEMAP, digest, raw
            chunks = meta.unpack_filemap(raw, digest)
        for chunk, _ in chunks:
            if missing(chunk):
                yield packs.CHUNK, chunk, self.local_files.get_stored(chunk)

    @property
    def local_files(self) -> ChunkFiles:
        chunks = self.store.chunks
        return chunks.files if isinstance(chunks, CachedChunks) else chunks

    # --- publishing --------------------------------------------------------------

    def publish(self, name: str, record: dict, aliases: list[str]) -> Claim:
        """Upload the version's objects, then claim the next number on the remote for
        ``record`` (or find the newest version holds this content already), then move
        ``aliases`` to it.  Durable on the remote on return."""
        root = bytes.fromhex(record["root"])
        attrs_root = bytes.fromhex(record["attrs"]) if record.get("attrs") else None
        record["new_bytes"] = self.upload(root, attrs_root)  # new to the store of record
        self.ensure_artifact(name, record)
        claim = self._claim(name, record)
        if aliases:
            self.move_aliases(name, {alias: claim.number for alias in aliases})
        return claim

    def ensure_artifact(self, name: str, record: dict) -> None:
        key = f"refs/artifacts/{name}"
        got = self.refs.get(key)
        if got is None:
            first = {k: record[k] for k in ("type", "description", "created")}
            try:
                self.refs.put(key, meta.dumps(first), expect=None)
                return
            except RefConflict:
                got = self.refs.get(key)
        art = meta.loads(got.value, f"the remote's record of {name}") if got else {}
        if art.get("type") != record["type"]:
            raise Conflict(
                f"artifact {name!r} has type {art.get('type')!r}, not {record['type']!r}"
            )

    def _claim(self, name: str, record: dict) -> Claim:
        raw = meta.dumps(record)
        claim = self._claim_next(name, record, raw)
        while claim is None:
            number = -1
            for key, _ in self.refs.list(f"refs/versions/{name}/"):
                number = _number_of(key)
            claim = self._claim_after(name, record, raw, number)
        return claim

    def _claim_next(self, name: str, record: dict, raw: bytes) -> Claim | None:
        """The usual commit, without a LIST: this store's last refresh saw the newest
        number, so it claims the one after.  None when that is not so (another machine
        was first, or the remote lacks the number this store knows): list then."""
        try:
            number = self.store.artifact(name)["next_version"] - 1
        except NotFound:  # a new artifact: its listing is empty, and cheap
            return None
        if number < 0:
            return None
        return self._claim_after(name, record, raw, number, known=True)

    def _claim_after(
        self, name: str, record: dict, raw: bytes, number: int, known: bool = False
    ) -> Claim | None:
        """Claim number + 1, ``number`` being the newest the remote had a moment ago, or
        find that its newest live version has this content already; None if another
        machine claimed it first.  A ``known`` number (not listed: taken from the local
        store) must be on the remote, and is checked to be the newest before a version
        is found unchanged."""
        top = self.refs.get(version_key(name, number)) if number >= 0 else None
        if known and top is None:
            return None  # the remote lacks what this store knows (emptied?): list
        newest = self._newest_live(name, number, top)
        if newest and meta.loads(newest[1]).get("root") == record["root"]:
            if known and self.refs.get(version_key(name, number + 1)) is not None:
                return None  # a newer version than this store knew: list
            return Claim(newest[0], False, newest[1])
        try:
            self.refs.put(version_key(name, number + 1), raw, expect=None)
        except RefConflict:  # another machine took it: look again
            return None
        return Claim(number + 1, True, raw)

    def _newest_live(self, name: str, number: int, top: Ref | None) -> tuple[int, bytes] | None:
        """(number, record) of the newest version up to ``number`` (whose reference is
        ``top``) not removed."""
        for n in range(number, -1, -1):
            got = top if n == number else self.refs.get(version_key(name, n))
            if got is not None and REMOVED not in meta.loads(got.value):
                return n, got.value
        return None

    def move_aliases(
        self, name: str, add: dict[str, int], remove: dict[str, int | None] | None = None
    ) -> dict:
        """Point each alias of ``add`` at its number and drop each of ``remove`` (where it
        still points at the given number; None: wherever), by compare-and-swap; → the map."""
        return self._swap(f"refs/aliases/{name}", lambda held: _moved(held, add, remove or {}))

    def update_record(self, name: str, number: int, change: Callable[[dict], dict]) -> bytes:
        """Replace a version's record by ``change(record)`` by compare-and-swap; → its bytes."""

        def apply(record: dict) -> dict:
            if not record or REMOVED in record:
                raise NotFound(f"{name}:v{number} is not on the remote")
            return change(record)

        return meta.dumps(self._swap(version_key(name, number), apply))

    def _swap(self, key: str, change: Callable[[dict], dict]) -> dict:
        while True:
            got = self.refs.get(key)
            held = meta.loads(got.value, f"remote reference {key}") if got else {}
            new = change(dict(held))
            if got is not None and new == held:
                return held
            try:
                self.refs.put(key, meta.dumps(new), expect=got.tag if got else None)
                return new
            except RefConflict:
                continue

    def remove_version(self, name: str, number: int) -> None:
        """Leave a tombstone, so that the number is never claimed again."""
        self.refs.put(version_key(name, number), meta.dumps({REMOVED: time.time()}))

    def describe(self) -> dict:
        """What ``artfs remote show`` prints."""
        with self.store.meta.read() as txn:
            known_packs = txn.stat(self.db["remote"])["entries"]
            objects = txn.stat(self.db["packed"])["entries"]
        use = self.cache.usage()
        return {
            "remote": self.config.url,
            "endpoint": self.config.endpoint_url or "(from the AWS settings)",
            "versions": len(self.store.all_versions()),
            "packs": known_packs,
            "objects": objects,
            "cached": use.cached_bytes,
            "pinned": use.pinned_bytes,
            "cache limit": use.limit if use.limit is not None else "none",
            "reachable": self.store.remote_problem or "yes",
        }

    # --- lineage ---------------------------------------------------------------------

    def push_runs(self) -> int:
        """Send every run changed here since its last push; → runs sent."""
        with self.store.meta.read() as txn:
            pending = rundocs.dirty(txn, self.db)
        for run_id in pending:
            self._push_run(run_id)
        return len(pending)

    def _push_run(self, run_id: str) -> None:
        key = f"refs/runs/{run_id}"
        while True:
            got = self.refs.get(key)
            with self.store.refs.transaction() as txn:
                doc = rundocs.export(txn, run_id)
            raw = meta.dumps(doc) if doc is not None else None
            if raw is None or (got is not None and got.value == raw):
                tag = got.tag if got else None
            else:
                try:  # one machine writes a run, but its mount and its process race
                    tag = self.refs.put(key, raw, expect=got.tag if got else None)
                except RefConflict:
                    continue
            with self.store.refs.transaction(write=True) as txn:
                now = rundocs.export(txn, run_id)
                if (meta.dumps(now) if now is not None else None) == raw:  # else: again later
                    rundocs.clear(txn.lmdb, self.db, run_id)
                if tag is not None:
                    txn.lmdb.put(TAG + key.encode(), tag.encode(), db=self.db["remote"])
            return

    # --- the cache's limit ------------------------------------------------------------

    def _cache_limit(self) -> int | None:
        """The limit as STORE/remote.json says now: one set by 'artfs cache --limit' holds
        at the next fetch of a process that was running (a mount).  A stat per fetch."""
        try:
            mtime = os.stat(os.path.join(self.store.path, CONFIG)).st_mtime_ns
        except OSError:  # a remote attached in process (tests): its config as given
            return self.config.cache_size
        if mtime != self._config_mtime:
            try:
                saved = RemoteConfig.load(self.store.path)
            except ArtfsError:  # being rewritten, or damaged: the limit read last holds
                return self.config.cache_size
            self._config_mtime = mtime
            if saved is not None and saved.url == self.config.url:
                self.config.cache_size = saved.cache_size
        return self.config.cache_size

    def set_cache_limit(self, size: int | None) -> Pruned:
        """Keep at most ``size`` bytes of cached chunks (None: no limit) from now on, in
        every process of this store; evict down to it at once."""
        self.config.cache_size = size
        self.config.save(self.store.path)
        return self.cache.prune(size) if size is not None else Pruned()

    # --- reading what other machines wrote ------------------------------------------

    def refresh(self, force: bool = False) -> bool:
        """Bring every new index, metadata pack, version and alias into the local store;
        → whether anything on the remote changed since the last look."""
        with self._refresh_lock:
            token = self.looking.token()  # before the reads it guards
            look = self._last_look()
            # A writer that died between its reference write and its journal's left the
            # token as it was: list everything now and then regardless.
            full = force or time.time() - look.get("full_at", 0.0) > FULL_LOOK_SECONDS
            if token == look.get("token") and not full:
                return False
            tokens, seen = self.looking.tokens(), look.get("tokens", {})
            changed = [area for area, tag in tokens.items() if seen.get(area) != tag]
            started = time.time()
            if not changed and not full:
                # The journal moved and no area did: this look raced a writer whose area
                # a look before saw changed already, or an artfs older than areas wrote
                # (the next full look, within a minute, finds what it wrote).
                with self.store.meta.write() as txn:
                    txn.put(_LOOK, _look(token, tokens, started, look), db=self.db["remote"])
                return False
            full = full or len(changed) > MAX_AREAS  # one listing costs less than many
            # References before indexes: a version's indexes are written before its
            # record, so every version listed here has its trees in an index listed after.
            changes = Changes.read(self.store, self.refs, ("refs/",) if full else changed)
            versions = full or any(area.startswith("refs/versions/") for area in changed)
            new_packs = self._new_packs() if versions else []  # runs alone need no pack
            avoid = condemned(self.refs) if new_packs else set()
            with self.store.meta.write() as txn:
                for digest, index, blob in new_packs:
                    # An object in a doomed pack and in a live one is found in the live one.
                    kind, locations = self._learn(txn, digest, index, digest not in avoid)
                    if kind == packs.META_PACK:
                        _store_meta_pack(txn, self.db, blob, locations)
                not_yet = {area_of(key) for key in changes.apply(txn, self.store)}
                # Noted in the store, so that the next process need not look again.
                noted = _look(token, tokens, started, look, full, not_yet)
                txn.put(_LOOK, noted, db=self.db["remote"])
        self.cache.enforce()  # chunks written here that another machine uploaded first
        return True

    def _last_look(self) -> dict:
        """The journal's and the areas' tokens at this store's last look, its time and
        its last full one's (an older artfs kept no areas: then it looks again)."""
        with self.store.meta.read() as txn:
            raw = txn.get(_LOOK, db=self.db["remote"])
        look = meta.loads(raw) if raw else {}
        return look if isinstance(look.get("tokens"), dict) else {}

    def _new_packs(self) -> list:
        known = []
        with self.store.meta.read() as txn:
            for key in self.objects.list("index/"):
                digest = packs.pack_of_index_key(key)
                if digest and txn.get(PACK_KEY + digest, db=self.db["remote"]) is None:
                    known.append(digest)

        def fetch(digest: bytes):
            index = self.objects.get(packs.index_key(digest))
            blob = None
            if packs.decode_index(index, digest)[0] == packs.META_PACK:
                blob = packs.check_pack(self.objects.get(packs.pack_key(digest)), digest)
            return digest, index, blob

        with ThreadPoolExecutor(UPLOADERS, "artfs-fetch") as pool:
            return list(pool.map(fetch, known))

    def _learn(self, txn, pack: bytes, index: bytes, overwrite: bool = True):
        """Note where a pack's objects are, and keep its index (gc reads it here);
        → the index decoded."""
        kind, locations = packs.decode_index(index, pack)
        for digest, location in locations:
            txn.put(digest, location.encode(), db=self.db["packed"], overwrite=overwrite)
        txn.put(PACK_KEY + pack, index, db=self.db["remote"])
        self.cache.adopt(txn, ((d, loc.length) for d, loc in locations if loc.kind == packs.CHUNK))
        return kind, locations

    def indexes(self) -> Iterator[tuple[bytes, bytes]]:
        """(pack, index) of every pack this store has learned of."""
        with self.store.meta.read() as txn:
            cursor = txn.cursor(self.db["remote"])
            if not cursor.set_range(PACK_KEY):
                return
            for key, value in cursor:
                key = bytes(key)
                if not key.startswith(PACK_KEY) or len(key) != 33:
                    break
                yield key[1:], bytes(value)

    def location(self, digest: bytes) -> Location | None:
        with self.store.meta.read() as txn:
            raw = txn.get(digest, db=self.db["packed"])
        return Location.decode(raw) if raw else None

    def fetch_chunk(self, digest: bytes) -> bytes | memoryview:
        """A chunk from its pack on the remote, checked, then kept in the local cache.
        One fetch per chunk at a time: a second reader waits for the first's."""
        while True:
            with self._fetch_lock:
                busy = self._fetching.get(digest)
                if busy is None:
                    self._fetching[digest] = threading.Event()
                    break
            busy.wait()
            try:
                return self.local_files.get(digest)
            except MissingChunk:
                continue  # the other fetch failed: try ourselves
        try:
            return self._fetch_chunk(digest)
        finally:
            with self._fetch_lock:
                self._fetching.pop(digest).set()

    def _fetch_chunk(self, digest: bytes) -> bytes | memoryview:
        location = self.location(digest)
        if location is None:
            raise MissingChunk(
                f"chunk {digest.hex()} is neither in the store nor on its remote; "
                "'artfs verify --remote' names the versions that need it"
            )
        neighbours = self._claim_neighbours(location)
        try:
            return self._fetch_span(digest, location, neighbours)
        finally:
            with self._fetch_lock:
                for other, _ in neighbours:
                    self._fetching.pop(other).set()

    def _fetch_span(self, digest: bytes, location: Location, neighbours) -> bytes | memoryview:
        """The chunk, and in the same ranged GET the chunks after it in its pack."""
        end = neighbours[-1][1].offset + neighbours[-1][1].length if neighbours else None
        length = (end or location.offset + location.length) - location.offset
        for attempt in (1, 2):  # a damaged answer is fetched once more
            blob = self.objects.get(packs.pack_key(location.pack), location.offset, length)
            try:
                data = decode(blob[: location.length], digest)
            except CorruptData:
                if attempt == 2:
                    raise CorruptData(
                        f"chunk {digest.hex()} is damaged on the remote {self.config.url} "
                        f"(pack {location.pack.hex()}); 'artfs verify --remote' names "
                        "the versions that need it"
                    ) from None
                continue
            fetched = [(digest, blob[: location.length])]
            for other, where in neighbours:
                start = where.offset - location.offset
                piece = blob[start : start + where.length]
                with suppress(CorruptData):  # a damaged one is fetched (and named) on its own
                    decode(piece, other)
                    fetched.append((other, piece))
            self.cache.admit(fetched)
            return data
        raise AssertionError("unreachable")

    # --- fetching ahead of readers ------------------------------------------------------

    def missing(self, digests: Iterable[bytes]) -> list[tuple[bytes, Location]]:
        """The chunks among ``digests`` that are not here, each once, with where the
        remote keeps them (one not on the remote either is left for its reader to name)."""
        wanted, seen = [], set()
        with self.store.meta.read() as txn:
            for digest in digests:
                if digest in seen or self.local_files.has(digest):
                    continue
                seen.add(digest)
                raw = txn.get(digest, db=self.db["packed"])
                if raw is not None:
                    wanted.append((digest, Location.decode(raw)))
        return wanted

    def prefetch(
        self, wanted: list[tuple[bytes, Location]], progress: Callable[[int], None] = _ignore
    ) -> Prefetched:
        """Fetch ``wanted`` (from ``missing``) into the cache before anyone reads it: runs
        of a pack's chunks as one ranged GET each (PREFETCH_GAP bytes between two wanted
        ones are fetched along rather than asked for apart), UPLOADERS at a time, each
        run's chunks checked and kept in one transaction.  A damaged chunk is left out: its
        reader fetches it again and names it.  ``progress`` gets the bytes of each run."""
        claimed = self._claim_fetches(wanted)
        done = Prefetched()
        try:
            with ThreadPoolExecutor(UPLOADERS, "artfs-prefetch") as pool:
                for kept, size in pool.map(self._fetch_run, _runs(claimed)):
                    done.requests += 1
                    done.chunks, done.bytes = done.chunks + kept, done.bytes + size
                    progress(size)
        finally:
            with self._fetch_lock:
                for digest, _ in claimed:
                    self._fetching.pop(digest).set()
        return done

    def _claim_fetches(self, wanted: list[tuple[bytes, Location]]) -> list[tuple[bytes, Location]]:
        """Those of ``wanted`` that nobody is fetching, marked as being fetched."""
        with self._fetch_lock:
            claimed = [(d, where) for d, where in wanted if d not in self._fetching]
            for digest, _ in claimed:
                self._fetching[digest] = threading.Event()
        return claimed

    def _fetch_run(self, run: list[tuple[bytes, Location]]) -> tuple[int, int]:
        """One ranged GET of a run of one pack's chunks; → (chunks kept, bytes fetched)."""
        first, last = run[0][1], run[-1][1]
        blob = self.objects.get(
            packs.pack_key(first.pack), first.offset, last.offset + last.length - first.offset
        )
        fetched = []
        for digest, where in run:
            start = where.offset - first.offset
            piece = blob[start : start + where.length]
            with suppress(CorruptData):
                decode(piece, digest)
                fetched.append((digest, piece))
        return self.cache.admit(fetched), len(blob)

    def _claim_neighbours(self, location: Location) -> list[tuple[bytes, Location]]:
        """The chunks right after ``location`` in its pack that are not here and nobody
        is fetching, up to COALESCE bytes: packs hold a directory's files and a file's
        chunks in order, so a reader wants them next.  Claimed as being fetched."""
        following = self._pack_items(location.pack)
        at = bisect.bisect_right(following, location.offset, key=lambda item: item[0])
        claimed: list[tuple[bytes, Location]] = []
        end, budget = location.offset + location.length, COALESCE
        with self._fetch_lock:
            for offset, length, kind, other in following[at:]:
                if offset != end or kind != packs.CHUNK or length > budget:
                    break
                if other in self._fetching or self.local_files.has(other):
                    break
                self._fetching[other] = threading.Event()
                claimed.append((other, Location(location.pack, offset, length, kind)))
                end, budget = offset + length, budget - length
        return claimed

    def _pack_items(self, pack: bytes) -> list[tuple[int, int, int, bytes]]:
        """(offset, length, kind, digest) of a pack's objects in order, from its index."""
        items = self._items.get(pack)
        if items is None:
            with self.store.meta.read() as txn:
                index = txn.get(PACK_KEY + pack, db=self.db["remote"])
            located = packs.decode_index(bytes(index), pack)[1] if index else []
            items = sorted((loc.offset, loc.length, loc.kind, d) for d, loc in located)
            if len(self._items) >= PACKS_REMEMBERED:
                self._items.pop(next(iter(self._items)))
            self._items[pack] = items
        return items


class CachedChunks:
    """The local chunk files, with the remote behind them for what is not cached."""

    def __init__(self, files: ChunkFiles, remote: Remote):
        self.files, self.remote = files, remote

    def get(self, digest: bytes) -> bytes | memoryview:
        try:
            data = self.files.get(digest)
        except MissingChunk:
            return self.remote.fetch_chunk(digest)
        except CorruptData:  # a damaged copy (a commit's leftover, bit rot) of the remote's
            if self.remote.location(digest) is None:
                raise  # the only copy: verify names it
            return self.remote.fetch_chunk(digest)  # written anew over the damaged file
        self.remote.cache.touch(digest)
        return data

    def __getattr__(self, name: str):  # put, delete, has, stored_size, list, sync: the files'
        return getattr(self.files, name)


class _Missing:
    """Whether the remote lacks an object (or has it only in a pack gc has doomed), each
    digest answered once per walk."""

    def __init__(self, txn, db, avoid: set[bytes]):
        self.txn, self.db, self.avoid = txn, db, avoid
        self.seen: set[bytes] = set()

    def __call__(self, digest: bytes) -> bool:
        if digest in self.seen:
            return False
        self.seen.add(digest)
        raw = self.txn.get(digest, db=self.db["packed"])
        return raw is None or Location.decode(raw).pack in self.avoid


# A remote's bookkeeping in this store, for the modules that read much of it in one
# snapshot of their own (gc, verify, stats): ``txn`` is an LMDB transaction (a
# LocalObjectTxn's ``lmdb``), ``db`` the store's databases (``Store.meta.db``).


def is_packed(txn, db, digest: bytes) -> bool:
    """Whether the remote holds the object, as far as this store has learned."""
    return txn.get(digest, db=db["packed"]) is not None


def packed_location(txn, db, digest: bytes) -> Location | None:
    """Where the remote keeps the object, or None if this store knows of no pack with it."""
    raw = txn.get(digest, db=db["packed"])
    return Location.decode(raw) if raw else None


def pack_known(txn, db, pack: bytes) -> bool:
    """Whether this store has learned of the pack (and keeps its index)."""
    return txn.get(PACK_KEY + pack, db=db["remote"]) is not None


def packed_bytes(txn, db) -> int:
    """The sum of the lengths of every object the remote holds, as this store knows."""
    return sum(Location.decode(raw).length for raw in txn.cursor(db["packed"]).iternext(keys=False))


def condemned(refs: RefStore) -> set[bytes]:
    """Packs gc has doomed or deleted: no commit may rely on them."""
    return {bytes.fromhex(key[len(MARKS) :]) for key, _ in refs.list(MARKS)}


def _moved(held: dict, add: dict[str, int], remove: dict[str, int | None]) -> dict:
    held.update(add)
    for alias, number in remove.items():
        if alias in held and number in (None, held[alias]):
            del held[alias]
    return held


def _store_meta_pack(txn, db, blob: bytes, locations) -> None:
    table = {packs.TREE: "trees", packs.ATTRS: "attrs", packs.FILEMAP: "filemaps"}
    for digest, location in locations:
        if location.kind not in table:
            raise CorruptData(f"metadata pack {location.pack.hex()} holds a chunk; it is damaged")
        body = blob[location.offset : location.offset + location.length]
        txn.put(digest, body, db=db[table[location.kind]], overwrite=False)


def _must(raw: bytes | None, what: str, digest: bytes) -> bytes:
    if raw is None:
        raise CorruptData(f"{what} {digest.hex()} is missing from the store; run 'artfs verify'")
    return raw
