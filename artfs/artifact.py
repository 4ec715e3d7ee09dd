"""``artfs.Artifact``: a draft to fill and log, or a handle on a committed version.

Mirrors W&B's Artifact so that ``import artfs as wandb`` scripts run as they
are.  A draft only records what was added; the files are read, chunked and
stored when the draft is logged (``Run.log_artifact``), in one commit.
"""

import copy
import json
import math
import os
import shutil
import sys
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from artfs.errors import (
    ArtifactFinalizedError,
    ArtifactNotLoggedError,
    Conflict,
    CorruptData,
    NotFound,
    UsageError,
)
from artfs.fs import registry
from artfs.store import meta
from artfs.store import runs as runs_mod
from artfs.store.commit import Commit, Node, check_exists, check_publication
from artfs.store.names import LATEST, check_alias, check_name
from artfs.store.restore import export, file_digest, reference_path
from artfs.store.retention import ttl_of
from artfs.store.store import INHERIT, Store, Version
from artfs.store.tree import DIR, FILE, REFERENCE, SYMLINK, Entry

if TYPE_CHECKING:
    from artfs.session import Run


@dataclass(frozen=True)
class ManifestEntry:
    """One file of an artifact: its path inside the artifact, digest and size."""

    path: str
    digest: str
    size: int
    ref: str | None = None
    _artifact: "Artifact | None" = None

    def download(self, root: str | None = None) -> str:
        """Write this one file under ``root`` (default: the artifact's download directory)."""
        assert self._artifact is not None
        return self._artifact._download_entry(self, root)


