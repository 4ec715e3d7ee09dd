"""Re-reading every chunk of the selected versions and checking its digest.

Damage is reported per file and version, since that is what a user can act
on ("re-add train.csv to my-dataset"), not per chunk.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from artfs.errors import ArtfsError
from artfs.store.store import Store, Version
from artfs.store.tree import FILE


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


def verify(store: Store, versions: list[Version],
           progress: Callable[[int], None] = lambda n: None) -> VerifyReport:
    report = VerifyReport(versions=len(versions))
    users: dict[bytes, list[tuple[str, str]]] = {}  # chunk -> (version, path) using it
    sizes: dict[bytes, int] = {}
    for version in versions:
        try:
            for path, entry, _ in store.walk_times(version):  # times checked too
                if entry.kind != FILE:
                    continue
                report.files += 1
                shown = path.decode(errors="replace")
                for digest, size in store.file_chunks(entry):
                    users.setdefault(digest, []).append((version.label, shown))
                    sizes[digest] = size
        except ArtfsError as e:
            report.damage.append(Damage(version.label, "", str(e)))
    with ThreadPoolExecutor(2, "artfs-verify") as pool:
        for digest, problem in zip(users, pool.map(lambda d: _check(store, d), users), strict=True):
            report.chunks += 1
            report.bytes += sizes[digest]
            progress(sizes[digest])
            if problem:
                report.damage += [Damage(v, p, problem) for v, p in users[digest]]
    return report


def _check(store: Store, digest: bytes) -> str | None:
    try:
        store.chunks.get(digest)
    except ArtfsError as e:
        return str(e)
    except OSError as e:
        return f"chunk {digest.hex()} cannot be read: {e.strerror}"
    return None
