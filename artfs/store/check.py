"""The metadata's own invariants (docs/format.md, section 12), one check per invariant.

``verify`` runs these before it re-reads any chunk: a version whose tree is
missing, whose record disagrees with its tree, or whose file names a chunk the
index does not hold is damaged however intact the chunk files are.  Every check
reports and goes on, so one damaged record never hides the rest.

Per version (``Checker.version``): its record and artifact (3), every tree and
attribute object reachable from it (2, 4), every file's chunks (5, 6).  Over the
whole store (``Checker.indexes``): every entry of every index, reachable or not
(2, 3, 7, 8, 9, 10, 11).  The chunk bytes themselves (7) are verify.py's.
"""

from collections.abc import Callable
from dataclasses import dataclass

from artfs.errors import CorruptData
from artfs.store import attrs as attrs_mod
from artfs.store import keys, meta, statcache
from artfs.store.backend import DamagedKey
from artfs.store.chunks import digest_of
from artfs.store.local import LocalObjectTxn, LocalRefTxn
from artfs.store.names import LATEST, check_alias, is_name
from artfs.store.remote import packed_location
from artfs.store.runs import is_running
from artfs.store.store import Store, Version
from artfs.store.tree import DIR, FILE, REFERENCE, Entry, decode_tree, tree_digest

EMPTY_DIGEST = digest_of(b"")
STORE = "store"  # what a problem belongs to when no version is to blame


@dataclass(frozen=True)
class FileUse:
    """A file of a version whose chunks the index holds: what verify reads back."""

    version: str
    path: str
    entry: Entry
    chunks: tuple[tuple[bytes, int], ...]  # (digest, raw size), in file order


Report = Callable[[str, str, str], None]  # (version or STORE, path, problem)


