"""The store: where it lives, opening it once per process, and reading versions.

``Store`` is the read side and the small metadata edits (aliases, removal);
writing a version is ``commit.py``, freeing space is ``gc.py``, checking it is
``verify.py``.  Nothing here knows about FUSE or the CLI.
"""

import contextlib
import fcntl
import functools
import itertools
import os
import re
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field

import lmdb

from artfs.errors import (
    AliasesHeld,
    ArtfsError,
    Conflict,
    CorruptData,
    InvalidName,
    NotFound,
    RemoteError,
    StoreError,
    UsageError,
)
from artfs.store import attrs as attrs_mod
from artfs.store import cache as cache_mod
from artfs.store import keys, meta
from artfs.store.backend import DamagedKey, RefTxn
from artfs.store.chunks import ChunkFiles
from artfs.store.local import LocalObjects, LocalObjectTxn, LocalRefs
from artfs.store.names import LATEST, Ref, check_alias, check_name, check_run_id, parse_ref
from artfs.store.remote import CachedChunks, Remote
from artfs.store.remoteconfig import RemoteConfig
from artfs.store.tree import DIR, FILE, Entry, decode_tree

_open_stores: dict[str, "Store"] = {}
_open_lock = threading.Lock()
READ_AHEAD_CHUNKS = 4  # chunks decoded ahead of a reader of read_file


@functools.cache
def _chunk_readers() -> ThreadPoolExecutor:
    """Worker threads for read_file, made on first use and shared by every reader."""
    return ThreadPoolExecutor(3, thread_name_prefix="artfs-read")


PRIVATE_DIR = 0o700  # a store is its owner's: others see its files through a mount, if at all


def close_all() -> None:
    """Close every store this process opened.  Each keeps its LMDB environment (1 TiB of
    address space) until then, so a process that opens hundreds of stores, as a test
    session does, must close them as it goes."""
    with _open_lock:
        for opened in _open_stores.values():
            opened._close()
        _open_stores.clear()


def _make_private(path: str) -> None:
    """Others must not read a store's chunks, whatever the modes of the files they hold:
    a store made before (or under a loose umask) is closed at its top directory."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
            print(
                f"artfs: the store at {path} was open to other users (mode {mode:o}); "
                "it is private now (700): share files through a mount",
                file=sys.stderr,
            )
    except PermissionError:  # a store of someone else's that we may read: leave it
        pass


def default_location(explicit: str | None = None) -> str:
    """``--store``, else ``$ARTFS_HOME``, else the user's data directory."""
    chosen = explicit or os.environ.get("ARTFS_HOME")
    if not chosen:
        import platformdirs  # 5 ms of every command's start, needed only here

        chosen = platformdirs.user_data_dir("artfs")
    return os.path.abspath(chosen)


PENDING = -1  # the number of a version committed offline, until 'artfs sync' publishes it


@dataclass
class Version:
    """One committed version, as its record says.

    A version whose record cannot be read (damaged, or too deeply nested for the
    parser) is still listed, so that numbering and ``latest`` stay right: its
    ``damage`` says why, and anything that needs the record raises CorruptData."""

    name: str
    number: int
    record: dict
    aliases: list[str] = field(default_factory=list)
    damage: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name}:pending" if self.number == PENDING else f"{self.name}:v{self.number}"

    @property
    def root(self) -> bytes:
        return bytes.fromhex(self.readable()["root"])

    @property
    def digest(self) -> str:
        return self.readable()["root"]

    @property
    def attrs_root(self) -> bytes | None:
        """The root attribute object (file times); None for a version made before format 3."""
        raw = self.readable().get("attrs")
        return bytes.fromhex(raw) if raw else None

    @property
    def mtime_ns(self) -> int:
        """The root directory's mtime; a version without times shows its creation time."""
        return self.readable().get("mtime_ns", int(self.record["created"] * 1e9))

    def readable(self) -> dict:
        """The record; CorruptData naming the version if it cannot be read."""
        if self.damage is not None:
            raise self.error()
        return self.record

    def error(self) -> CorruptData:
        """What to say of a damaged version: which, why, and what to do."""
        return CorruptData(
            f"{self.damage}; restore STORE/meta from a backup, or remove "
            f"the version with 'artfs rm {self.label}'"
        )

    def __getattr__(self, key):
        fields = self.__dict__  # not self.x: copy and pickle probe before __init__ ran
        if key.startswith("__") or "record" not in fields:
            raise AttributeError(key)
        if fields.get("damage") is not None:
            raise self.error()
        try:
            return fields["record"][key]
        except KeyError:
            raise AttributeError(key) from None


