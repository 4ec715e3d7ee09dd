"""In-memory backends: the reference implementation of backend.py's contract.

Unit tests use them to drive the store without a disk, and the contract suite runs
against them first, so a promise they keep and another backend breaks is that
backend's bug.  Everything is held under one lock per store: simple beats fast here.
"""

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from artfs.errors import NotFound, UsageError
from artfs.store.backend import ANY, Ref, _Any, area_of, check_expected


class MemoryObjects:
    """An ObjectStore in a dict.  Nothing is ever lost, so ``barrier`` has nothing to do."""

    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def has(self, key: str) -> bool:
        with self._lock:
            return key in self._objects

    def get(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        with self._lock:
            data = self._objects.get(key)
        if data is None:
            raise NotFound(
                f"object {key} is not in the store; it was never written or was collected"
            )
        end = len(data) if length is None else start + length
        return data[start:end]

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._objects[key] = bytes(data)  # a copy: the caller may reuse its buffer

    def delete(self, key: str) -> None:
        with self._lock:
            self._objects.pop(key, None)

    def list(self, prefix: str = "") -> Iterator[str]:
        with self._lock:
            keys = sorted(k for k in self._objects if k.startswith(prefix))
        yield from keys

    def barrier(self) -> None:
        pass


class MemoryRefs:
    """A TransactionalRefs in a dict.  Tags come from one counter, so every write makes a
    new tag (even of the same bytes: the strictest reading of the contract).  A
    transaction holds the lock throughout (a snapshot, and writers one at a time) and
    applies its staged changes at its end; the lock is reentrant, so the thread that
    holds a transaction may still read outside it."""

    def __init__(self) -> None:
        self._refs: dict[str, Ref] = {}
        self._lock = threading.RLock()
        self._tags = itertools.count(1)
        self._changes = 0
        self._areas: dict[str, int] = {}  # changes per area (backend.area_of)

    def get(self, key: str) -> Ref | None:
        with self._lock:
            return self._refs.get(key)

    def put(self, key: str, value: bytes, *, expect: str | None | _Any = ANY) -> str:
        with self._lock:
            check_expected(key, _tag(self._refs.get(key)), expect)
            tag = str(next(self._tags))
            self._refs[key] = Ref(bytes(value), tag)
            self._changed(key)
            return tag

    def delete(self, key: str) -> None:
        with self._lock:
            if self._refs.pop(key, None) is not None:
                self._changed(key)

    def _changed(self, key: str) -> None:
        self._changes += 1
        area = area_of(key)
        self._areas[area] = self._areas.get(area, 0) + 1

    def list(self, prefix: str = "") -> Iterator[tuple[str, str]]:
        with self._lock:
            items = sorted((k, r.tag) for k, r in self._refs.items() if k.startswith(prefix))
        yield from items

    def items(self, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        with self._lock:
            items = sorted((k, r.value) for k, r in self._refs.items() if k.startswith(prefix))
        yield from items

    def token(self) -> str:
        with self._lock:
            return str(self._changes)

    def tokens(self) -> dict[str, str]:
        with self._lock:
            return {area: str(n) for area, n in self._areas.items()}

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator["MemoryRefTxn"]:
        with self._lock:
            txn = MemoryRefTxn(self, write)
            yield txn  # an exception skips the apply: nothing staged is kept
            for key, ref in txn.staged.items():
                if ref is None:
                    if self._refs.pop(key, None) is not None:
                        self._changed(key)
                else:
                    self._refs[key] = ref
                    self._changed(key)


class MemoryRefTxn:
    """Changes staged over the committed dict, which the held lock keeps still."""

    def __init__(self, refs: MemoryRefs, write: bool) -> None:
        self._refs, self._write = refs, write
        self.staged: dict[str, Ref | None] = {}  # None: deleted

    def get(self, key: str) -> Ref | None:
        if key in self.staged:
            return self.staged[key]
        return self._refs._refs.get(key)

    def items(self, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        view: dict[str, Ref | None] = {
            k: r for k, r in self._refs._refs.items() if k.startswith(prefix)
        }
        view.update((k, r) for k, r in self.staged.items() if k.startswith(prefix))
        yield from sorted((k, r.value) for k, r in view.items() if r is not None)

    def _writable(self) -> None:
        if not self._write:
            raise UsageError("a read transaction cannot write references")

    def put(self, key: str, value: bytes, *, expect: str | None | _Any = ANY) -> str:
        self._writable()
        check_expected(key, _tag(self.get(key)), expect)
        ref = Ref(bytes(value), str(next(self._refs._tags)))
        self.staged[key] = ref
        return ref.tag

    def delete(self, key: str) -> None:
        self._writable()
        self.staged[key] = None


def _tag(ref: Ref | None) -> str | None:
    return None if ref is None else ref.tag
