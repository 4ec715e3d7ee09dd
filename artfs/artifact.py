"""``artfs.Artifact``: a draft to fill and log, or a handle on a committed version.

Mirrors W&B's Artifact so that ``import artfs as wandb`` scripts run as they
are.  As in W&B, a draft snapshots each file when it is added: its chunks are
stored at once (``store/drafts.py`` keeps gc off them), so the script may delete
or change the file before logging, and logging (``Run.log_artifact``) only
publishes what was added, in one commit.
"""

import base64
import copy
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlparse

from artfs import wbpath
from artfs.errors import (
    ArtifactFinalizedError,
    ArtifactNotLoggedError,
    EntryNotFound,
    MissingPath,
    UsageError,
)
from artfs.fs import registry
from artfs.store import meta, references
from artfs.store import runs as runs_mod
from artfs.store.commit import Commit, Node, check_exists, check_publication
from artfs.store.drafts import DraftFiles
from artfs.store.names import LATEST, check_alias, check_name
from artfs.store.restore import export, holds
from artfs.store.retention import policy_of, ttl_of
from artfs.store.store import INHERIT, PENDING, Store, Version
from artfs.store.tree import DIR, FILE, REFERENCE, SYMLINK, Entry
from artfs.table import Table
from artfs.values import iso, warn_once

if TYPE_CHECKING:
    from artfs.registry import LinkedArtifact
    from artfs.session import Run

ARTIFACT_SCHEME = "wandb-artifact"  # W&B's scheme for a reference to another artifact's file
_ID_PREFIX = "Artifact:"


@dataclass(frozen=True)
class ManifestEntry:
    """One file of an artifact (W&B's ArtifactManifestEntry).  ``digest`` is the BLAKE3
    hex digest of the content (W&B's is a base64 MD5); ``ref`` the URI of a reference;
    ``local_path`` the file it was added from (drafts) or was downloaded to."""

    path: str
    digest: str
    size: int
    ref: str | None = None
    local_path: str | None = None
    _artifact: "Artifact | None" = field(default=None, compare=False, repr=False)
    _entry: Entry | None = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        """W&B's older name for ``path``."""
        return self.path

    @property
    def birth_artifact_id(self) -> str | None:
        """The id of the version that holds this entry (None while it is a draft's)."""
        return self._artifact.id if self._artifact is not None else None

    @property
    def extra(self) -> dict:
        return {}

    def parent_artifact(self) -> "Artifact":
        if self._artifact is None:
            raise UsageError(f"entry {self.path!r} belongs to no artifact")
        return self._artifact

    def download(
        self, root: str | None = None, skip_cache: bool | None = None, executor=None
    ) -> str:
        """Write this one file under ``root`` (default: the artifact's download directory)."""
        return self.parent_artifact()._download_entry(self, root)

    def ref_target(self) -> str:
        if self.ref is None:
            raise UsageError(f"{self.path!r} is not a reference; only references have a target")
        return self.ref

    def ref_url(self) -> str:
        """``wandb-artifact://ID/PATH``: add it to another artifact with ``add_reference``
        to reuse this file's content there (nothing is copied)."""
        _, version = self.parent_artifact()._committed()
        hex_id = f"{_ID_PREFIX}{version.label}".encode().hex()  # the id's bytes, in hex
        return f"{ARTIFACT_SCHEME}://{hex_id}/{self.path}"


class Manifest(dict):
    """Path -> ManifestEntry; also W&B's manifest object (``manifest.entries``)."""

    @property
    def entries(self) -> "Manifest":
        return self

    def get_entry_by_path(self, path: str) -> ManifestEntry | None:
        return self.get(path)


@dataclass
class ArtifactFile:
    """An item of ``artifact.files()`` (W&B's public File): ``name``, ``size``, ``download``."""

    name: str
    size: int
    digest: str
    _entry: ManifestEntry = field(repr=False)

    @property
    def url(self) -> str:
        """Where ``download()`` writes it by default, as a file:// URL (there is no server)."""
        root = os.path.abspath(self._entry.parent_artifact()._default_root())
        return f"file://{root}/{self.name}"

    def download(self, root: str = ".", replace: bool = False, exist_ok: bool = False, api=None):
        """Write the file to ``root/NAME`` and return it open for reading, as W&B does;
        an existing file is an error unless ``replace`` (rewrite) or ``exist_ok`` (keep)."""
        path = os.path.join(root, self.name)
        if os.path.lexists(path) and not replace:
            if not exist_ok:
                raise UsageError(
                    f"{path} already exists; pass replace=True to overwrite it "
                    "or exist_ok=True to keep it"
                )
            return open(path)
        return open(self._entry.download(root))