def _clean_path(name: str) -> str:
    parts = [p for p in name.replace(os.sep, "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise UsageError(f"artifact path {name!r} must be relative and stay inside the artifact")
    return "/".join(parts)


class ArtifactTTL(Enum):
    """W&B's ``wandb.ArtifactTTL``: ``INHERIT`` gives a version its artifact's retention
    ttl (``artfs retention NAME --ttl``), as W&B gives its team's default."""

    INHERIT = 0


class Artifact:
    """A versioned collection of files (W&B-style)."""

    def __init__(self, name: str, type: str, description: str | None = None,
                 metadata: dict | None = None, ttl=ArtifactTTL.INHERIT):
        self._name = check_name(name)
        self._type = check_name(type, "artifact type")
        self.description = description or ""
        self.metadata = dict(metadata or {})
        self._version: Version | None = None
        self._store: Store | None = None
        self._base: Artifact | None = None
        self._sources: dict[str, tuple] = {}  # path in artifact -> what to put there
        self._base_dirs: dict[bytes, tuple[int, int]] = {}  # of new_draft: mode, mtime
        self._tmpdir: str | None = None
        self._init_editable(ttl)

    # --- building a draft --------------------------------------------------------

    def _check_draft(self) -> None:
        if self._version is not None:
            raise ArtifactFinalizedError(f"{self.name} is logged and its files cannot change; "
                                         "use artifact.new_draft() for the next version")

    def _add(self, path: str, source: tuple) -> str:
        self._check_draft()
        path = _clean_path(path)
        if path in self._sources and self._sources[path][0] != "inherited":
            raise Conflict(f"{path!r} was already added to artifact {self._name!r}")
        self._sources[path] = source
        return path

    def add_file(self, local_path: str, name: str | None = None, **_ignored) -> ManifestEntry:
        """Add one file, as ``name`` (default: its base name)."""
        st = check_exists(local_path)
        if os.path.isdir(local_path):
            raise UsageError(f"{local_path} is a directory; use add_dir")
        source = ("file", os.path.abspath(local_path))
        path = self._add(name or os.path.basename(local_path), source)
        return ManifestEntry(path, "", st.st_size, None, self)

    def add_dir(self, local_path: str, name: str | None = None, **_ignored) -> None:
        """Add a directory's contents, under ``name`` (default: the artifact's root)."""
        check_exists(local_path)
        if not os.path.isdir(local_path):
            raise UsageError(f"{local_path} is not a directory; use add_file")
        prefix = _clean_path(name) if name else ""
        self._check_draft()
        self._sources[f"{prefix}/" if prefix else "/"] = ("dir", os.path.abspath(local_path))

    @contextmanager
    def new_file(self, name: str, mode: str = "w", encoding: str | None = None):
        """Open a new file to write into the artifact (text mode by default)."""
        self._check_draft()
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="artfs-draft-")
        local = os.path.join(self._tmpdir, str(len(self._sources)))
        self._add(name, ("tmpfile", local))
        with open(local, mode, encoding=encoding if "b" not in mode else None) as f:
            yield f

    def add_reference(self, uri: str, name: str | None = None, **_ignored) -> ManifestEntry:
        """Record an external file by URI with its size and digest; its bytes are not stored."""
        local = reference_path(uri)
        st = check_exists(local)
        if not os.path.isfile(local):
            raise UsageError(f"{uri} is not a regular file; only file references are supported")
        digest = file_digest(local)
        path = self._add(name or os.path.basename(urlparse(uri).path),
                         ("ref", uri, st.st_size, digest))
        return ManifestEntry(path, digest.hex(), st.st_size, uri, self)

    def remove(self, path: str) -> None:
        """Drop a path (a file, or everything under a directory) from a draft."""
        self._check_draft()
        path = _clean_path(path)
        doomed = [p for p in self._sources if p == path or p.startswith(path + "/")]
        if not doomed:
            raise NotFound(f"{path!r} is not in artifact {self._name!r}")
        for p in doomed:
            del self._sources[p]

    def new_draft(self) -> "Artifact":
        """A draft of the next version that starts with this version's files."""
        self._check_committed()
        draft = Artifact(self._name, self._type, self.description, self.metadata)
        draft._base, draft._store = self, self._store
        for path, entry, mtime in self._store.walk_times(self._version):
            if entry.kind == DIR:  # comes back with its files, as it was if any are left
                draft._base_dirs[path] = (entry.mode, mtime)
            else:
                draft._sources[path.decode("utf-8", "surrogateescape")] = ("inherited", entry,
                                                                            mtime)
        return draft

    # --- committing (called by Run.log_artifact) ---------------------------------

    def _commit(self, store: Store, aliases, run_id: str | None) -> bool:
        self._check_draft()
        check_publication(self._name, self._type, aliases, self.metadata)
        with Commit(store) as commit:
            node = Node()
            for path, source in sorted(self._sources.items()):
                self._place(commit, node, path, source)
            self._restore_base_dirs(node)
            version, created = commit.publish(
                self._name, node, type=self._type, description=self.description,
                metadata=self.metadata, aliases=aliases, run_id=run_id,
                base=self._base.name if self._base else None)  # new_draft()'s version
        self._attach(store, version)
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        if not created:
            print(f"artfs: {version.label} already holds this content; no new version",
                  file=sys.stderr)
        return created

    def _restore_base_dirs(self, root: Node) -> None:
        """Directories of the version a draft started from keep their mode and mtime."""
        for path, (mode, mtime) in self._base_dirs.items():
            node = root
            for part in path.split(b"/"):
                node = node.get(part)
                if not isinstance(node, Node):
                    break
            else:
                if node.mtime_ns is None:  # not scanned from a directory added since
                    node.mode, node.mtime_ns = mode, mtime

    @staticmethod
    def _place(commit: Commit, node: Node, path: str, source: tuple) -> None:
        kind = source[0]
        leaf = os.fsencode(path.rsplit("/", 1)[-1]) if path and not path.endswith("/") else b""
        raw_path = os.fsencode(path)
        if kind == "dir":
            target = node
            for part in filter(None, raw_path.split(b"/")):
                target = target.child_dir(part)
            commit.scan_dir(source[1], target)
        elif kind in ("file", "tmpfile"):  # a temporary file is not worth a stat cache entry
            st = os.stat(source[1])
            node.place(raw_path, commit.file_entry(leaf, source[1], st, cache=kind == "file"),
                       st.st_mtime_ns)
        elif kind == "ref":
            node.place(raw_path, commit.reference_entry(leaf, source[1], source[2], source[3]))
        else:
            entry = commit.inherited_entry(source[1])
            node.place(raw_path, Entry(leaf, entry.kind, entry.mode, entry.size,
                                       entry.digest, entry.target), source[2])

    def _attach(self, store: Store, version: Version) -> "Artifact":
        self._store, self._version = store, version
        self._type = version.type
        self._load_editable(version)
        self._sources = {}
        return self

    @classmethod
    def _from_version(cls, store: Store, version: Version) -> "Artifact":
        art = cls(version.name, version.type)
        return art._attach(store, version)

    # --- reading a committed version --------------------------------------------

    def _check_committed(self) -> None:
        if self._version is None:
            raise UsageError(f"artifact {self._name!r} is a draft; log it with run.log_artifact")

    @property
    def name(self) -> str:
        """``name:vN`` once committed (as W&B), the bare name for a draft."""
        return self._version.label if self._version else self._name

    @property
    def source_name(self) -> str:
        return self._name

    @property
    def version(self) -> str | None:
        return f"v{self._version.number}" if self._version else None

    @property
    def type(self) -> str:
        return self._type

    @property
    def digest(self) -> str | None:
        return self._version.digest if self._version else None

    @property
    def size(self) -> int:
        self._check_committed()
        return self._version.size

    @property
    def created_at(self) -> float | None:
        return self._version.created if self._version else None

    @property
    def manifest(self) -> dict[str, ManifestEntry]:
        """Path -> entry for every file (and reference) of the committed version."""
        self._check_committed()
        out = {}
        for path, entry in self._store.walk(self._version.root):
            if entry.kind in (FILE, REFERENCE, SYMLINK):
                shown = path.decode("utf-8", "surrogateescape")
                ref = entry.target.decode() if entry.kind == REFERENCE else None
                out[shown] = ManifestEntry(shown, entry.digest.hex(), entry.size, ref, self)
        return out

    def files(self) -> list[ManifestEntry]:
        return list(self.manifest.values())

    def get_entry(self, path: str) -> ManifestEntry:
        try:
            return self.manifest[_clean_path(path)]
        except KeyError:
            raise NotFound(f"{path!r} is not in {self.name}") from None

    def _default_root(self) -> str:
        return os.path.join("artifacts", self.name)

    def download(self, root: str | None = None) -> str:
        """The version's files: with a mount running and no ``root``, its directory in the
        mount (nothing copied); otherwise written under ``root`` (default
        ``./artifacts/NAME:vN``)."""
        self._check_committed()
        if root is None:
            live = registry.mounts(self._store.path)
            if live:
                return os.path.join(live[0].mountpoint, "artifacts", self._name, self.version)
        root = root or self._default_root()
        export(self._store, self._version, root)
        return root

    def _download_entry(self, entry: ManifestEntry, root: str | None) -> str:
        self._check_committed()
        root = root or self._default_root()
        export(self._store, self._version, root, only=os.fsencode(entry.path))
        return os.path.join(root, entry.path)

    # --- lineage -------------------------------------------------------------------

    def logged_by(self) -> "Run | None":
        """The run that made this version (None when made outside any run)."""
        self._check_committed()
        run_id = self._version.run
        return _recorded_run(self._store, run_id) if run_id else None

    def used_by(self) -> "list[Run]":
        """The runs that used this version (use_artifact or reads through a mount)."""
        self._check_committed()
        return [_recorded_run(self._store, r)
                for r in runs_mod.consumers(self._store, self._version)]

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

    def _load_editable(self, version: Version) -> None:
        """Take the editable fields from the store; a ttl set on the draft just logged is
        kept with its version first."""
        if self._saved is None and self._ttl_changed:
            version = self._store.edit_version(version.label, ttl=self._stored_ttl(),
                                               run_id=version.run)
        self._version = version
        self._description, self._metadata = version.description, copy.deepcopy(version.metadata)
        self._saved = {"description": self._description,
                       "metadata": copy.deepcopy(self._metadata)}
        self._aliases, self._saved_aliases = list(version.aliases), list(version.aliases)
        self._tags = list(version.record.get("tags", []))
        self._saved_tags = list(self._tags)
        try:
            policy = self._store.retention(version.name)
        except CorruptData:  # the artifact's record: its versions' own ttl still reads
            policy = {}
        self._ttl_is_inherited = "ttl" not in version.record
        self._ttl_duration_seconds = ttl_of(version, policy)
        self._ttl_changed = False
        self._updated_at = version.record.get("updated")

    def _logged(self, what: str) -> None:
        if self._version is None:
            raise ArtifactNotLoggedError(f"artifact {self._name!r} is a draft and {what} needs "
                                         "it logged; call run.log_artifact(artifact) or "
                                         "artifact.save() first")

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
        self._aliases = [check_alias(a) for a in ([aliases] if isinstance(aliases, str)
                                                  else aliases)]

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
            raise ArtifactNotLoggedError(f"the inherited ttl of artifact {self._name!r} is "
                                         "known once it is logged (and saved)")
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
            raise UsageError("ttl takes a datetime.timedelta, None (never expires) or "
                             f"ArtifactTTL.INHERIT, not {ttl!r}")
        self._ttl_changed = True

    def _stored_ttl(self):
        return INHERIT if self._ttl_is_inherited else self._ttl_duration_seconds

    @property
    def updated_at(self) -> float:
        """When the version's description, metadata, aliases, tags or ttl last changed
        (its creation if never)."""
        self._logged("updated_at")
        return self._updated_at or self.created_at

    def save(self, project: str | None = None, settings=None) -> None:
        """Log a draft (under the active run, else a run of job type ``auto``), or keep
        the changes made to a logged version's description, metadata, aliases and ttl."""
        if self._version is None:
            from artfs import session  # session.py imports this module

            run = session.active()
            if run is not None:
                run.log_artifact(self)
                return
            with session.init(job_type="auto", project=project,
                              store=self._store.path if self._store else None) as run:
                run.log_artifact(self)
            return
        self._update()

    def _update(self) -> None:
        from artfs import session

        changes = {key: getattr(self, f"_{key}") for key in ("description", "metadata")
                   if getattr(self, f"_{key}") != self._saved[key]}
        if "metadata" in changes:  # changed in place: may hold what the setter would convert
            changes["metadata"] = _plain_json(changes["metadata"])
        if self._ttl_changed:
            changes["ttl"] = self._stored_ttl()
        if self._tags != self._saved_tags:
            changes["tags"] = self._tags
        remove = [a for a in self._saved_aliases if a not in self._aliases]
        if LATEST in remove:  # W&B's docs remove it; here it is not stored, so it cannot go
            remove.remove(LATEST)
            _warn_once("latest", "artfs: 'latest' always names the newest version and stays on "
                       f"{self.name}; the other alias changes are saved")
        run = session.active()
        version = self._store.edit_version(
            self._version.label, run_id=run.id if run else None,
            add_aliases=[a for a in self._aliases if a not in self._saved_aliases],
            remove_aliases=remove, **changes)
        self._load_editable(version)

    def wait(self, timeout: float | None = None) -> "Artifact":
        """Logging is done when ``log_artifact`` returns, so there is nothing to wait for."""
        self._logged("wait")
        return self

    def delete(self, delete_aliases: bool = False) -> None:
        """Remove this version (``artfs gc`` frees its space).  One holding aliases,
        ``latest`` included, is refused (AliasesHeld, a CommError) unless
        ``delete_aliases``, as in W&B; ``latest`` then moves to the newest one left."""
        self._logged("delete")
        self._store.remove_version(self._version.label, force=delete_aliases,
                                   latest_counts=True)

    def __repr__(self) -> str:
        return f"<Artifact {self.name} ({self._type})>"


_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    """Warn of something artfs does differently once per process, not on every call."""
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, stacklevel=4)  # the caller of save()


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


def _recorded_run(store: Store, run_id: str) -> "Run":
    from artfs.session import Run  # session.py imports this module

    return Run(store, runs_mod.get_run(store, run_id))
