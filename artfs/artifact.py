"""``artfs.Artifact``: a draft to fill and log, or a handle on a committed version.

Mirrors W&B's Artifact so that ``import artfs as wandb`` scripts run as they
are.  A draft only records what was added; the files are read, chunked and
stored when the draft is logged (``Run.log_artifact``), in one commit.
"""

import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from artfs.errors import Conflict, NotFound, UsageError
from artfs.fs import registry
from artfs.store import runs as runs_mod
from artfs.store.commit import Commit, Node, check_exists, check_publication
from artfs.store.names import check_name
from artfs.store.restore import export, file_digest, reference_path
from artfs.store.store import Store, Version
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


class Artifact:
    """A versioned collection of files (W&B-style)."""

    def __init__(self, name: str, type: str, description: str | None = None,
                 metadata: dict | None = None):
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

    # --- building a draft --------------------------------------------------------

    def _check_draft(self) -> None:
        if self._version is not None:
            raise Conflict(f"{self.name} is committed and cannot change; "
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
        self.description, self.metadata = version.description, dict(version.metadata)
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
    def aliases(self) -> list[str]:
        if self._version is None:
            return []
        return self._store.resolve(self._version.label).aliases

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
        return registry.link(self._store, self, target_path, aliases)

    @property
    def linked_artifacts(self) -> "list[Artifact]":
        """This version as each collection it is linked into shows it."""
        from artfs import registry

        self._check_committed()
        return registry.links_of(self._store, self._version)

    @property
    def source_artifact(self) -> "Artifact":
        return self  # a link's is the version it links

    def __repr__(self) -> str:
        return f"<Artifact {self.name} ({self._type})>"


def _recorded_run(store: Store, run_id: str) -> "Run":
    from artfs.session import Run  # session.py imports this module

    return Run(store, runs_mod.get_run(store, run_id))