def _clean_path(name: str) -> str:
    parts = [p for p in str(name).replace(os.sep, "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise UsageError(f"artifact path {name!r} must be relative and stay inside the artifact")
    return "/".join(parts)


def _check_policy(policy: str | None) -> None:
    if policy not in (None, "mutable", "immutable"):
        raise UsageError(f"Invalid policy {policy!r}. Policy may only be `mutable` or `immutable`.")


def _tmp_name(path: str, local_path: str) -> str:
    """W&B's ``is_tmp`` name: the first part of the file name becomes the first 20 hex
    digits of the file's MD5, so that temporary files of the same name do not collide."""
    md5 = hashlib.md5(usedforsecurity=False)
    with open(local_path, "rb") as f:
        while block := f.read(1 << 20):
            md5.update(block)
    folder, _, leaf = path.rpartition("/")
    parts = leaf.split(".")
    parts[0] = md5.hexdigest()[:20]
    return f"{folder}/{'.'.join(parts)}" if folder else ".".join(parts)


def _flatten(node: Node, prefix: bytes = b""):
    """A scanned directory as (path, entry, mtime) for each leaf and (path, mode, mtime)
    for each directory."""
    files, dirs = [], []
    for name, child in node.items():
        path = prefix + name
        if isinstance(child, Node):
            dirs.append((path, child.mode, child.mtime_ns))
            below = _flatten(child, path + b"/")
            files += below[0]
            dirs += below[1]
        else:
            files.append((path, child, node.mtimes.get(name)))
    return files, dirs


def _artifacts_dir() -> str:
    return (
        os.environ.get("WANDB_ARTIFACT_DIR")
        or os.environ.get("WANDB_ARTIFACT_LOCATION")
        or "artifacts"
    )


class ArtifactTTL(Enum):
    """W&B's ``wandb.ArtifactTTL``: ``INHERIT`` gives a version its artifact's retention
    ttl (``artfs retention NAME --ttl``), as W&B gives its team's default."""

    INHERIT = 0


class Artifact:
    """A versioned collection of files (W&B-style)."""

    def __init__(
        self,
        name: str,
        type: str,
        description: str | None = None,
        metadata: dict | None = None,
        incremental: bool = False,
        use_as: str | None = None,
        storage_region: str | None = None,
        ttl=ArtifactTTL.INHERIT,
    ):
        self._name = check_name(name)
        self._type = check_name(type, "artifact type")
        self.description = description or ""
        self.metadata = dict(metadata or {})
        check_publication(name, type, (), self.metadata)  # W&B refuses bad metadata here too
        self.incremental = incremental  # logged on top of the latest version's files
        self.storage_region = storage_region  # W&B's cloud region: the store is local
        self._version: Version | None = None
        self._kept_offline = False  # logged by an offline run: published by 'artfs sync'
        self._store: Store | None = None
        self._base: Artifact | None = None
        # path in artifact -> (entry, mtime): what the version will hold there
        self._sources: dict[str, tuple[Entry, int | None]] = {}
        self._local: dict[str, str] = {}  # path in artifact -> the local file it came from
        self._dirs: dict[bytes, tuple[int, int]] = {}  # of new_draft and add_dir: mode, mtime
        self._files: DraftFiles | None = None
        self._objects: dict[int, tuple[Any, str]] = {}  # add(): id -> (object, path)
        self._inherited: set[str] = set()  # paths new_draft() took from the base, unchanged
        self._refs: dict[str, str] = {}  # path -> wandb-artifact:// URL its content came from
        self._init_editable(ttl)

    # --- building a draft --------------------------------------------------------

    def _check_draft(self) -> None:
        if self._version is not None:
            raise ArtifactFinalizedError(
                f"{self.name} is logged and its files cannot change; "
                "use artifact.new_draft() for the next version"
            )

    def _draft_files(self) -> DraftFiles:
        """Where added files are stored: the active run's store (or the default one).
        Metadata that log_artifact would refuse is refused first, before anything is
        stored."""
        check_publication(self._name, self._type, (), self.metadata)
        if self._files is None:
            from artfs.session import active  # session.py imports this module

            run = active()
            store = self._store or (run._home() if run is not None else Store.open())
            self._files = DraftFiles(store)
        return self._files

    def _check_new(self, path: str, entry: Entry, overwrite: bool) -> None:
        """W&B refuses a path added twice with other content unless asked to overwrite;
        what new_draft() inherited may be replaced."""
        old = self._sources.get(path)
        if old is None or overwrite or path in self._inherited:
            return
        if (old[0].kind, old[0].digest, old[0].target) != (entry.kind, entry.digest, entry.target):
            raise UsageError(
                f"Cannot add the same path twice: {path!r} (pass overwrite=True to replace it)"
            )

    def _put(self, path: str, entry: Entry, mtime: int | None, local: str | None) -> None:
        self._sources[path] = (entry, mtime)
        self._inherited.discard(path)
        self._refs.pop(path, None)
        if local is None:
            self._local.pop(path, None)
        else:
            self._local[path] = local

    def _entry_of(self, path: str) -> ManifestEntry:
        entry, _ = self._sources[path]
        ref = entry.target.decode() if entry.kind == REFERENCE else self._refs.get(path)
        return ManifestEntry(
            path, entry.digest.hex(), entry.size, ref, self._local.get(path), self, entry
        )

    def add_file(
        self,
        local_path: str,
        name: str | None = None,
        is_tmp: bool | None = False,
        skip_cache: bool | None = False,
        policy: str | None = "mutable",
        overwrite: bool = False,
    ) -> ManifestEntry:
        """Add one file, as ``name`` (default: its base name), as it is now."""
        self._check_draft()
        _check_policy(policy)
        local_path = os.fspath(local_path)
        check_exists(local_path)
        if not os.path.isfile(local_path):
            raise UsageError(f"Path is not a file: {local_path!r}; use add_dir for a directory")
        path = _clean_path(name or os.path.basename(local_path))
        if is_tmp:
            path = _tmp_name(path, local_path)
        files = self._draft_files()
        with files.ingest() as commit:
            st = os.stat(local_path)
            entry = commit.file_entry(os.fsencode(path.rsplit("/", 1)[-1]), local_path, st)
            self._check_new(path, entry, overwrite)
            files.pin(commit, [entry])
        self._put(path, entry, st.st_mtime_ns, os.path.abspath(local_path))
        return self._entry_of(path)

    def add_dir(
        self,
        local_path: str,
        name: str | None = None,
        skip_cache: bool | None = False,
        policy: str | None = "mutable",
        merge: bool = False,
    ) -> None:
        """Add a directory's files as they are now, under ``name`` (default: the root)."""
        self._check_draft()
        _check_policy(policy)
        local_path = os.fspath(local_path)
        check_exists(local_path)
        if not os.path.isdir(local_path):
            raise UsageError(f"Path is not a directory: {local_path!r}; use add_file")
        prefix = os.fsencode(_clean_path(name) + "/") if name else b""
        files = self._draft_files()
        with files.ingest() as commit:
            found, dirs = _flatten(commit.scan_dir(local_path))
            added = [(os.fsdecode(prefix + rel), entry, mtime) for rel, entry, mtime in found]
            for path, entry, _ in added:  # all refused before any is added
                self._check_new(path, entry, merge)
            files.pin(commit, [entry for _, entry, _ in added])
        root = os.path.abspath(local_path)
        for path, entry, mtime in added:
            local = os.path.join(root, path[len(prefix) :]) if entry.kind == FILE else None
            self._put(path, entry, mtime, local)
        for rel, mode, mtime in dirs:
            self._dirs[prefix + rel] = (mode, mtime)

    @contextmanager
    def new_file(
        self,
        name: str,
        mode: str = "x",
        encoding: str | None = None,
        policy: str | None = "mutable",
    ):
        """Open a new file to write into the artifact; added when closed.  Mode ``x`` (W&B's
        default) refuses a name already in the artifact, ``w`` replaces it."""
        self._check_draft()
        path = _clean_path(name)
        if "x" in mode and path in self._sources:
            raise UsageError(
                f"File with name {name!r} already exists in artifact "
                f"{self._name!r}; open it with mode='w' to replace it"
            )
        folder = tempfile.mkdtemp(prefix="artfs-new-file-")
        local = os.path.join(folder, path.rsplit("/", 1)[-1])
        try:
            with open(local, mode, encoding=encoding if "b" not in mode else None) as f:
                yield f
            self.add_file(local, path, skip_cache=True, policy=policy, overwrite="x" not in mode)
            self._local.pop(path, None)  # the temporary file is gone
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def add_reference(
        self, uri, name: str | None = None, checksum: bool = True, max_objects: int | None = None
    ) -> list[ManifestEntry]:
        """Record external data by URI (W&B's schemes); returns the entries added.  A
        ``file://`` directory gives one entry per file; ``wandb-artifact://`` (an entry's
        ``ref_url()``) takes that entry's content itself."""
        self._check_draft()
        if isinstance(uri, ManifestEntry):
            uri = uri.ref_url()
        uri = str(uri)
        if urlparse(uri).scheme == ARTIFACT_SCHEME:
            return [self._add_artifact_file(uri, name)]
        found = references.probe(uri, checksum, max_objects)
        base = _clean_path(name) if name else ""
        added = []
        for item in found:
            if item.rel:
                path = f"{base}/{item.rel}" if base else item.rel
            else:
                parsed = urlparse(uri)
                path = base or os.path.basename(parsed.path.rstrip("/")) or parsed.netloc
            path = _clean_path(path)
            entry = Entry(
                os.fsencode(path.rsplit("/", 1)[-1]),
                REFERENCE,
                0o644,
                item.size,
                item.digest,
                item.uri.encode(),
            )
            self._check_new(path, entry, False)
            added.append((path, entry))
        for path, entry in added:
            self._put(path, entry, None, None)
        return [self._entry_of(path) for path, _ in added]

    def _add_artifact_file(self, uri: str, name: str | None) -> ManifestEntry:
        """A file of another version, by W&B's reference URL: its content is reused (it is
        in the store already) and pinned until this draft is logged."""
        parsed = urlparse(uri)
        try:
            label = bytes.fromhex(parsed.netloc).decode().removeprefix(_ID_PREFIX)
        except ValueError:
            raise UsageError(f"{uri} is not a reference URL of an artifact file") from None
        files = self._draft_files()
        source = Artifact._from_version(files.store, files.store.resolve(label))
        found = source.get_entry(parsed.path.lstrip("/"))
        path = _clean_path(name or found.path)
        leaf = os.fsencode(path.rsplit("/", 1)[-1])
        assert found._entry is not None, "a logged version's entries carry their tree entry"
        entry = found._entry._replace(name=leaf)
        self._check_new(path, entry, False)
        with files.ingest() as commit:
            files.pin(commit, [entry])
        self._put(path, entry, None, None)
        self._refs[path] = uri
        return self._entry_of(path)

    def add(self, obj, name: str, overwrite: bool = False) -> ManifestEntry:
        """Add a ``Table`` as ``NAME.table.json`` (W&B's layout), or a JSON-serialisable
        dict or list as ``NAME`` (``.json`` appended when missing)."""
        self._check_draft()
        if id(obj) in self._objects:
            return self._entry_of(self._objects[id(obj)][1])
        document: dict | list
        if isinstance(obj, Table):
            path, document = _clean_path(Table.with_suffix(str(name))), obj.to_json(self)
            source = getattr(obj, "_artifact_target", None)
            if source is not None and source[0] is not self and not source[0].is_draft():
                # already in a logged artifact: W&B adds a reference to that file
                return self.add_reference(source[0].get_entry(source[1]).ref_url(), path)[0]
        elif isinstance(obj, dict | list):
            path = _clean_path(str(name) if str(name).endswith(".json") else f"{name}.json")
            document = obj
        else:
            raise TypeError(
                f"Found object of type {type(obj).__name__}; artifact.add takes a "
                "wandb.Table or a JSON-serialisable dict or list (W&B media types "
                "are not supported)"
            )
        if path in self._sources and not overwrite:
            return self._entry_of(path)
        text = json.dumps(document, sort_keys=True)
        with self.new_file(path, mode="w", encoding="utf-8") as f:
            f.write(text)
        self._objects[id(obj)] = (obj, path)
        if isinstance(obj, Table) and getattr(obj, "_artifact_target", None) is None:
            obj._artifact_target = (self, path)
        return self._entry_of(path)

    def __setitem__(self, name: str, obj) -> ManifestEntry:
        return self.add(obj, name)

    def remove(self, item) -> None:
        """Drop a path (a file, or everything under a directory), or a ManifestEntry."""
        self._check_draft()
        path = _clean_path(item.path if isinstance(item, ManifestEntry) else item)
        doomed = [p for p in self._sources if p == path or p.startswith(path + "/")]
        if not doomed:
            raise MissingPath(f"No such file or directory: {path!r} in artifact {self._name!r}")
        for p in doomed:
            del self._sources[p]
            self._local.pop(p, None)
            self._refs.pop(p, None)

    def new_draft(self) -> "Artifact":
        """A draft of the next version that starts with this version's files."""
        store, version = self._committed()
        draft = Artifact(self._name, self._type, self.description, self.metadata)
        draft._base, draft._store = self, store
        for path, entry, mtime in store.walk_times(version):
            if entry.kind == DIR:  # comes back with its files, as it was if any are left
                draft._dirs[path] = (entry.mode, mtime)
            else:
                draft._sources[path.decode("utf-8", "surrogateescape")] = (entry, mtime)
        draft._inherited = set(draft._sources)
        return draft

    # --- committing (called by Run.log_artifact) ---------------------------------

    def _commit(
        self, store: Store, aliases, run_id: str | None, history_step: int | None = None
    ) -> bool:
        self._check_draft()
        check_publication(self._name, self._type, aliases, self.metadata)
        files = self._stored_files(store, "log")
        sources, base = self._sources, self._base.name if self._base else None
        if self.incremental and base is None and store.has_artifact(self._name):
            sources, base = self._over_latest(store)
        with Commit(store) as commit:
            if files is not None:
                commit.adopt(files.new_chunks, files.filemaps, files.statcache)
            node = Node()
            for path, (entry, mtime) in sorted(sources.items()):
                if entry.kind == FILE:
                    entry = commit.inherited_entry(entry)
                node.place(os.fsencode(path), entry, mtime)
            self._restore_dirs(node)
            version, created = commit.publish(
                self._name,
                node,
                type=self._type,
                description=self.description,
                metadata=self.metadata,
                aliases=aliases,
                run_id=run_id,
                base=base,  # the version new_draft() (or incremental=True) started from
                refs={p: u for p, u in self._refs.items() if p in self._sources},
                history_step=history_step,
            )
        if files is not None:
            files.release()
        if version.number == PENDING:
            self._kept_offline = True
            print(
                f"artfs: {self._name} is kept here (offline) until 'artfs sync' publishes it",
                file=sys.stderr,
            )
            return True
        self._attach(store, version)
        if not created:
            print(
                f"artfs: {version.label} already holds this content; no new version",
                file=sys.stderr,
            )
        return created

    def _over_latest(self, store: Store) -> tuple[dict, str]:
        """W&B's incremental artifact: the latest version's files, then this draft's."""
        latest = store.resolve(f"{self._name}:latest")
        sources = {}
        for path, entry, mtime in store.walk_times(latest):
            if entry.kind == DIR:
                self._dirs.setdefault(path, (entry.mode, mtime))
            else:
                sources[path.decode("utf-8", "surrogateescape")] = (entry, mtime)
        return {**sources, **self._sources}, latest.label

    def _restore_dirs(self, root: Node) -> None:
        """Directories of the base version or of add_dir keep their mode and mtime."""
        for path, (mode, mtime) in self._dirs.items():
            node = root
            for part in path.split(b"/"):
                child = node.get(part)
                if not isinstance(child, Node):
                    break
                node = child
            else:
                if node.mtime_ns is None:  # made by place(), so no time yet
                    node.mode, node.mtime_ns = mode, mtime

    def _attach(self, store: Store, version: Version) -> Self:
        self._store, self._version = store, version
        self._type = version.type
        self._load_editable(store, version)
        self._sources, self._dirs, self._files, self._refs = {}, {}, None, {}
        return self

    @classmethod
    def _from_version(cls, store: Store, version: Version) -> Self:
        art = cls(version.name, version.type)
        return art._attach(store, version)

    # --- reading a committed version --------------------------------------------

    def _stored_files(self, store: Store, verb: str) -> DraftFiles | None:
        """What this draft stored when files were added, which must be in ``store``: a
        draft's chunks are published by a commit to the store that holds them."""
        files = self._files
        if files is not None and files.store.path != store.path:
            raise UsageError(
                f"the files of draft {self._name!r} were stored in "
                f"{files.store.path}; {verb} it to a run of that store"
            )
        return files

    def _committed(self) -> "tuple[Store, Version]":
        """The store and version of a logged artifact; ArtifactNotLoggedError for a draft."""
        if self._kept_offline:
            raise ArtifactNotLoggedError(
                f"artifact {self._name!r} was logged by an offline run; 'artfs sync' "
                "publishes it, then use it by name"
            )
        if self._version is None or self._store is None:
            raise ArtifactNotLoggedError(
                f"artifact {self._name!r} is a draft; log it with run.log_artifact first"
            )
        return self._store, self._version

    def is_draft(self) -> bool:
        return self._version is None

    @property
    def state(self) -> str:
        """W&B's states: PENDING for a draft, COMMITTED once logged."""
        return "PENDING" if self._version is None else "COMMITTED"

    @property
    def name(self) -> str:
        """``name:vN`` once committed (as W&B), the bare name for a draft."""
        return self._version.label if self._version else self._name

    @property
    def source_name(self) -> str:
        return self.name

    @property
    def qualified_name(self) -> str:
        """W&B's ``entity/project/name:vN``, which ``Api().artifact`` takes back."""
        return f"{self.entity}/{self.project}/{self.name}"

    source_qualified_name = qualified_name

    @property
    def entity(self) -> str:
        """W&B's entity: one store is one (``$WANDB_ENTITY``, else the user's name)."""
        self._committed()
        return wbpath.default_entity()

    @property
    def project(self) -> str:
        """The project of the run that logged the version, else the default one."""
        self._committed()
        run = self.logged_by()
        return (run.project if run is not None else None) or wbpath.Scope().default_project()

    source_entity, source_project = entity, project

    @property
    def collection(self):
        """The artifact's versions as W&B's ArtifactCollection."""
        from artfs.collections import ArtifactCollection  # it builds on this module

        store, _ = self._committed()
        return ArtifactCollection(store, self._name, self._type)

    @property
    def url(self) -> None:
        """W&B's web page of the version: there is none (``artfs show NAME:vN`` shows it),
        as a run's ``url`` is None."""
        self._committed()
        return None

    @property
    def history_step(self) -> int | None:
        """The last step the logging run had logged metrics at when it logged the version
        (W&B's), None outside a run or before its first log call."""
        _, version = self._committed()
        step = version.record.get("history_step")
        return None if step is None else max(0, step - 1)

    @property
    def version(self) -> str:
        _, version = self._committed()
        return f"v{version.number}"

    source_version = version

    @property
    def id(self) -> str | None:
        """A stable id of the version (None for a draft); entries' ``ref_url`` carry it."""
        if self._version is None:
            return None
        return base64.b64encode(f"{_ID_PREFIX}{self._version.label}".encode()).decode()

    @property
    def type(self) -> str:
        return self._type

    @property
    def digest(self) -> str:
        """The version's tree digest; of a draft, a digest of what was added so far (W&B's
        is a digest of the manifest), which changes with every addition."""
        if self._version is not None:
            return self._version.digest
        h = hashlib.blake2b(digest_size=32)
        for path, (entry, _) in sorted(self._sources.items()):
            h.update(
                b"%s\0%d\0%s\0%s\n"
                % (path.encode("utf-8", "surrogateescape"), entry.kind, entry.digest, entry.target)
            )
        return h.hexdigest()

    @property
    def use_as(self) -> None:
        """Deprecated in W&B, where it no longer does anything either."""
        return None

    def finalize(self) -> None:
        """W&B marks a draft final before logging; here logging is what makes it final."""

    def json_encode(self) -> dict:
        """W&B's reference to this version, as it puts one in a run's config."""
        self._committed()
        return {
            "_type": "artifactVersion",
            "_version": "v0",
            "id": self.id,
            "version": self.version,
            "sequenceName": self._name,
            "usedAs": None,
        }

    @property
    def size(self) -> int:
        """Bytes of every file and reference (of a draft: of what was added so far)."""
        if self._version is None:
            return sum(entry.size for entry, _ in self._sources.values())
        return self._version.size

    @property
    def file_count(self) -> int:
        _, version = self._committed()
        return version.files

    @property
    def created_at(self) -> str:
        _, version = self._committed()
        return iso(version.created)

    @property
    def manifest(self) -> Manifest:
        """Path -> entry for every file, reference and link (of a draft: added so far)."""
        if self._version is None:
            return Manifest((path, self._entry_of(path)) for path in sorted(self._sources))
        store, version = self._committed()
        out = Manifest()
        refs = version.record.get("refs")
        refs = refs if isinstance(refs, dict) else {}
        for path, entry in store.walk(version.root):
            if entry.kind in (FILE, REFERENCE, SYMLINK):
                shown = path.decode("utf-8", "surrogateescape")
                ref = entry.target.decode() if entry.kind == REFERENCE else refs.get(shown)
                out[shown] = ManifestEntry(
                    shown, entry.digest.hex(), entry.size, ref, None, self, entry
                )
        return out

    def files(self, names: list[str] | None = None, per_page: int = 50) -> list[ArtifactFile]:
        """The version's files (only ``names``, if given), as W&B's File objects."""
        self._committed()
        manifest = self.manifest
        chosen = (
            manifest.values()
            if names is None
            else [manifest[p] for p in map(_clean_path, names) if p in manifest]
        )
        return [ArtifactFile(e.path, e.size, e.digest, e) for e in chosen]

    def get_entry(self, name: str) -> ManifestEntry:
        """The entry at ``name`` (or an object added as ``name``); KeyError if absent."""
        self._committed()
        path, manifest = _clean_path(name), self.manifest
        found = manifest.get(path) or manifest.get(Table.with_suffix(path))
        if found is None:
            raise EntryNotFound(f"Path not contained in artifact: {path} (in {self.name})")
        return found

    def get_path(self, name: str) -> ManifestEntry:
        """W&B's older name for ``get_entry``."""
        return self.get_entry(name)

    def get(self, name: str):
        """The object added as ``name`` (a Table, dict or list), or None if there is none."""
        self._committed()
        path, manifest = _clean_path(name), self.manifest
        entry = next(
            (
                manifest[p]
                for p in (Table.with_suffix(path), path, f"{path}.json")
                if p in manifest and p.endswith(".json")
            ),
            None,
        )
        if entry is None:
            return None
        with open(entry.download()) as f:
            document = json.load(f)
        if isinstance(document, dict) and document.get("_type") == "table":
            return Table.from_json(document, self)
        return document

    __getitem__ = get

    def _default_root(self, include_version: bool = True) -> str:
        return os.path.join(_artifacts_dir(), self.name if include_version else self._name)

    def download(
        self,
        root: str | None = None,
        allow_missing_references: bool = False,
        skip_cache: bool | None = None,
        path_prefix: str | None = None,
        multipart: bool | None = None,
    ) -> str:
        """The version's files (only those whose path starts with ``path_prefix``): with a
        mount running and no ``root``, its directory in the mount (nothing copied), unless
        the version holds references; otherwise written under ``root`` (default
        ``./artifacts/NAME:vN``).  A reference that cannot be fetched is an error, unless
        ``allow_missing_references``."""
        store, version = self._committed()
        if root is None and path_prefix is None:
            live = registry.mounts(store.path)
            if live and not any(e.ref for e in self.manifest.values()):
                return os.path.join(live[0].mountpoint, "artifacts", self._name, self.version)
        root = os.fspath(root or self._default_root())
        prefix = os.fsencode(str(path_prefix)) if path_prefix else None
        export(
            store,
            version,
            root,
            prefix=prefix,
            missing_references_ok=allow_missing_references,
        )
        return root

    def file(self, root: str | None = None) -> str:
        """The one file of a single-file artifact, downloaded."""
        manifest = self.manifest
        self._committed()
        if len(manifest) != 1:
            raise UsageError(
                f"{self.name} holds {len(manifest)} files; use download(), or "
                "get_entry(path).download()"
            )
        return next(iter(manifest.values())).download(root)

    def _download_entry(self, entry: ManifestEntry, root: str | None) -> str:
        store, version = self._committed()
        root = os.fspath(root or self._default_root())
        export(store, version, root, only=os.fsencode(entry.path))
        return os.path.join(root, entry.path)

    def verify(self, root: str | None = None) -> None:
        """Check that ``root`` (default: the download directory) holds exactly this version's
        files with their content; ValueError naming the first difference.  References are
        not checked (as in W&B)."""
        store, _ = self._committed()
        root = os.fspath(root or self._default_root())
        manifest = self.manifest
        for rel in _local_files(root):
            if rel not in manifest:
                raise UsageError(
                    f"Found file {os.path.join(root, rel)} which is not a member "
                    f"of artifact {self.name}"
                )
        for path, entry in sorted(manifest.items()):
            _check_local(store, os.path.join(root, path), entry)

    def checkout(self, root: str | None = None) -> str:
        """Make ``root`` (default ``./artifacts/NAME``) hold exactly this version: files
        that are not in it are deleted, the others written as they are in it."""
        self._committed()
        root = os.fspath(root or self._default_root(include_version=False))
        manifest = self.manifest
        for rel in _local_files(root):
            if rel not in manifest:
                os.unlink(os.path.join(root, rel))
        for folder, _, _ in sorted(os.walk(root), reverse=True):  # deepest first
            if folder != root and not os.listdir(folder):
                rel = os.path.relpath(folder, root).replace(os.sep, "/")
                if not any(p.startswith(rel + "/") for p in manifest):
                    os.rmdir(folder)
        return self.download(root)

    # --- lineage -------------------------------------------------------------------

    def logged_by(self) -> "Run | None":
        """The run that made this version (None when made outside any run)."""
        store, version = self._committed()
        run_id = version.run
        return _recorded_run(store, run_id) if run_id else None

    def used_by(self) -> "list[Run]":
        """The runs that used this version (use_artifact or reads through a mount)."""
        store, version = self._committed()
        return [_recorded_run(store, r) for r in runs_mod.consumers(store, version)]

    # --- what can change after logging: description, metadata, aliases, ttl ---------------

    def _init_editable(self, ttl) -> None:
        """A draft's editable state, under W&B's private names (its own tests read them)."""
        self._aliases: list[str] = []
        self._saved_aliases: list[str] = []
        self._tags: list[str] = []
        self._saved_tags: list[str] = []
        self._ttl_duration_seconds: int | None = None
        self._ttl_is_inherited, self._ttl_changed = True, False
        self._updated_at: float | None = None
        self._saved: dict | None = None  # description and metadata as last loaded
        if ttl is not ArtifactTTL.INHERIT:
            self.ttl = ttl

    def _load_editable(self, store: Store, version: Version) -> None:
        """Take the editable fields from the store; a ttl set on the draft just logged is
        kept with its version first."""
        if self._saved is None and self._ttl_changed:
            version = store.edit_version(version.label, ttl=self._stored_ttl(), run_id=version.run)
        self._version = version
        self._description, self._metadata = version.description, copy.deepcopy(version.metadata)
        self._saved = {"description": self._description, "metadata": copy.deepcopy(self._metadata)}
        self._aliases, self._saved_aliases = list(version.aliases), list(version.aliases)
        self._tags = list(version.record.get("tags", []))
        self._saved_tags = list(self._tags)
        policy = policy_of(store, version.name)
        self._ttl_is_inherited = "ttl" not in version.record
        self._ttl_duration_seconds = ttl_of(version, policy)
        self._ttl_changed = False
        self._updated_at = version.record.get("updated")

    def _logged(self, what: str) -> "tuple[Store, Version]":
        """The store and version, as ``_committed``; the error says what needs them."""
        if self._kept_offline:
            raise ArtifactNotLoggedError(
                f"artifact {self._name!r} was logged by an offline run; 'artfs sync' "
                "publishes it, then use it by name"
            )
        if self._version is None or self._store is None:
            raise ArtifactNotLoggedError(
                f"artifact {self._name!r} is a draft and {what} needs "
                "it logged; call run.log_artifact(artifact) or "
                "artifact.save() first"
            )
        return self._store, self._version

    @property
    def description(self) -> str:
        return self._description

    @description.setter
    def description(self, description: str | None) -> None:
        if description is not None and not isinstance(description, str):
            raise UsageError(f"a description is a string, not {type(description).__name__}")
        self._description = description or ""

    @property
    def metadata(self) -> dict:
        """A dict to change in place or replace; a logged version keeps it on ``save()``."""
        return self._metadata

    @metadata.setter
    def metadata(self, metadata: dict | None) -> None:
        if metadata is not None and not isinstance(metadata, dict):  # bounds: at log or save
            raise UsageError(f"metadata must be a dict, not {type(metadata).__name__}")
        self._metadata = metadata if metadata is not None else {}

    @property
    def aliases(self) -> list[str]:
        """The version's aliases (``latest`` included on the newest): assign, ``append``
        or ``remove``, then ``save()``."""
        self._logged("aliases")
        return self._aliases

    @aliases.setter
    def aliases(self, aliases) -> None:
        self._logged("aliases")
        self._aliases = [
            check_alias(a) for a in ([aliases] if isinstance(aliases, str) else aliases)
        ]

    @property
    def tags(self) -> list[str]:
        """The version's tags (W&B's: words of letters, digits, '-', '_'): assign or
        ``append``, then ``save()``."""
        self._logged("tags")
        return self._tags

    @tags.setter
    def tags(self, tags) -> None:
        self._logged("tags")
        self._tags = list(tags)

    @property
    def ttl(self) -> timedelta | None:
        """How long the version lives from its creation (None: for ever); ``artfs gc``
        removes it after.  Inherited (``ArtifactTTL.INHERIT``, the default) it is the
        artifact's retention ttl, known once logged."""
        if self._ttl_is_inherited and (self._version is None or self._ttl_changed):
            raise ArtifactNotLoggedError(
                f"the inherited ttl of artifact {self._name!r} is "
                "known once it is logged (and saved)"
            )
        seconds = self._ttl_duration_seconds
        return None if seconds is None else timedelta(seconds=seconds)

    @ttl.setter
    def ttl(self, ttl: "timedelta | ArtifactTTL | None") -> None:
        if ttl is ArtifactTTL.INHERIT:
            self._ttl_is_inherited, self._ttl_duration_seconds = True, None
        elif ttl is None:
            self._ttl_is_inherited, self._ttl_duration_seconds = False, None
        elif isinstance(ttl, timedelta):
            if ttl.total_seconds() <= 0:
                raise UsageError(f"a ttl must be positive, not {ttl}; None never expires")
            self._ttl_is_inherited = False
            self._ttl_duration_seconds = math.ceil(ttl.total_seconds())
        else:
            raise UsageError(
                "ttl takes a datetime.timedelta, None (never expires) or "
                f"ArtifactTTL.INHERIT, not {ttl!r}"
            )
        self._ttl_changed = True

    def _stored_ttl(self):
        return INHERIT if self._ttl_is_inherited else self._ttl_duration_seconds

    @property
    def updated_at(self) -> str:
        """When the version's description, metadata, aliases, tags or ttl last changed
        (its creation if never), an ISO 8601 string as ``created_at``."""
        self._logged("updated_at")
        return iso(self._updated_at) if self._updated_at else self.created_at

    def save(self, project: str | None = None, settings=None) -> None:
        """Log a draft (under the active run, else a run of job type ``auto``), or keep
        the changes made to a logged version's description, metadata, aliases and ttl."""
        if self._version is None:
            from artfs import session  # session.py imports this module

            run = session.active()
            if run is not None:
                run.log_artifact(self)
                return
            with session.init(
                job_type="auto", project=project, store=self._store.path if self._store else None
            ) as run:
                run.log_artifact(self)
            return
        self._update()

    def _update(self) -> None:
        from artfs import session

        store, current = self._committed()
        assert self._saved is not None, "loaded with the version"
        changes = {
            key: getattr(self, f"_{key}")
            for key in ("description", "metadata")
            if getattr(self, f"_{key}") != self._saved[key]
        }
        if "metadata" in changes:  # changed in place: may hold what the setter would convert
            changes["metadata"] = _plain_json(changes["metadata"])
        if self._ttl_changed:
            changes["ttl"] = self._stored_ttl()
        if self._tags != self._saved_tags:
            changes["tags"] = self._tags
        remove = [a for a in self._saved_aliases if a not in self._aliases]
        if LATEST in remove:  # W&B's docs remove it; here it is not stored, so it cannot go
            remove.remove(LATEST)
            warn_once(
                "latest",
                "artfs: 'latest' always names the newest version and stays on "
                f"{self.name}; the other alias changes are saved",
                3,  # the script's save() call
            )
        run = session.active()
        version = store.edit_version(
            current.label,
            run_id=run.id if run else None,
            add_aliases=[a for a in self._aliases if a not in self._saved_aliases],
            remove_aliases=remove,
            **changes,
        )
        self._load_editable(store, version)

    def wait(self, timeout: float | None = None) -> "Artifact":
        """Logging is done when ``log_artifact`` returns, so there is nothing to wait for."""
        self._logged("wait")
        return self

    def delete(self, delete_aliases: bool = False) -> None:
        """Remove this version (``artfs gc`` frees its space).  One holding aliases,
        ``latest`` included, is refused (AliasesHeld, a CommError) unless
        ``delete_aliases``, as in W&B; ``latest`` then moves to the newest one left."""
        store, version = self._logged("delete")
        store.remove_version(version.label, force=delete_aliases, latest_counts=True)

    # --- registry links (artfs/registry.py) -----------------------------------------

    is_link = False  # a version as a collection shows it is a registry.LinkedArtifact

    def link(self, target_path: str, aliases=None) -> "Artifact":
        """Link this version (a draft is logged first) into a registry collection or
        portfolio, ``wandb-registry-model/NAME``; → the linked artifact."""
        from artfs import registry, session  # both build on this module

        if self._version is None:  # logged by the active run, as W&B's save() does
            run = session.active()
            if run is not None:
                run.log_artifact(self)
            else:
                self._commit(Store.open(), [], None)
        store, _ = self._committed()
        return registry.link(store, self, target_path, aliases)

    @property
    def linked_artifacts(self) -> "list[LinkedArtifact]":
        """This version as each collection it is linked into shows it."""
        from artfs import registry

        store, version = self._committed()
        return registry.links_of(store, version)

    @property
    def source_artifact(self) -> "Artifact":
        return self  # a link's is the version it links

    def __repr__(self) -> str:
        return f"<Artifact {self.name} ({self._type})>"


def _plain_json(value) -> dict:
    """Metadata as W&B keeps it, for ``save()``: a copy that is plain JSON (tuples become
    lists, numpy values numbers), checked against the store's bounds."""
    if not isinstance(value, dict):
        raise UsageError(f"metadata must be a dict, not {type(value).__name__}")

    def plain(obj):
        for convert in ("tolist", "item", "isoformat"):  # numpy arrays and scalars, dates
            if hasattr(obj, convert):
                return getattr(obj, convert)()
        raise TypeError(f"{type(obj).__name__} is not JSON")

    try:
        copied = json.loads(json.dumps(value, default=plain, allow_nan=False))
    except ValueError:
        raise UsageError("metadata must not contain NaN or Infinity") from None
    except RecursionError:
        meta.check_document(value)  # says how deep is allowed
        raise UsageError("metadata must not hold cycles") from None
    except TypeError as e:
        raise UsageError(f"metadata must hold only JSON values ({e})") from None
    meta.check_document(copied)
    return copied


def _local_files(root: str):
    """Relative paths of the files and links below ``root``."""
    for folder, dirs, names in os.walk(root):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            yield os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")


def _check_local(store: Store, path: str, entry: ManifestEntry) -> None:
    stored = entry._entry
    if stored is not None and stored.kind == REFERENCE:
        return
    if stored is not None and stored.kind == SYMLINK:
        if not os.path.islink(path) or os.fsencode(os.readlink(path)) != stored.target:
            raise UsageError(
                f"Link mismatch for file: {entry.path} (not a link to "
                f"{stored.target.decode(errors='replace')})"
            )
        return
    if not os.path.isfile(path) or os.path.islink(path):
        raise UsageError(f"Missing file: {entry.path} is not in {os.path.dirname(path) or '.'}")
    assert stored is not None, "a committed version's manifest carries its entries"
    if not holds(path, stored.digest, store.file_chunks(stored)):
        raise UsageError(f"Digest mismatch for file: {entry.path}")


def _recorded_run(store: Store, run_id: str) -> "Run":
    from artfs.session import Run  # session.py imports this module

    return Run(store, runs_mod.get_run(store, run_id))