class Checker:
    """Checks over one read transaction of the store's objects; ``report`` is called
    once per problem.  The records (artifacts, aliases, lineage) are read in the same
    snapshot, as references; the stat cache (machine-local) through statcache.py and
    a remote's bookkeeping through remote.py, in it too.

    A key that a listing gives as damaged (backend.DamagedKey) is decoded from its
    stored bytes by meta.py, as before the seam, so it is named as it was."""

    def __init__(self, store: Store, txn: LocalObjectTxn, report: Report):
        self.store, self.objects, self.report = store, txn, report
        self.refs = LocalRefTxn(store.refs, txn.lmdb)  # the same snapshot
        self.txn = txn.lmdb  # for the machine-local state only
        self.db = store.meta.db
        self._trees: dict[bytes, str | None] = {}  # digest -> problem, once per tree
        self._files: dict[tuple[bytes, int], tuple[str | None, tuple]] = {}
        self.stored: dict[bytes, int] = {}  # chunk -> its file's size, of the files checked
        self.files = 0  # FILE entries walked

    # --- one version -------------------------------------------------------------------

    def version(self, version: Version) -> list[FileUse]:
        """Invariants 3-6 of one version; → the files whose chunks are to be read."""
        if version.damage is not None:
            self.report(version.label, "", version.damage)
            return []
        self._artifact_of(version)
        uses: list[FileUse] = []
        walk = _Walk(self, version, uses)
        totals = walk.directory(version.root, version.attrs_root, None, b"")
        record = (version.size, version.files)
        if totals is not None and totals != record:
            self.report(
                version.label,
                "",
                f"its record says {record[0]} bytes in {record[1]} "
                f"files, its tree holds {totals[0]} in {totals[1]}",
            )
        return uses

    def _artifact_of(self, version: Version) -> None:
        """Invariant 3: the artifact exists, numbered past this version, of its type."""
        ref = self.refs.get(keys.artifact_key(version.name))
        if ref is None:
            self.report(version.label, "", f"its artifact {version.name!r} has no record")
            return
        raw = ref.value
        try:
            art = meta.load_object(
                raw, f"the record of artifact {version.name!r}", meta.ARTIFACT_FIELDS
            )
        except CorruptData as e:
            self.report(version.label, "", e.problem)
            return
        if version.number >= art["next_version"]:
            self.report(
                version.label,
                "",
                f"its number is not below the artifact's next_version ({art['next_version']})",
            )
        if version.type != art["type"]:
            self.report(
                version.label,
                "",
                f"its type {version.type!r} is not the artifact's ({art['type']!r})",
            )

    def tree(self, digest: bytes) -> list[Entry] | str:
        """Invariant 2 for one tree: its entries, or the problem with it."""
        raw = self.objects.get(keys.tree_key(digest))
        if raw is None:
            return f"tree {digest.hex()} is missing"
        known = digest in self._trees
        problem = self._trees[digest] if known else _tree_problem(digest, raw)
        self._trees[digest] = problem
        return problem if problem else decode_tree(raw)

    def attrs(self, digest: bytes, tree: list[Entry]) -> attrs_mod.Attrs | str:
        """Invariant 4 for one attribute object: it exists, hashes to its key, and has
        one time per entry of its tree and one item per subdirectory.  The object, or the
        problem with it."""
        raw = self.objects.get(keys.attrs_key(digest))
        if raw is None:
            return f"attribute object {digest.hex()} is missing"
        if attrs_mod.digest_of(raw) != digest:
            return f"attribute object {digest.hex()} does not match its digest"
        try:
            found = attrs_mod.decode(raw)
        except CorruptData as e:
            return str(e).split(";")[0]
        dirs = sum(e.kind == DIR for e in tree)
        if len(found.mtimes) != len(tree) or len(found.dirs) != dirs:
            return (
                f"attribute object {digest.hex()} has {len(found.mtimes)} times and "
                f"{len(found.dirs)} directories; its tree {len(tree)} and {dirs}"
            )
        return found

    def file(self, entry: Entry) -> tuple[str | None, tuple]:
        """Invariants 5 and 6 for one file: (problem or None, its chunks)."""
        key = (entry.digest, entry.size)
        if key not in self._files:
            self._files[key] = self._file(entry)
        return self._files[key]

    def _file(self, entry: Entry) -> tuple[str | None, tuple]:
        if entry.size == 0:
            ok = entry.digest == EMPTY_DIGEST
            return (None if ok else "it is empty, but its digest is not that of no bytes"), ()
        raw = self.objects.get(keys.filemap_key(entry.digest))
        if raw is None:
            items: tuple = ((entry.digest, entry.size),)
        elif entry.size < meta.ONE_CHUNK_BELOW:  # readers take it as one chunk, unlooked
            limit = meta.ONE_CHUNK_BELOW // 1024
            return f"it is {entry.size} bytes, under {limit} KiB, yet has a chunk list", ()
        else:
            try:
                items = tuple(meta.unpack_filemap(raw, entry.digest))
            except CorruptData as e:
                return e.problem, ()
        total = sum(size for _, size in items)
        if total != entry.size:
            return f"its size is {entry.size}, its chunks hold {total} bytes", ()
        for chunk, size in items:
            problem = self._indexed(chunk, size, single=raw is None)
            if problem:
                return problem, ()
        return None, items

    def _indexed(self, chunk: bytes, size: int, single: bool) -> str | None:
        raw = self.objects.get(keys.chunk_index_key(chunk))
        packed = packed_location(self.txn, self.db, chunk) if raw is None else None
        if packed is not None:  # the remote's, cached here or not: its bytes tell the size
            self.stored[chunk] = packed.length
            return None
        if raw is None:
            return (
                "it has neither a chunk list nor a chunk"
                if single
                else f"its chunk {chunk.hex()} is not in the index"
            )
        try:
            indexed, self.stored[chunk] = meta.unpack_chunk(raw, chunk)
        except CorruptData as e:
            return e.problem
        if indexed != size:
            return f"chunk {chunk.hex()} holds {indexed} bytes, the file says {size}"
        return None

    # --- the whole store -----------------------------------------------------------------

    def indexes(self, versions: list[Version]) -> None:
        """Every entry of every index, reachable from a version or not."""
        for check in (
            self._all_trees,
            self._all_artifacts,
            self._all_chunks,
            self._all_filemaps,
            self._all_statcache,
            self._lineage,
        ):
            check()
        self._aliases({(v.name, v.number) for v in versions})
        self._outputs(versions)

    def _records(self, table: str):
        """(key, value) of every reference of a table (``keys.RUNS``, ...), damaged keys
        first; a table whose pages hide entries is reported after them."""
        try:
            yield from self.refs.items(table, counted=True)
        except CorruptData as e:
            self.report(STORE, "", e.problem)

    def _objects(self, table: str):
        """(digest, bytes) of every object of a table; a damaged key's digest is its
        stored bytes (keys.digest_of), so the checks below name it as before."""
        try:
            for key, raw in self.objects.items(table, counted=True):
                yield keys.digest_of(key), raw
        except CorruptData as e:
            self.report(STORE, "", e.problem)

    def _all_trees(self) -> None:
        for digest, raw in self._objects(keys.TREES):
            if digest not in self._trees:
                self._trees[digest] = problem = _tree_problem(digest, raw)
                if problem:
                    self.report(STORE, "", problem)

    def _all_artifacts(self) -> None:
        for key, raw in self._records(keys.ARTIFACTS):
            try:
                name = meta.decode_name(_stored(key, keys.ARTIFACTS), "an artifact key")
                meta.load_object(raw, f"the record of artifact {name!r}", meta.ARTIFACT_FIELDS)
            except CorruptData as e:
                self.report(STORE, "", e.problem)

    def _all_chunks(self) -> None:
        """Invariants 7 (that each file is there, of its stored size) and 9."""
        for digest, raw in self._objects(keys.CHUNK_INDEX):
            try:
                _, stored = meta.unpack_chunk(raw, digest)
            except CorruptData as e:
                self.report(STORE, "", e.problem)
                continue
            problem = chunk_file_problem(self.store, digest, stored)
            if problem:
                self.report(STORE, "", problem)

    def _all_filemaps(self) -> None:
        for digest, raw in self._objects(keys.FILEMAPS):
            try:
                meta.unpack_filemap(raw, digest)
            except CorruptData as e:
                self.report(STORE, "", e.problem)

    def _all_statcache(self) -> None:
        values: list[bytes] = []
        try:
            values.extend(raw for _, raw in statcache.entries(self.txn, self.db))
        except CorruptData as e:
            self.report(STORE, "", e.problem)
        bad = statcache.damaged_entries(iter(values))
        if bad:  # a cache: harmless, but a sign of damage
            self.report(STORE, "", f"{bad} stat cache entries are not {meta.STAT.size} bytes")

    def _aliases(self, versions: set[tuple[str, int]]) -> None:
        """Invariant 8: each alias is valid and names an existing version."""
        for key, raw in self._records(keys.ALIASES):
            if isinstance(key, DamagedKey):
                name, _, alias = key.raw.partition(meta.SEP)
            else:
                name, alias = (part.encode() for part in key.split("/")[2:])
            try:
                name_text = meta.decode_name(name, "an alias key")
                alias_text = meta.decode_name(alias, f"an alias key of {name_text!r}", check_alias)
                number = meta.unpack_version(raw, f"alias {name_text}:{alias_text}")
            except CorruptData as e:
                self.report(STORE, "", e.problem)
                continue
            if alias_text == LATEST:
                self.report(STORE, "", f"alias {name_text}:latest is stored (it never is)")
            elif (name_text, number) not in versions:
                self.report(
                    STORE,
                    "",
                    f"alias {name_text}:{alias_text} names v{number}, which does not exist",
                )

    def _lineage(self) -> None:
        """Invariant 10, and that every lineage record can be read."""
        running: dict[str, tuple] = {}
        for key, raw in self._records(keys.RUNNING):
            try:
                running[meta.decode_run_id(_stored(key, keys.RUNNING))] = meta.unpack_running(raw)
            except CorruptData as e:
                self.report(STORE, "", e.problem)
        for key, raw in self._records(keys.RUNS):
            try:
                run_id = meta.decode_run_id(_stored(key, keys.RUNS), "a run key")
                record = meta.run_record(raw, run_id)
            except CorruptData as e:
                self.report(STORE, "", e.problem)
                continue
            indexed = running.pop(run_id, None)
            if is_running(record) and indexed != (record["pid"], record["start"]):
                self.report(
                    STORE,
                    "",
                    f"run {run_id} is running, but the index of running runs does not say so",
                )
            elif indexed is not None and not is_running(record):
                self.report(STORE, "", f"run {run_id} is indexed as running, but is not")
        for run_id in running:
            self.report(STORE, "", f"run {run_id} is indexed as running, but has no record")
        self._edges()

    def _edges(self) -> None:
        for table in (keys.INPUTS, keys.OUTPUTS):
            for key, _ in self._records(table):
                try:
                    if isinstance(key, DamagedKey):
                        run_id, _, version = key.raw.partition(meta.SEP)
                        meta.decode_run_id(run_id)
                        meta.split_version_key(version)
                        raise meta.corrupt(key.problem)
                    meta.decode_name(keys.edge_version(key)[0].encode(), "a version key")
                except CorruptData as e:
                    self.report(STORE, "", e.problem)
        for _, raw in self._records(keys.INPUTS):
            try:
                meta.load_object(raw, "an input edge", {"first": (int, float)})
            except CorruptData as e:
                self.report(STORE, "", e.problem)
        for _, raw in self._records(keys.INPUT_FILES):
            try:
                meta.unpack_file_bytes(raw)
            except CorruptData as e:
                self.report(STORE, "", e.problem)

    def _outputs(self, versions: list[Version]) -> None:
        """Invariant 11: a version made by a run is among that run's outputs."""
        for v in versions:
            if (
                v.damage is None
                and v.run
                and not (is_name(v.run) and self.refs.has(keys.output_key(v.run, v.name, v.number)))
            ):
                self.report(v.label, "", f"its run {v.run} does not list it as an output")


