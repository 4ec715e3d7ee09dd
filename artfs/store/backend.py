"""The two kinds of storage a store is made of, as the interfaces a backend implements.

A store keeps immutable content-addressed objects (chunks, trees, attribute
objects, chunk lists, packs and their indexes) and a few small mutable
references (version records, aliases, an artifact's next version number, run
records).  Objects never change once written, so any object store can hold
them, caches can keep them for ever and a fetch can be checked against its
name.  References change, so every change is conditional: a writer says which
state it read (a tag) and the write happens only if nobody changed it since.
That is what lets many machines share one S3 bucket without a lock server:
S3's conditional writes (``If-None-Match: *`` to create, ``If-Match: ETAG`` to
replace) are exactly ``RefStore.put``'s ``expect``.  Deletes are unconditional.

Backends: a local directory with LMDB (the embedded store), S3-compatible
object storage, and an in-memory one for unit tests.  One contract test suite
(tests/test_backends.py) runs against every backend.  Compression and digest
checks are not a backend's business: they wrap any ObjectStore as one layer.

Keys are ``/``-separated ASCII paths (``chunks/<64 hex>``, ``refs/versions/NAME/7``);
each backend maps them to its own layout.  The local store's keys are built by the
typed functions of keys.py, never spelled out by the modules that use them.

The local store also changes several references at once (a commit writes the
artifact's next version number, the version record, its aliases and the run's output
edge together): ``TransactionalRefs.transaction`` gives it a ``RefTxn`` in which
those changes are all made or none.  The local and in-memory backends implement it;
S3 does not (it has no multi-key atomicity), and the remote layer needs none: there a
create-only claim of the version record is the commit point and aliases move by
compare-and-swap (remote.py).
"""

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from artfs.errors import Conflict


class RefConflict(Conflict):
    """A conditional reference write lost: the reference is not in the state the writer
    read (someone else created, replaced or deleted it first).  Read it again and retry."""


class _Any:
    def __repr__(self) -> str:
        return "ANY"


ANY = _Any()  # ``expect=ANY``: write whatever the reference holds now (unconditional)


@dataclass(frozen=True)
class Ref:
    """A reference's value and its tag: an opaque string that changes whenever the value
    changes (S3's ETag, the local store's BLAKE3 of the value, the in-memory store's
    counter).  Rewriting the same bytes may keep the tag (an ETag of a plain PUT is the
    bytes' MD5): a tag says which value a writer read, not how many writes happened."""

    value: bytes
    tag: str


