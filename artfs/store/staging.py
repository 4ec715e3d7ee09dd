"""Staging directories: the writable next version of an artifact, on disk.

    STORE/staging/NAME/tree/        the working files
    STORE/staging/NAME/base.json    {"version": "NAME:vN", "root": hex} or {} (from scratch)

A staging that starts from a version does not copy its files: each one is a
*placeholder*, a sparse file of the right size, mode and name whose xattr
``user.artfs.cow`` holds the content digest.  Renames, links, unlinks and
chmods work on placeholders natively; reads are served from the store; the
first write copies the content in (``copy_up``) and drops the xattr.  Every
placeholder's digest belongs to the base version, which gc keeps alive for
as long as the staging exists, so nothing a staging shows can be collected.

Only the mount writes into ``tree/``; this module knows nothing of FUSE, so
the CLI can commit a staging when no mount is running.
"""

import json
import os
import re
import shutil
import stat

from artfs.errors import Conflict, CorruptData, NotFound, UsageError
from artfs.store import durable
from artfs.store.commit import Commit, Node, open_dir
from artfs.store.holes import drop_content, write_sparse
from artfs.store.names import check_name, is_name
from artfs.store.restore import holds
from artfs.store.store import Store, Version
from artfs.store.tree import DIR, FILE, REFERENCE, SYMLINK, Entry

COW_XATTR = "user.artfs.cow"


def staging_root(store: Store) -> str:
    return os.path.join(store.path, "staging")


def names(store: Store) -> list[str]:
    """Names of the stagings (leftovers of interrupted creation or removal have a '~')."""
    root = staging_root(store)
    if not os.path.isdir(root):
        return []
    # Only artfs makes stagings, under valid names; anything else there is not one.
    return sorted(n for n in os.listdir(root) if "~" not in n and is_name(n))


def staging_bases(store: Store) -> list[dict]:
    """The base records of every staging that has one."""
    return [b for b in (Staging(store, n).base for n in names(store)) if b]