class _Walk:
    """One version's tree, depth first: invariants 2, 4, 5 and 6 at every directory."""

    def __init__(self, checker: Checker, version: Version, uses: list[FileUse]):
        self.checker, self.version, self.uses = checker, version, uses
        self.label = version.label

    def directory(
        self, digest: bytes, attrs: bytes | None, subdirs: int | None, prefix: bytes
    ) -> tuple[int, int] | None:
        """(bytes, files) below a directory; None if some part cannot be read."""
        shown = prefix.decode(errors="replace").rstrip("/") or "/"
        tree = self.checker.tree(digest)
        if isinstance(tree, str):
            self.checker.report(self.label, shown, tree)
            return None
        dirs = [e for e in tree if e.kind == DIR]
        if subdirs is not None and subdirs != len(dirs):
            self.checker.report(
                self.label,
                shown,
                f"its parent's attribute object says {subdirs} subdirectories, it has {len(dirs)}",
            )
        children = iter(self._child_attrs(attrs, tree, shown))
        size = files = 0
        complete = True
        for entry in tree:
            path = prefix + entry.name
            if entry.kind == DIR:
                child_attrs, child_subdirs = next(children, (None, None))
                below = self.directory(entry.digest, child_attrs, child_subdirs, path + b"/")
                complete = complete and below is not None
                size, files = (size + below[0], files + below[1]) if below else (size, files)
            elif entry.kind in (FILE, REFERENCE):
                size, files = size + entry.size, files + 1
                if entry.kind == FILE:
                    self._file(path, entry)
        return (size, files) if complete else None

    def _child_attrs(self, attrs: bytes | None, tree: list[Entry], shown: str) -> list:
        """(attribute digest, subdirectory count) of each subdirectory, from the attribute
        object; none for a version without times (or a damaged object, reported)."""
        if attrs is None:
            return []
        found = self.checker.attrs(attrs, tree)
        if isinstance(found, str):
            self.checker.report(self.label, shown, found)
            return []
        return [(d.attrs, d.subdirs) for d in found.dirs]

    def _file(self, path: bytes, entry: Entry) -> None:
        self.checker.files += 1
        problem, chunks = self.checker.file(entry)
        shown = path.decode(errors="replace")
        if problem:
            self.checker.report(self.label, shown, problem)
        elif chunks:
            self.uses.append(FileUse(self.label, shown, entry, chunks))


