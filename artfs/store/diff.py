"""Differences between two versions, skipping every subtree they share."""

from dataclasses import dataclass

from artfs.store import meta
from artfs.store.store import Store
from artfs.store.tree import DIR, FILE, Entry


@dataclass
class Change:
    status: str  # "added", "removed" or "modified"
    raw: bytes  # the path's exact bytes, to look it up or link to it
    old_size: int | None
    new_size: int | None

    @property
    def path(self) -> str:
        """The path as text: bytes that are not UTF-8 as \\xNN escapes."""
        return self.raw.decode("utf-8", "backslashreplace")

    def public(self) -> dict:
        """The change as JSON carries it (the path as text)."""
        return {
            "status": self.status,
            "path": self.path,
            "old_size": self.old_size,
            "new_size": self.new_size,
        }


def diff(store: Store, old_root: bytes, new_root: bytes) -> list[Change]:
    changes: list[Change] = []
    _diff_trees(store, old_root, new_root, b"", changes)
    return changes


def _diff_trees(
    store: Store, old: bytes | None, new: bytes | None, prefix: bytes, out: list[Change]
) -> None:
    if old == new:
        return  # Merkle: equal digests, equal subtrees
    before = {e.name: e for e in store.tree(old)} if old else {}
    after = {e.name: e for e in store.tree(new)} if new else {}
    for name in sorted(before.keys() | after.keys()):
        a, b = before.get(name), after.get(name)
        path = prefix + name
        a_tree = a.digest if a is not None and a.kind == DIR else None
        b_tree = b.digest if b is not None and b.kind == DIR else None
        if a_tree is not None or b_tree is not None:
            _diff_trees(store, a_tree, b_tree, path + b"/", out)
            a, b = (None if a_tree is not None else a), (None if b_tree is not None else b)
        _diff_leaf(store, a, b, path, out)


def _diff_leaf(
    store: Store, a: Entry | None, b: Entry | None, path: bytes, out: list[Change]
) -> None:
    if a is None:
        if b is not None:
            out.append(Change("added", path, None, b.size))
    elif b is None:
        out.append(Change("removed", path, a.size, None))
    elif a != b and not _named_twice(store, a, b):
        out.append(Change("modified", path, a.size, b.size))


def _named_twice(store: Store, a: Entry, b: Entry) -> bool:
    """The same content under two digests: a file of several chunks committed before
    format 7 (named by its bytes) and again since (named by its chunk list)."""
    return (
        a.kind == b.kind == FILE
        and a.size >= meta.ONE_CHUNK_BELOW
        and a._replace(digest=b.digest) == b
        and store.file_chunks(a) == store.file_chunks(b)
    )
