"""The backends the contract suite (test_backends.py) runs against, by name.

A backend is registered as a factory: given the test's pytest request and a fresh
directory, a context manager that yields a ``Backend`` and cleans up after it.  To add
one without touching this file or the suite, write a module ``tests/backends_*.py``
that calls ``register``: ``load_all`` imports every such module before the suite is
parametrized.  A server shared by the whole session (moto) can be started on first use
and stopped by ``request.config.add_cleanup``.
"""

import importlib
import pathlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import pytest

from artfs.store.backend import ObjectStore, RefStore
from artfs.store.local import LocalObjects, LocalRefs
from artfs.store.memory import MemoryObjects, MemoryRefs
from artfs.store.store import Store


@dataclass
class Backend:
    objects: ObjectStore
    refs: RefStore
    # A second handle on the same storage, as another process would open it: what one
    # writes, the other must see (after a barrier, for objects).
    reopen: Callable[[], "Backend"]


Factory = Callable[[pytest.FixtureRequest, pathlib.Path], AbstractContextManager[Backend]]
BACKENDS: dict[str, Factory] = {}
FAST: set[str] = set()  # backends in this process, with no server: the fast test tier
TRANSACTIONAL: set[str] = set()  # backends whose references have multi-key transactions


def register(
    name: str, factory: Factory, *, fast: bool = False, transactional: bool = False
) -> None:
    """``fast``: the backend lives in this process (no server, no subprocess), so the
    suite's tests of it are marked ``fast``; ``transactional``: its references are a
    TransactionalRefs (S3's are not: backend.py says why)."""
    BACKENDS[name] = factory
    if fast:
        FAST.add(name)
    if transactional:
        TRANSACTIONAL.add(name)


def load_all() -> list[str]:
    """Import every ``tests/backends_*.py`` (each registers its backends); the names."""
    for path in sorted(pathlib.Path(__file__).parent.glob("backends_*.py")):
        importlib.import_module(f"tests.{path.stem}")
    return sorted(BACKENDS)


def params(transactional: bool = False) -> list:
    """Every backend's name (``transactional``: of those with reference transactions) as
    a fixture parameter, marked ``fast`` where it is."""
    return [
        pytest.param(name, marks=[pytest.mark.fast] if name in FAST else [])
        for name in load_all()
        if name in TRANSACTIONAL or not transactional
    ]


@contextmanager
def memory_backend(request, tmp_path) -> Iterator[Backend]:
    objects, refs = MemoryObjects(), MemoryRefs()

    def reopen() -> Backend:
        return Backend(objects, refs, reopen)

    yield reopen()


@contextmanager
def local_backend(request, tmp_path) -> Iterator[Backend]:
    """A real store directory, made by today's code (format marker, every database).
    LMDB allows one environment per process, so a reopened backend shares it, as two
    threads of one process would; other processes are tested in test_backends.py."""
    path = str(tmp_path / "store")
    store = Store.open(path)

    def reopen() -> Backend:
        return Backend(LocalObjects(path, store.meta), LocalRefs(path, store.meta), reopen)

    yield reopen()  # the conftest's closes_stores closes the store after the test


register("memory", memory_backend, fast=True, transactional=True)
register("local", local_backend, fast=True, transactional=True)