def _stored(key: str, prefix: str) -> bytes:
    """What a listed key holds after ``prefix``, as bytes for meta.py's decoders: a
    damaged key's stored bytes."""
    return key.raw if isinstance(key, DamagedKey) else key[len(prefix) :].encode()


def _tree_problem(digest: bytes, raw: bytes) -> str | None:
    """Invariant 2: the object hashes to its key, parses, and lists names in order."""
    if tree_digest(raw) != digest:
        return f"tree {digest.hex()} does not match its digest"
    try:
        entries = decode_tree(raw)
    except CorruptData as e:
        return f"tree {digest.hex()}: {str(e).split(';')[0]}"
    names = [e.name for e in entries]
    if any(a >= b for a, b in zip(names, names[1:], strict=False)):
        return f"tree {digest.hex()} lists its names out of order"
    return None


def chunk_file_problem(store: Store, digest: bytes, stored: int) -> str | None:
    """Invariant 7, without reading: the chunk file exists, of its stored size (or, with
    a remote, is not cached here and the remote has it)."""
    try:
        size = store.chunks.stored_size(digest)
    except FileNotFoundError:
        if store.remote is not None and store.remote.location(digest) is not None:
            return None  # reading it fetches it
        return f"chunk {digest.hex()} is missing from the store"
    except OSError as e:
        return f"chunk {digest.hex()} cannot be read: {e.strerror}"
    if size != stored:
        return f"chunk {digest.hex()} is {size} bytes, the index says {stored}"
    return None
