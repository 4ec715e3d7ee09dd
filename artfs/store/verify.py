"""Checking a store: its metadata's invariants, then every chunk of the selected versions.

Damage is reported per file and version, since that is what a user can act
on ("re-add train.csv to my-dataset"), not per chunk; damage to the metadata
itself (a record that cannot be read, a missing tree, an index entry that
disagrees) is reported by what it belongs to (check.py).

Every chunk is read and hashed once, however many files share it.  A file of
several chunks is named by its chunk list (format 7): its digest is checked against
the list, and each chunk against its own.  One committed before format 7 is named
by BLAKE3 of its bytes, so it is also hashed whole, from the same reads (a crash
once recorded a file's full digest with size 0; only the whole content shows such a
lie), and so is any whose list does not hash to its name.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import blake3

from artfs.errors import ArtfsError
from artfs.store import meta
from artfs.store.check import Checker, FileUse, chunk_file_problem
from artfs.store.store import Store, Version


@dataclass
class Damage:
    version: str
    path: str
    problem: str


@dataclass
class VerifyReport:
    versions: int = 0
    files: int = 0
    chunks: int = 0
    bytes: int = 0
    damage: list[Damage] = field(default_factory=list)


def verify(
    store: Store,
    versions: list[Version],
    progress: Callable[[int], None] = lambda n: None,
    *,
    whole: bool = False,
) -> VerifyReport:
    """Check ``versions``; with ``whole``, also every index entry of the store."""
    report = VerifyReport(versions=len(versions))

    def add(version: str, path: str, problem: str) -> None:
        report.damage.append(Damage(version, path, problem))

    with store.objects.transaction() as txn:
        checker = Checker(store, txn, add)
        uses = [use for version in versions for use in checker.version(version)]
        if whole:
            checker.indexes(versions)
    report.files = checker.files
    _Bytes(store, uses, checker.stored, report, progress).check()
    return report


class _Bytes:
    """Reading back the chunks of the files that passed the metadata checks."""

    def __init__(
        self,
        store: Store,
        uses: list[FileUse],
        stored: dict[bytes, int],
        report: VerifyReport,
        progress,
    ):
        self.store, self.report, self.progress = store, report, progress
        self.stored = stored  # chunk -> size of its file, as the index says
        self.users: dict[bytes, list[tuple[str, str]]] = {}  # chunk -> (version, path)
        self.sizes: dict[bytes, int] = {}
        self.whole: dict[bytes, FileUse] = {}  # files to hash whole, by digest
        self.whole_users: dict[bytes, list[tuple[str, str]]] = {}
        for use in uses:
            for digest, size in use.chunks:
                self.users.setdefault(digest, []).append((use.version, use.path))
                self.sizes[digest] = size
            if len(use.chunks) > 1 and not meta.named_by_chunks(use.entry.digest, use.chunks):
                self.whole.setdefault(use.entry.digest, use)
                self.whole_users.setdefault(use.entry.digest, []).append((use.version, use.path))

    def check(self) -> None:
        problems: dict[bytes, str] = {}
        checked: set[bytes] = set()
        with ThreadPoolExecutor(2, "artfs-verify") as pool:
            # Files of several chunks first: their reads check the chunks too.
            for digest, (found, wrong, seen) in zip(
                self.whole, pool.map(self._whole_file, self.whole.values()), strict=True
            ):
                problems.update(found)
                self._count(seen - checked)
                checked |= seen
                if wrong:
                    self._damage(self.whole_users[digest], wrong)
            rest = [d for d in self.users if d not in checked]
            for digest, problem in zip(rest, pool.map(self._chunk, rest), strict=True):
                self._count({digest})
                if problem:
                    problems[digest] = problem
        for digest, problem in problems.items():
            self._damage(self.users[digest], problem)

    def _count(self, digests: set[bytes]) -> None:
        for digest in digests:
            self.report.chunks += 1
            self.report.bytes += self.sizes[digest]
            self.progress(self.sizes[digest])

    def _damage(self, users: list[tuple[str, str]], problem: str) -> None:
        self.report.damage += [Damage(v, p, problem) for v, p in users]

    def _chunk(self, digest: bytes) -> str | None:
        return self._read(digest)[1]

    def _read(self, digest: bytes) -> tuple[bytes | memoryview | None, str | None]:
        """A chunk's verified bytes, or the problem with it."""
        problem = chunk_file_problem(self.store, digest, self.stored[digest])
        if problem:
            return None, problem
        try:
            data = self.store.chunks.get(digest)
        except ArtfsError as e:
            return None, str(e)
        except OSError as e:
            return None, f"chunk {digest.hex()} cannot be read: {e.strerror}"
        if len(data) != self.sizes[digest]:
            return None, (
                f"chunk {digest.hex()} holds {len(data)} bytes, its file says {self.sizes[digest]}"
            )
        return data, None

    def _whole_file(self, use: FileUse) -> tuple[dict[bytes, str], str | None, set[bytes]]:
        """(problems of its chunks, problem of the whole, chunks read) of one file.  A run
        of one chunk (a hole's zeros) is read once and hashed into the whole each time."""
        whole = blake3.blake3(max_threads=blake3.blake3.AUTO)
        problems: dict[bytes, str] = {}
        last: tuple[bytes, bytes | memoryview] = (b"", b"")
        for digest, _ in use.chunks:
            if last[0] != digest:
                data, problem = self._read(digest)
                last = (digest, b"" if data is None else data)  # None only with a problem
                if problem:
                    problems[digest] = problem
            if not problems:
                whole.update(last[1])
        wrong = None
        if not problems and whole.digest() != use.entry.digest:
            wrong = "its content does not match its digest"
        return problems, wrong, {d for d, _ in use.chunks}
