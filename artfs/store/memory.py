"""In-memory backends: the reference implementation of backend.py's contract.

Unit tests use them to drive the store without a disk, and the contract suite runs
against them first, so a promise they keep and another backend breaks is that
backend's bug.  Everything is held under one lock per store: simple beats fast here.
"""

import itertools
import threading
from collections.abc import Iterator

from artfs.errors import NotFound
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
    """A RefStore in a dict.  Tags come from one counter, so every write makes a new tag
    (even of the same bytes: the strictest reading of the contract)."""

    def __init__(self) -> None:
        self._refs: dict[str, Ref] = {}
        self._lock = threading.Lock()
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

    def token(self) -> str:
        with self._lock:
            return str(self._changes)

    def tokens(self) -> dict[str, str]:
        with self._lock:
            return {area: str(n) for area, n in self._areas.items()}


def _tag(ref: Ref | None) -> str | None:
    return None if ref is None else ref.tag