def _version(name: str, number: int, raw: bytes, aliases: list[str]) -> Version:
    label = f"{name}:v{number}"
    try:
        return Version(name, number, meta.version_record(raw, label), aliases)
    except CorruptData as e:
        return Version(name, number, {}, aliases, damage=e.problem)


INHERIT = "inherit"  # a version's ttl: its artifact's retention policy decides (W&B's INHERIT)
EDITABLE = ("description", "metadata", "ttl", "tags")
TAG = re.compile(r"[-\w]+( +[-\w]+)*")  # W&B's rule: words of letters, digits, '-', '_'


def _checked_ttl(value, what: str = "ttl"):
    if value is None or value is INHERIT:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UsageError(
            f"{what} must be a positive number of seconds (or None: never expires), not {value!r}"
        )
    return value


def _checked_fields(fields: dict) -> dict:
    """The editable fields of a version, each checked: bad input changes nothing."""
    unknown = sorted(set(fields) - set(EDITABLE))
    if unknown:
        raise UsageError(
            f"only {', '.join(EDITABLE)} and aliases of a logged version can "
            f"change, not {', '.join(unknown)}; content needs a new version"
        )
    if "description" in fields:
        value = fields["description"]
        if value is None:
            fields = {**fields, "description": ""}
        elif not isinstance(value, str):
            raise UsageError(f"a description must be a string, not {type(value).__name__}")
    if "metadata" in fields:
        meta.check_document(fields["metadata"])
    if "ttl" in fields:
        _checked_ttl(fields["ttl"])
    if "tags" in fields:
        fields = {**fields, "tags": _checked_tags(fields["tags"])}
    return fields


def _checked_tags(tags) -> list[str]:
    if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
        raise UsageError("tags are a list of strings")
    bad = [t for t in tags if len(t) > 128 or not TAG.fullmatch(t)]
    if bad:
        raise UsageError(
            f"tag {bad[0]!r} is not one: use words of letters, digits, '-' and "
            "'_', single spaces between them, at most 128 characters"
        )
    return list(dict.fromkeys(tags))  # once each, in the order given


def _checked_policy(policy: dict) -> dict:
    unknown = sorted(set(policy) - {"keep_last", "ttl"})
    if unknown:
        raise UsageError(f"a retention policy has keep_last and ttl, not {', '.join(unknown)}")
    keep = policy.get("keep_last")
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
        raise UsageError(f"keep_last must be a whole number of versions, at least 1, not {keep!r}")
    if policy.get("ttl") is INHERIT:
        raise UsageError("an artifact's ttl is the one versions inherit; give seconds or None")
    _checked_ttl(policy.get("ttl"), "the policy's ttl")
    return policy


def _check_latest(version: Version, add: list[str]) -> None:
    if LATEST in add and LATEST not in version.aliases:
        raise Conflict(
            f"'latest' moves by itself to the newest version, not "
            f"{version.label}; choose another alias"
        )


def _apply(record: dict, changes: dict) -> list[str]:
    """Set ``changes`` (checked fields) in a version record; → the fields that changed."""
    changed = []
    for key, value in changes.items():
        if key == "ttl" and value is INHERIT:
            if record.pop("ttl", INHERIT) is not INHERIT:
                changed.append(key)
        elif key not in record or record[key] != value:
            record[key] = value
            changed.append(key)
    return changed


def _noted(record: dict, fields: list[str], run_id: str | None) -> dict:
    """``record`` with ``updated`` and one more entry of its edit history."""
    now = time.time()
    edit = {"at": now, "run": run_id, "fields": sorted(set(fields))}
    record["updated"] = now
    record["edits"] = [*record.get("edits", []), edit][-meta.MAX_EDITS :]
    return record


def _number_of(key: bytes) -> int:
    """The version number that ends a ``versions`` key (u32be)."""
    return int.from_bytes(bytes(key)[-4:], "big")


_ART = "an artifact key"


def _by_number(version: Version) -> int:
    return version.number


def _by_name_and_number(version: Version) -> tuple[str, int]:
    return version.name, version.number


def _stored_name(key: str, prefix: str) -> bytes:
    """What a listed key holds after ``prefix``, as bytes for meta.py's decoders, which
    name what is wrong as before the seam: a damaged key's stored bytes."""
    return key.raw if isinstance(key, DamagedKey) else key[len(prefix) :].encode()