class ObjectStore(Protocol):
    """Immutable objects by key.  Writing a key again with the same bytes is a no-op;
    writing it with other bytes is a caller's bug the backend need not detect."""

    def has(self, key: str) -> bool: ...

    def get(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        """The object's bytes, or ``length`` bytes of it from ``start`` (fewer at its
        end).  A missing key raises ``artfs.errors.NotFound``."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Store atomically: a reader sees the whole object or none of it.  This store
        object reads it back at once; other processes may see it only after ``barrier``
        (the local store batches its LMDB objects into one transaction there)."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing one is not an error."""
        ...

    def list(self, prefix: str = "") -> Iterator[str]:
        """Every key starting with ``prefix``, in lexicographic order."""
        ...

    def barrier(self) -> None:
        """Return once every ``put`` and ``delete`` that returned before this call is
        durable and visible to every process.  Publish a reference to objects only after."""
        ...


class RefStore(Protocol):
    """Small mutable references by key, each write conditional on what the writer read."""

    def get(self, key: str) -> Ref | None: ...

    def put(self, key: str, value: bytes, *, expect: "str | None | _Any" = ANY) -> str:
        """Write ``value`` and return its new tag.  ``expect=None``: only if the key is
        absent; ``expect=TAG``: only if its tag is still TAG; ``ANY``: unconditionally.
        A failed condition raises RefConflict and changes nothing.  Durable on return."""
        ...

    def delete(self, key: str) -> None:
        """Remove the key, unconditionally; a missing key is not an error.

        There is no delete-if-unchanged: Ceph RGW 16 ignores If-Match on DELETE (it deletes
        whatever the tag), and nothing needs one.  A reference that must go only if nobody
        changed it is replaced by compare-and-swap with a value that says it is gone
        instead (a removed version's tombstone, the gc lease's release), which every
        server that artfs accepts enforces."""
        ...

    def list(self, prefix: str = "") -> Iterator[tuple[str, str]]:
        """(key, tag) of every reference starting with ``prefix``, in key order."""
        ...

    def items(self, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        """(key, value) of every reference starting with ``prefix``, in key order: a
        listing that needs the values, without a request per key where the backend can
        avoid one (the local store reads them in one pass; S3 lists, then gets each).
        A backend whose stored key cannot be read back as a key (the local store's
        damaged LMDB keys) yields it as a ``DamagedKey``, so a listing can report it
        and go on: a caller that parses keys checks for one first."""
        ...

    def token(self) -> str:
        """A cheap value that differs after any reference changed: a reader (the mount)
        compares tokens to know whether to look again.  It may also change when nothing
        did, never the other way.  Take it *before* reading what it guards: a change made
        between the reads then shows as a new token next time."""
        ...

    def tokens(self) -> dict[str, str]:
        """``token`` per area of the key space: {area: token}, where an area is a key
        prefix (``area_of``) and its token changes whenever a reference in it changes.
        A reader that compares them lists only the areas that changed.  A backend may
        make its areas coarser (the local store has one, ``refs/``), never finer."""
        ...


AREA_CHARS = 2  # of the name after the table: areas enough to narrow, few enough to list


def area_of(key: str) -> str:
    """The area of a reference key, for change tokens: its table and the first
    AREA_CHARS characters after it (``refs/versions/ds/7`` is in ``refs/versions/ds``,
    ``refs/runs/3f9ac1`` in ``refs/runs/3f``).  An area is a prefix of its keys, so a
    reader lists a changed area as one; names that share their first characters share
    an area, which makes a reader's listing longer, never misses a change.  Per name it
    would be exact, but a store of 10,000 runs would then have 10,000 tokens to list."""
    table, _, rest = key.removeprefix("refs/").partition("/")
    return f"refs/{table}/{rest[:AREA_CHARS]}".rstrip("/")  # no empty path segment on S3


class DamagedKey(str):
    """A stored key that names no reference: ``raw`` is the backend's own key (bytes),
    ``problem`` what is wrong with it (the CorruptData message).  As a string it is
    the prefix the listing was asked for, or the table's (``refs/versions/``,
    ``trees/``) where that is longer: it starts with the prefix and names the table."""

    raw: bytes
    problem: str

    def __new__(cls, text: str, raw: bytes, problem: str) -> "DamagedKey":
        made = super().__new__(cls, text)
        made.raw, made.problem = raw, problem
        return made


class RefTxn(Protocol):
    """Several reference reads and writes as one: a read transaction is a consistent
    snapshot; a write transaction's changes become visible, and durable, together when
    it ends without an exception, and none of them do otherwise.  Inside it, reads see
    its own writes.  A failed condition raises RefConflict at the ``put``; let it
    propagate (or raise anything) out of the ``with`` and nothing of the transaction
    is written."""

    def get(self, key: str) -> Ref | None: ...

    def items(self, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        """As ``RefStore.items``, in this transaction's view."""
        ...

    def put(self, key: str, value: bytes, *, expect: "str | None | _Any" = ANY) -> str:
        """As ``RefStore.put``, checked against this transaction's view."""
        ...

    def delete(self, key: str) -> None: ...


class TransactionalRefs(RefStore, Protocol):
    """A RefStore that can also change several references atomically."""

    def transaction(self, write: bool = False) -> AbstractContextManager[RefTxn]:
        """A read (snapshot) or write transaction; write transactions are serialised."""
        ...


def check_expected(key: str, current: str | None, expect: "str | None | _Any") -> None:
    """RefConflict unless a reference whose tag is ``current`` (None: absent) is in the
    state ``expect`` names: the one rule of every backend's conditional writes."""
    if expect is ANY:
        return
    if expect is None:
        if current is not None:
            raise RefConflict(
                f"reference {key} exists already: another writer created it "
                "first; read it again and retry"
            )
    elif current != expect:
        what = "was deleted" if current is None else "changed"
        raise RefConflict(
            f"reference {key} {what} since it was read: another writer was "
            "first; read it again and retry"
        )