class Staging:
    """One artifact's staging directory."""

    def __init__(self, store: Store, name: str):
        self.store = store
        self.name = check_name(name)
        self.dir = os.path.join(staging_root(store), name)
        self.tree = os.path.join(self.dir, "tree")

    def exists(self) -> bool:
        return os.path.isdir(self.tree)

    # --- the base version ------------------------------------------------------

    @property
    def base(self) -> dict:
        """The base record; CorruptData if base.json is damaged (gc cannot know what
        the placeholders need, nor a commit what the version was derived from)."""
        try:
            with open(os.path.join(self.dir, "base.json"), "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return {}
        try:
            record = json.loads(raw)
        except (ValueError, RecursionError):
            record = None
        if record == {} or (
            isinstance(record, dict)
            and isinstance(record.get("version"), str)
            and re.fullmatch("[0-9a-f]{64}", str(record.get("root")))
        ):
            return record
        raise CorruptData(
            f"the base record of staging {self.name!r} is damaged "
            f"({os.path.join(self.dir, 'base.json')}); copy its files out of the "
            f"staging, then discard it with 'artfs unstage {self.name} --force'"
        )

    def _set_base(self, version: Version | None) -> None:
        record = {"version": version.label, "root": version.digest} if version else {}
        durable.replace_json(os.path.join(self.dir, "base.json"), record)

    # --- creating ----------------------------------------------------------------

    def create(self, base: Version | None = None) -> None:
        """An empty staging, or one showing ``base``'s files as placeholders."""
        if self.exists():
            raise Conflict(
                f"staging {self.name!r} already exists; commit it, or remove it "
                f"with 'artfs unstage {self.name}'"
            )
        building = self.dir + "~new"  # "~" cannot be in a name
        shutil.rmtree(building, ignore_errors=True)
        os.makedirs(os.path.join(building, "tree"))
        os.rename(building, self.dir)  # the tree fills in below; base.json is written last
        if base is not None:
            self._materialize(base)
        self._set_base(base)

    def _materialize(self, version: Version) -> None:
        """The version's tree as placeholders, links and directories, with its times."""
        fd = os.open(self.tree, os.O_RDONLY | os.O_DIRECTORY)
        try:
            self._fill(fd, version.root, version.attrs_root, version.mtime_ns)
        finally:
            os.close(fd)
        os.utime(self.tree, ns=(version.mtime_ns, version.mtime_ns))

    def _fill(self, fd: int, root: bytes, attrs: bytes | None, default_ns: int) -> None:
        tree = self.store.tree(root)
        mtimes, dirs = self.store.listing_times(tree, attrs, default_ns)
        subdirs = iter(dirs)
        for entry, mtime in zip(tree, mtimes, strict=True):
            name, times = entry.name, (mtime, mtime)
            if entry.kind == DIR:
                os.mkdir(name, 0o700, dir_fd=fd)
                child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                try:
                    self._fill(child, entry.digest, next(subdirs).attrs, default_ns)
                finally:
                    os.close(child)
                os.chmod(name, entry.mode, dir_fd=fd)  # filled first: it may be read-only
                os.utime(name, ns=times, dir_fd=fd)
            elif entry.kind == SYMLINK:
                os.symlink(entry.target, name, dir_fd=fd)
                os.utime(name, ns=times, dir_fd=fd, follow_symlinks=False)
            elif entry.kind == FILE:
                make_placeholder(name, entry, dir_fd=fd, mtime_ns=mtime)

    def remove(self) -> None:
        if not self.exists():
            raise NotFound(f"no staging named {self.name!r}")
        doomed = self.dir + "~removing"
        os.rename(self.dir, doomed)
        shutil.rmtree(doomed)

    # --- committing ------------------------------------------------------------------

    def commit(
        self,
        *,
        message: str = "",
        aliases=(),
        type: str | None = None,
        metadata: dict | None = None,
        description: str = "",
        run_id: str | None = None,
        progress=None,
        skip_special: bool = False,
        warn=None,
    ) -> tuple[Version, bool]:
        """Snapshot the tree into the next version, then turn it into a clean view of it.
        Fifos, sockets and devices stop it, unless ``skip_special`` leaves them out
        (each named to ``warn``)."""
        if not self.exists():
            raise NotFound(f"no staging named {self.name!r}; 'artfs stage {self.name}' makes one")
        # The staging's new base must be numbered, and only the remote numbers versions.
        if self.store.remote is not None and self.store.is_offline():
            raise UsageError(
                "a staging is committed on the remote, which offline mode leaves alone; "
                "commit it online, or 'artfs put' its files (kept for 'artfs sync')"
            )
        type = type or self._default_type()
        with Commit(self.store, progress=progress, skip_special=skip_special, warn=warn) as commit:
            node = self._scan(commit)
            version, created = commit.publish(
                self.name,
                node,
                type=type,
                description=description,
                metadata=metadata,
                message=message,
                aliases=aliases,
                run_id=run_id,
                base=self.base.get("version"),
            )
        self._set_base(version)
        self._to_placeholders(version)
        return version, created

    def _default_type(self) -> str:
        try:
            return self.store.artifact(self.name)["type"]
        except NotFound:
            return "dataset"

    def _scan(self, commit: Commit) -> Node:
        """The tree as a Node: a placeholder is its base's entry, read and hashed never."""

        def entry_for(name: bytes, fd: int, st: os.stat_result, key: bytes) -> Entry:
            digest = placeholder_digest(fd)
            if digest is None:
                return commit.file_entry(name, fd, st, key_path=key)
            return commit.inherited_entry(
                Entry(name, FILE, stat.S_IMODE(st.st_mode), st.st_size, digest)
            )

        return commit.scan_dir(self.tree, entry_for=entry_for)

    def _to_placeholders(self, version: Version) -> None:
        """Give back the disk space of committed files: they are in the store now.  The
        files keep their times: a commit never changes what the user sees."""
        tree = os.fsencode(self.tree)
        by_dir: dict[bytes, list[Entry]] = {}
        for rel, entry in self.store.walk(version.root):
            if entry.kind == FILE and entry.size:
                by_dir.setdefault(os.path.dirname(rel), []).append(entry)
        for rel, entries in by_dir.items():
            try:
                with open_dir(tree, rel) as fd:
                    for entry in entries:
                        _to_placeholder(fd, entry)
            except (FileNotFoundError, NotADirectoryError):
                continue  # gone since the scan


def placeholder_digest(path: bytes | str | int) -> bytes | None:
    """The content digest of a placeholder (path or open fd), or None for real content."""
    try:
        if isinstance(path, int):
            digest = os.getxattr(path, COW_XATTR)
        else:
            digest = os.getxattr(path, COW_XATTR, follow_symlinks=False)
    except OSError:
        return None
    return digest if len(digest) == 32 else None


def _to_placeholder(dir_fd: int, entry: Entry) -> None:
    """A committed file (of one name) made a placeholder of itself, its times kept."""
    try:
        fd = os.open(entry.name, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except (FileNotFoundError, OSError):
        return  # gone, or not a regular file any more
    try:
        st = os.fstat(fd)
        if (
            stat.S_ISREG(st.st_mode)
            and st.st_nlink == 1
            and st.st_size == entry.size
            and placeholder_digest(fd) is None
        ):
            # Mark first, then drop the bytes: a crash in between leaves a correct
            # placeholder, and dropping them is one call that keeps the size.
            os.setxattr(fd, COW_XATTR, entry.digest)
            drop_content(fd)
            os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
    finally:
        os.close(fd)


def make_placeholder(name: bytes, entry: Entry, *, dir_fd: int, mtime_ns: int) -> None:
    """A sparse file of the entry's size, marked with its digest (content in the store)."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, entry.mode, dir_fd=dir_fd)
    try:
        os.ftruncate(fd, entry.size)
        os.setxattr(fd, COW_XATTR, entry.digest)
        os.fchmod(fd, entry.mode)
        os.utime(fd, ns=(mtime_ns, mtime_ns))
    finally:
        os.close(fd)


def placeholder_entry(path: bytes | str, st: os.stat_result, digest: bytes) -> Entry:
    return Entry(
        os.fsencode(os.path.basename(path)), FILE, stat.S_IMODE(st.st_mode), st.st_size, digest
    )


def copy_up(store: Store, path: bytes | str | int, *, truncate: bool = False) -> None:
    """Give a placeholder (path or open fd) its real content (or none, when about to be
    truncated)."""
    digest = placeholder_digest(path)
    if digest is None:
        return
    name: bytes | str
    opened: bytes | str
    if isinstance(path, int):
        st, name, opened = os.fstat(path), b"", f"/proc/self/fd/{path}"
    else:
        st, name, opened = os.lstat(path), path, path
    if not truncate:
        entry = placeholder_entry(name, st, digest)
        with open(opened, "r+b") as f:
            write_sparse(f, store.read_file(entry))  # over the placeholder's hole
            os.utime(f.fileno(), ns=(st.st_atime_ns, st.st_mtime_ns))  # content, not a change
            f.flush()
            os.fsync(f.fileno())
    os.removexattr(path, COW_XATTR)


# --- uncommitted changes: what discarding a staging would lose ---------------------------

SHOWN_CHANGES = 5  # paths named in a refusal; the rest are counted


def changed_paths(staging: Staging) -> list[str]:
    """Paths of the staging whose name, type, mode, link target or content differ from its
    base version (added, removed or changed), sorted.  Times are not content: a touched
    file is unchanged.  A staging with no base is unchanged only when empty."""
    root = staging.base.get("root")
    # References are never shown in a staging: their absence is not the user's doing.
    base = (
        {rel: e for rel, e in staging.store.walk(bytes.fromhex(root)) if e.kind != REFERENCE}
        if root
        else {}
    )
    changed, seen = [], set()
    fd = os.open(staging.tree, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for rel, dir_fd, name, st in _disk_entries(fd, b""):
            seen.add(rel)
            if not _unchanged(staging.store, dir_fd, name, st, base.get(rel)):
                changed.append(rel)
    finally:
        os.close(fd)
    changed += [rel for rel in base if rel not in seen]
    return sorted(os.fsdecode(rel) for rel in changed)


def _disk_entries(fd: int, prefix: bytes):
    """(relative path, its directory's descriptor, name, lstat) of everything below the
    directory ``fd``, depth first; reached by descriptors, so depth has no limit."""
    with os.scandir(fd) as it:
        items = [(os.fsencode(item.name), item.stat(follow_symlinks=False)) for item in it]
    for name, st in items:
        yield prefix + name, fd, name, st
        if stat.S_ISDIR(st.st_mode):
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            try:
                yield from _disk_entries(child, prefix + name + b"/")
            finally:
                os.close(child)


def _unchanged(
    store: Store, dir_fd: int, name: bytes, st: os.stat_result, entry: Entry | None
) -> bool:
    mode = stat.S_IMODE(st.st_mode)
    if entry is None:
        return False
    if stat.S_ISDIR(st.st_mode):
        return entry.kind == DIR and entry.mode == mode
    if stat.S_ISLNK(st.st_mode):
        return entry.kind == SYMLINK and os.readlink(name, dir_fd=dir_fd) == entry.target
    if not stat.S_ISREG(st.st_mode):  # a fifo, socket or device: no version holds one
        return False
    if entry.kind != FILE or entry.mode != mode or entry.size != st.st_size:
        return False
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except FileNotFoundError:  # gone meanwhile: changed, to be safe
        return False
    try:
        digest = placeholder_digest(fd)  # a placeholder's content is its digest: not read
        if digest is not None:
            return digest == entry.digest
        return holds(fd, entry.digest, store.file_chunks(entry))
    finally:
        os.close(fd)


def few(paths: list[str]) -> str:
    """The first paths, then how many more: a refusal stays one line."""
    shown = ", ".join(paths[:SHOWN_CHANGES])
    rest = len(paths) - SHOWN_CHANGES
    return f"{shown} and {rest} more" if rest > 0 else shown


def refuse_changes(staging: Staging, then: str = "") -> None:
    """Conflict, naming the changed paths, if the staging holds uncommitted changes."""
    changed = changed_paths(staging)
    if changed:
        raise Conflict(
            f"staging {staging.name!r} has uncommitted changes ({few(changed)}); "
            f"commit them with 'artfs commit {staging.name}', or discard them with "
            f"'artfs unstage {staging.name} --force'{then}"
        )


def discard(staging: Staging, *, force: bool = False, then: str = "") -> None:
    """Remove a staging; refused while it holds uncommitted changes, unless ``force``."""
    if not staging.exists():
        raise NotFound(f"no staging named {staging.name!r}; 'artfs stage {staging.name}' makes one")
    if not force:
        refuse_changes(staging, then)
    staging.remove()


def restage(staging: Staging, base: Version | None) -> bool:
    """Make the staging show ``base`` (None: empty), replacing an existing staging that
    holds no uncommitted changes (nothing is lost: its content is its base version's).
    Returns whether one was replaced."""
    replaced = staging.exists()
    if replaced:
        discard(staging, then=" first")
    staging.create(base)
    return replaced