def _value(ref) -> bytes | None:
    return None if ref is None else ref.value


def _tolerant(damage: list[str] | None, decode, *args):
    """``decode(*args)``; with a ``damage`` list, a CorruptData is noted there and None
    comes back, so that a listing goes on with the rest."""
    try:
        return decode(*args)
    except CorruptData as e:
        if damage is None:
            raise
        damage.append(str(e))
        return None


class Store:
    """An opened store directory.  Use ``Store.open``: LMDB allows one handle per process."""

    def __init__(self, path: str, *, create: bool):
        self.path = path
        meta_dir = os.path.join(path, "meta")
        if not os.path.isdir(meta_dir):
            if not create:
                raise StoreError(f"no artfs store at {path}; create one with 'artfs put' first")
            os.makedirs(path, mode=PRIVATE_DIR, exist_ok=True)
            os.makedirs(meta_dir, mode=PRIVATE_DIR, exist_ok=True)
            os.makedirs(os.path.join(path, "chunks"), mode=PRIVATE_DIR, exist_ok=True)
        _make_private(path)
        try:
            self.meta = meta.Meta(meta_dir, create=create)
        except lmdb.Error as e:
            raise StoreError(f"cannot open the store at {path}: {e}") from None
        # The store's two kinds of storage (backend.py): the modules above use these.
        self.objects = LocalObjects(path, self.meta)
        self.refs = LocalRefs(path, self.meta)
        self._trees, self._attrs, self._filemaps = (
            self.objects.reader(table) for table in (keys.TREES, keys.ATTRS, keys.FILEMAPS)
        )
        self.chunks: ChunkFiles | CachedChunks = ChunkFiles(os.path.join(path, "chunks"))
        self.remote: Remote | None = None
        self.remote_problem: str | None = None  # why the last look at the remote failed
        self.offline_runs = 0  # offline W&B runs of this process using the store
        self._check_format()
        self._pid = os.getpid()
        config = RemoteConfig.load(path)
        if config is not None:
            self.attach(Remote.open(self, config))

    def close(self) -> None:
        """Close this store (and forget it: a later ``open`` opens it anew)."""
        with _open_lock:
            if _open_stores.get(self.path) is self:
                del _open_stores[self.path]
        self._close()

    def _close(self) -> None:
        try:
            if self.remote is not None:
                self.remote.cache.close()  # the order of the last reads
        finally:
            self.meta.close()

    def attach(self, remote: Remote) -> None:
        """Put the store behind its remote: reads fetch what is not cached, commits
        publish there first."""
        files = self.chunks.files if isinstance(self.chunks, CachedChunks) else self.chunks
        if self.remote is not None and self.remote is not remote:
            self.remote.cache.close()
        self.remote = remote
        self.chunks = CachedChunks(files, remote)

    def change_token(self) -> int:
        """A number that grows with every change to this store's records (its references'
        ``token``, as a number): the mount compares it to know when to read again."""
        return int(self.refs.token())

    def is_offline(self) -> bool:
        """Leave the remote alone: ``artfs --offline``, $ARTFS_OFFLINE, or an offline run
        (``wandb.init(mode="offline")``) of this process is using the store."""
        return self.offline_runs > 0 or os.environ.get("ARTFS_OFFLINE", "") not in ("", "0")

    def push_lineage(self) -> None:
        """Send the runs changed here to the remote.  Failing, they stay marked and go
        with the next push (any process's) or ``artfs sync``; lineage never fails a run."""
        if self.remote is None or self.is_offline():
            return
        try:
            self.remote.push_runs()
        except RemoteError as e:
            self.remote_problem = str(e)

    def refresh(self, force: bool = False) -> bool:
        """Take in what other machines published; False with no remote or when it is
        unreachable (``remote_problem`` says why; cached versions stay readable)."""
        if self.remote is None or self.is_offline():
            return False
        try:
            changed = self.remote.refresh(force)
        except RemoteError as e:
            self.remote_problem = str(e)
            return False
        self.remote_problem = None
        return changed

    @classmethod
    def open(
        cls, location: str | None = None, *, create: bool = True, refresh: bool = True
    ) -> "Store":
        """The store at ``location`` (one object per process), which takes in what its
        remote has new when first opened (unless ``refresh`` is False)."""
        path = default_location(location)
        with _open_lock:
            store = _open_stores.get(path)
            opened = store is None or store._pid != os.getpid()
            if opened:
                store = _open_stores[path] = cls(path, create=create)
        assert store is not None
        if opened and refresh:  # outside the lock: the network must not hold up other opens
            store.refresh()
        return store

    def _check_format(self) -> None:
        ref = self.refs.get(keys.info_key("format"))
        raw = None if ref is None else ref.value
        if raw is None:
            if not self._is_empty():
                raise meta.damaged(self.meta.path, "it has data but no format marker")
            with self.refs.transaction(write=True) as txn:
                txn.put(keys.info_key("format"), str(meta.FORMAT_VERSION).encode())
                txn.put(keys.info_key("created"), repr(time.time()).encode())
            return
        try:
            found = int(raw)
        except ValueError:
            raise meta.damaged(self.meta.path, f"bad format marker {bytes(raw)[:20]!r}") from None
        if found < 1:
            raise meta.damaged(self.meta.path, f"bad format marker {bytes(raw)[:20]!r}")
        if found > meta.FORMAT_VERSION:
            raise StoreError(
                f"the store at {self.path} has format {found}, newer than this artfs reads "
                f"({meta.FORMAT_VERSION}); upgrade artfs"
            )
        if found < meta.FORMAT_VERSION:
            self._upgrade()

    def _upgrade(self) -> None:
        """Format 2 changed only the lineage records (see runs.upgrade_from_format_1);
        format 3 added file times, which older versions lack (they show their creation
        time), format 4 the collections database and 5 a remote's, which LMDB creates on
        open: they convert nothing.  Format 6 records the cache of a remote's chunks: the
        files an older artfs fetched are entered.  Format 7 names a new file of several
        chunks by its chunk list; the digests of older ones stay valid as they are (see
        meta.named_by_chunks), and the marker keeps an older artfs, whose verify would
        take the new digests for damage, out.  One transaction: all or nothing."""
        from artfs.store import runs  # runs builds on this module

        with self.refs.transaction(write=True) as txn:
            # read again inside the write: another process may have upgraded meanwhile
            ref = txn.get(keys.info_key("format"))
            assert ref is not None, "_check_format found the format marker"
            found = int(ref.value)
            if found == 1:
                runs.upgrade_from_format_1(self, txn)
            if found < 6 and txn.lmdb.stat(self.meta.db["packed"])["entries"]:
                files = ChunkFiles(os.path.join(self.path, "chunks"))
                cache_mod.reconcile(txn.lmdb, self.meta.db, files, list(files.list()))
            txn.put(keys.info_key("format"), str(meta.FORMAT_VERSION).encode())

    def _is_empty(self) -> bool:
        """No metadata and no chunk files: a new store, not one whose metadata was lost."""
        with self.meta.read() as txn:
            if any(txn.stat(db)["entries"] for db in self.meta.db.values()):
                return False
        return next(iter(self.chunks.list()), None) is None

    @contextmanager
    def gc_lock(self, exclusive: bool = False):
        """Commits and exports hold it shared, gc exclusive: gc never frees what a commit
        is writing or an export is reading."""
        path = os.path.join(self.path, "gc.lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            if exclusive:
                raise
            try:  # a read-only store: nobody can gc it, so a reader needs no lock
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                yield
                return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    # --- artifacts and versions -------------------------------------------------

    def artifact(self, name: str, txn: RefTxn | None = None) -> dict:
        key = keys.artifact_key(check_name(name))
        ref = self.refs.get(key) if txn is None else txn.get(key)
        if ref is None:
            raise NotFound(f"no artifact named {name!r}; 'artfs ls' lists them")
        return meta.load_object(ref.value, f"the record of artifact {name!r}", meta.ARTIFACT_FIELDS)

    def has_artifact(self, name: str) -> bool:
        return self.refs.get(keys.artifact_key(check_name(name))) is not None

    def artifact_names(self, damage: list[str] | None = None) -> list[str]:
        """Every artifact's name.  A key that is not a name is damage: CorruptData, or,
        given a ``damage`` list, described there and left out."""
        names = []
        cut = len(keys.ARTIFACTS)
        for key, _ in self.refs.items(keys.ARTIFACTS, values=False):
            name = None if type(key) is DamagedKey else key[cut:]
            if name is None or name in (".", ".."):  # what a key can hold and a name not
                name = _tolerant(damage, meta.decode_name, _stored_name(key, keys.ARTIFACTS), _ART)
            if name is not None:
                names.append(name)
        return names

    def versions(self, name: str, txn: RefTxn | None = None) -> list[Version]:
        """An artifact's versions in order, damaged ones included (see ``Version``)."""
        with self._txn(txn) as t:
            # Only its existence: a damaged artifact record must not hide its versions.
            if t.get(keys.artifact_key(check_name(name))) is None:
                raise NotFound(f"no artifact named {name!r}; 'artfs ls' lists them")
            aliases = self._aliases_by_version(t, name)
            found = []
            for key, raw in t.items(keys.versions_prefix(name)):
                if isinstance(key, DamagedKey):
                    number = _number_of(key.raw)
                    version = _version(name, number, raw, aliases.get(number, []))
                    version.damage = f"the key of {version.label} is damaged ({key.raw!r})"
                else:
                    number = keys.number_of(key)
                    version = _version(name, number, raw, aliases.get(number, []))
                found.append(version)
        found.sort(key=_by_number)  # keys come in string order: v10 before v7
        if found:
            found[-1].aliases.insert(0, LATEST)
        return found

    def version_count(self, name: str) -> int:
        """How many versions an artifact has, counted by key: no record is decoded (the
        mount asks on every look at an artifact's directory, for its link count)."""
        return self.refs.count(keys.versions_prefix(name))

    def all_versions(self) -> list[Version]:
        """Every version record of the store in key order, whatever its key or record
        holds (what gc must keep, what verify checks): a version of a damaged key is
        named by what its key still says."""
        items = list(self.refs.items(keys.VERSIONS, counted=True))
        found = []
        for key, raw in items:
            try:
                if isinstance(key, DamagedKey):
                    meta.split_version_key(key.raw)  # says what is wrong with it
                    raise meta.corrupt(key.problem)
                name = meta.decode_name(keys.name_of_version(key).encode(), "a version key")
            except CorruptData as e:
                if isinstance(key, DamagedKey):
                    shown = key.raw[:-5].decode("ascii", "backslashreplace").replace("\0", "\\0")
                    number = _number_of(key.raw)
                else:
                    shown, number = keys.name_of_version(key), keys.number_of(key)
                version = _version(shown or "?", number, raw, [])
                version.damage = e.problem  # what names it is damaged: say that first
            else:
                version = _version(name, keys.number_of(key), raw, [])
            found.append(version)
        found.sort(key=_by_name_and_number)  # string order is not numbers' (v10 < v7)
        return found

    def _aliases_by_version(self, txn: RefTxn, name: str) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for key, raw in txn.items(keys.aliases_prefix(name)):
            if isinstance(key, DamagedKey):
                continue  # a damaged alias must not hide the versions; verify reports it
            try:
                alias = check_alias(keys.last_part(key))
                number = meta.unpack_version(raw, f"alias {name}:{alias}")
            except (CorruptData, InvalidName):
                continue
            out.setdefault(number, []).append(alias)
        return out

    def resolve(
        self, ref: "str | Ref", txn: RefTxn | None = None, *, damaged: bool = False
    ) -> Version:
        """``name``, ``name:vN`` or ``name:alias`` → the version; NotFound names what is
        missing, CorruptData a version whose record cannot be read (unless ``damaged``:
        then it comes back, with its ``damage``)."""
        version = self._find(parse_ref(ref) if isinstance(ref, str) else ref, txn)
        if not damaged:
            version.readable()
        return version

    def _find(self, ref: Ref, txn: RefTxn | None) -> Version:
        with self._txn(txn) as t:
            versions = self.versions(ref.name, t)
            selector = ref.selector or LATEST
            if not versions:
                raise NotFound(f"artifact {ref.name!r} has no versions")
            if selector == LATEST:
                return versions[-1]
            number = ref.version
            if number is None:
                held = t.get(keys.alias_key(ref.name, selector))
                if held is None:
                    raise NotFound(
                        f"artifact {ref.name!r} has no alias {selector!r}; "
                        f"'artfs ls {ref.name}' lists its versions and aliases"
                    )
                number = meta.unpack_version(held.value, f"alias {ref.name}:{selector}")
            for v in versions:
                if v.number == number:
                    return v
        raise NotFound(f"{ref.name}:v{number} does not exist; 'artfs ls {ref.name}' lists versions")

    def _txn(self, txn: RefTxn | None) -> AbstractContextManager[RefTxn]:
        """``txn``, or a read transaction of the store's references for one call."""
        return self.refs.transaction() if txn is None else nullcontext(txn)

    def set_alias(self, ref: "str | Ref", alias: str, run_id: str | None = None) -> Version:
        """Point ``alias`` at a version, moving it from wherever it was."""
        check_alias(alias)
        if alias == LATEST:
            raise Conflict("'latest' moves by itself to the newest version; choose another alias")
        if self.remote is not None:
            return self._edit_on_remote(self.resolve(ref), {}, [alias], [], run_id)
        with self.refs.transaction(write=True) as txn:
            version = self.resolve(ref, txn)
            if self._move_aliases(txn, version, [alias], []):
                self._note_edit(txn, version, ["aliases"], run_id)
        return version

    def remove_alias(self, name: str, alias: str, run_id: str | None = None) -> None:
        if self.remote is not None:
            version = self.resolve(Ref(name, check_name(alias, "alias")), damaged=True)
            self._edit_on_remote(version, {}, [], [alias], run_id)
            return
        with self.refs.transaction(write=True) as txn:
            self.artifact(name, txn)
            key = keys.alias_key(name, check_name(alias, "alias"))
            held = txn.get(key)
            if held is None:
                raise NotFound(f"artifact {name!r} has no alias {alias!r}")
            txn.delete(key)
            with contextlib.suppress(ArtfsError):  # a damaged or removed version: no history
                number = meta.unpack_version(held.value, f"alias {name}:{alias}")
                self._note_edit(txn, self.resolve(f"{name}:v{number}", txn), ["aliases"], run_id)

    def remove_version(
        self,
        ref: str,
        *,
        force: bool = False,
        latest_counts: bool = False,
        txn: RefTxn | None = None,
    ) -> Version:
        """Forget a version (its data goes at the next gc); refuses one with user aliases
        (with ``latest_counts``, as W&B's ``Artifact.delete`` does, also the newest version)."""
        with self._write(txn) as t:
            # A version whose record is damaged can go too: the user may have no backup.
            version = self.resolve(parse_ref(ref, need_selector=True), t, damaged=True)
            held = [a for a in version.aliases if latest_counts or a != LATEST]
            if held and not force:
                raise AliasesHeld(
                    f"{version.label} holds aliases {', '.join(held)}; move "
                    "them, or remove it with them ('artfs rm --force', "
                    "artifact.delete(delete_aliases=True))"
                )
            if self.remote is not None:  # the tombstone first: the remote is the record
                mine = {a: version.number for a in version.aliases if a != LATEST}
                self.remote.move_aliases(version.name, {}, dict(mine))
                self.remote.remove_version(version.name, version.number)
            for alias in version.aliases:
                if alias != LATEST:
                    t.delete(keys.alias_key(version.name, alias))
            t.delete(keys.version_key(version.name, version.number))
            from artfs.store import links  # links builds on this module

            links.unlink_version_in(self, t, version.name, version.number)
        return version

    def _write(self, txn: RefTxn | None) -> AbstractContextManager[RefTxn]:
        """``txn``, or a write transaction of the store's references for one call."""
        return self.refs.transaction(write=True) if txn is None else nullcontext(txn)

    # --- what changes after publication: description, metadata, aliases, ttl --------

    def edit_version(
        self, ref: str, *, run_id: str | None = None, add_aliases=(), remove_aliases=(), **fields
    ) -> Version:
        """Change a version's editable fields in place (``description``, ``metadata``,
        ``ttl``: seconds, None for never, or INHERIT for its artifact's policy) and its
        aliases, in one transaction, noting when and by which run.  Content never
        changes.  Everything is checked before anything is written."""
        changes = _checked_fields(fields)
        add = [check_alias(a) for a in add_aliases]
        remove = [check_alias(a) for a in remove_aliases]
        if LATEST in remove:
            raise Conflict(
                "'latest' follows the newest version and cannot be removed; "
                "remove the other aliases only"
            )
        if self.remote is not None:
            version = self.resolve(ref)
            _check_latest(version, add)
            return self._edit_on_remote(version, changes, add, remove, run_id)
        with self.refs.transaction(write=True) as txn:
            version = self.resolve(ref, txn)
            _check_latest(version, add)
            record = dict(version.record)
            changed = _apply(record, changes)
            if self._move_aliases(txn, version, add, remove):
                changed.append("aliases")
            if changed:
                self._note_edit(txn, version, changed, run_id, record)
            return self.resolve(version.label, txn)

    def _edit_on_remote(
        self, version: Version, changes: dict, add: list[str], remove: list[str], run_id
    ) -> Version:
        """An edit as compare-and-swaps on the remote's aliases and record, then the
        remote's state of the artifact taken in locally."""
        from artfs.store.mirror import mirror_artifact

        assert self.remote is not None
        if run_id is not None:
            check_run_id(run_id)
        n, before = version.number, set(version.aliases) - {LATEST}
        held = self.remote.move_aliases(
            version.name,
            {a: n for a in add if a != LATEST},
            dict.fromkeys(remove, n),
        )
        after = {a for a, m in held.items() if m == n}
        moved = ["aliases"] if after != before else []

        def change(record: dict) -> dict:
            changed = _apply(record, changes) + moved
            return _noted(record, changed, run_id) if changed else record

        self.remote.update_record(version.name, n, change)
        with self.refs.transaction(write=True) as txn:
            mirror_artifact(txn.lmdb, self, self.remote.refs, version.name)  # bookkeeping too
            return self.resolve(version.label, txn)

    def _move_aliases(
        self, txn: RefTxn, version: Version, add: list[str], remove: list[str]
    ) -> bool:
        number, moved = meta.pack_version(version.number), False
        for alias in add:
            key = keys.alias_key(version.name, alias)
            if alias != LATEST and _value(txn.get(key)) != number:
                txn.put(key, number)
                moved = True
        for alias in remove:  # one that points elsewhere now is already off this version
            key = keys.alias_key(version.name, alias)
            if _value(txn.get(key)) == number:
                txn.delete(key)
                moved = True
        return moved

    def _note_edit(
        self,
        txn: RefTxn,
        version: Version,
        fields: list[str],
        run_id: str | None,
        record: dict | None = None,
    ) -> None:
        """Write the version's record with ``updated`` and one more entry of its history."""
        if run_id is not None:  # raised inside the transaction: nothing is written
            check_run_id(run_id)
        record = _noted(dict(version.record if record is None else record), fields, run_id)
        txn.put(keys.version_key(version.name, version.number), meta.dumps(record))

    def retention(self, name: str, txn: RefTxn | None = None) -> dict:
        """An artifact's retention policy: ``keep_last`` (newest versions kept) and ``ttl``
        (seconds a version lives from its creation, unless it sets its own); {} if none."""
        return dict(self.artifact(name, txn).get("retention", {}))

    def set_retention(self, name: str, **policy) -> dict:
        """Set (a value) or clear (None) ``keep_last`` and ``ttl``; the policy after."""
        checked = _checked_policy(policy)
        with self.refs.transaction(write=True) as txn:
            record = self.artifact(name, txn)
            current = {**record.get("retention", {}), **checked}
            current = {k: v for k, v in current.items() if v is not None}
            if current:
                record["retention"] = current
            else:
                record.pop("retention", None)
            txn.put(keys.artifact_key(check_name(name)), meta.dumps(record))
        return current

    # --- trees and files ---------------------------------------------------------

    # Trees are immutable and the store lives long.  The bound is a count, and a decoded
    # directory of 100,000 names takes about 20 MB: a mount that has listed a thousand
    # class directories of a dataset must not keep them all once the kernel lets go.
    @functools.lru_cache(maxsize=256)  # noqa: B019
    def tree(self, digest: bytes) -> tuple[Entry, ...]:
        raw = self._trees(digest)
        if raw is None:
            raise StoreError(
                f"tree {digest.hex()} is missing; the store is damaged, run 'artfs verify'"
            )
        return tuple(decode_tree(raw))

    @functools.lru_cache(maxsize=256)  # noqa: B019
    def attrs(self, digest: bytes) -> attrs_mod.Attrs:
        raw = self._attrs(digest)
        if raw is None:
            raise StoreError(
                f"attribute object {digest.hex()} is missing; the store is "
                "damaged, run 'artfs verify'"
            )
        return attrs_mod.decode(raw)

    def listing_times(
        self, tree: tuple[Entry, ...], attrs: bytes | None, default_ns: int
    ) -> tuple[Sequence[int], list[attrs_mod.DirAttrs]]:
        """(mtime of each entry, what each subdirectory's listing needs) of a directory.
        A version without times: every mtime is ``default_ns``, and link counts come from
        the subdirectories' own trees."""
        if attrs is not None:
            found = self.attrs(attrs)
            if len(found.mtimes) != len(tree):
                raise CorruptData("an attribute object does not match its tree; run 'artfs verify'")
            return found.mtimes, list(found.dirs)
        dirs = [
            attrs_mod.DirAttrs(sum(e.kind == DIR for e in self.tree(entry.digest)), None)
            for entry in tree
            if entry.kind == DIR
        ]
        return [default_ns] * len(tree), dirs

    def walk_times(self, version: "Version") -> Iterator[tuple[bytes, Entry, int]]:
        """Every entry of a version with its mtime, depth first (as ``walk``)."""

        def walk(root: bytes, attrs: bytes | None, prefix: bytes):
            tree = self.tree(root)
            mtimes, dirs = self.listing_times(tree, attrs, version.mtime_ns)
            subdirs = iter(dirs)
            for entry, mtime in zip(tree, mtimes, strict=True):
                path = prefix + entry.name
                yield path, entry, mtime
                if entry.kind == DIR:
                    yield from walk(entry.digest, next(subdirs).attrs, path + b"/")

        return walk(version.root, version.attrs_root, b"")

    def mtime_of(self, version: "Version", path: bytes) -> int:
        """The mtime of one path of a version."""
        digest, attrs, mtime = version.root, version.attrs_root, version.mtime_ns
        for part in filter(None, path.split(b"/")):
            tree = self.tree(digest)
            mtimes, dirs = self.listing_times(tree, attrs, version.mtime_ns)
            index = next((i for i, e in enumerate(tree) if e.name == part), None)
            if index is None:
                raise NotFound(f"{path.decode(errors='replace')} is not in this version")
            entry, mtime = tree[index], mtimes[index]
            if entry.kind == DIR:
                digest = entry.digest
                attrs = dirs[sum(e.kind == DIR for e in tree[:index])].attrs
        return mtime

    @functools.lru_cache(maxsize=256)  # noqa: B019
    def tree_index(self, digest: bytes) -> dict[bytes, Entry]:
        """A tree's entries by name: looking names up in a big directory stays O(1)."""
        return {entry.name: entry for entry in self.tree(digest)}

    def walk(self, root: bytes, prefix: bytes = b"") -> Iterator[tuple[bytes, Entry]]:
        """Every entry below a tree, depth first, with its path relative to the root."""
        for entry in self.tree(root):
            path = prefix + entry.name
            yield path, entry
            if entry.kind == DIR:
                yield from self.walk(entry.digest, path + b"/")

    def lookup(self, root: bytes, path: bytes) -> Entry:
        entry = Entry(b"", DIR, digest=root)
        for part in filter(None, path.split(b"/")):
            child = self.tree_index(entry.digest).get(part) if entry.kind == DIR else None
            if child is None:
                raise NotFound(f"{path.decode(errors='replace')} is not in this version")
            entry = child
        return entry

    def file_chunks(
        self, entry: Entry, txn: LocalObjectTxn | None = None
    ) -> list[tuple[bytes, int]]:
        """A file's chunks in order: its chunk list, or the file itself as one chunk."""
        if entry.kind != FILE or entry.size == 0:
            return []
        if entry.size < meta.ONE_CHUNK_BELOW:  # one chunk, no list (docs/format.md, 3.3)
            return [(entry.digest, entry.size)]
        if txn is None:
            raw = self._filemaps(entry.digest)
        else:
            raw = txn.get(keys.filemap_key(entry.digest))
        return meta.unpack_filemap(raw) if raw is not None else [(entry.digest, entry.size)]

    def version_chunks(self, version: Version) -> Iterator[tuple[bytes, int]]:
        """(chunk, raw size) of every file of a version, in its tree's order."""
        for _, entry in self.walk(version.root):
            yield from self.file_chunks(entry)

    def read_file(self, entry: Entry) -> Iterator[bytes | memoryview]:
        """A file's bytes chunk by chunk, each verified against its digest.  The next
        chunks are read, decompressed and verified in worker threads meanwhile, so a
        large file comes out about as fast as two cores decode it."""
        digests = [digest for digest, _ in self.file_chunks(entry)]
        if len(digests) <= 1:
            yield from map(self.chunks.get, digests)
            return
        pool, queued, last = _chunk_readers(), iter(digests), None

        def fetch(digest: bytes) -> Future:
            nonlocal last  # a run of one chunk (a hole's zeros) is decoded once
            if last is None or last[0] != digest:
                last = (digest, pool.submit(self.chunks.get, digest))
            return last[1]

        pending = deque(map(fetch, itertools.islice(queued, READ_AHEAD_CHUNKS)))
        try:
            while pending:
                data = pending.popleft().result()  # a damaged chunk raises in file order
                pending.extend(map(fetch, itertools.islice(queued, 1)))
                yield data
        finally:  # the reader stopped early, or a chunk was damaged
            for future in pending:
                future.cancel()
