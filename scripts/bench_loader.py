"""The data-loader workload of scripts/bench_mount.py (issue 13): epochs of small files.

Training code opens tens of thousands of small files (images, clips) in a shuffled
order from several worker threads or processes, epoch after epoch.  Measured on a
data set of incompressible files, lognormal sizes around 64 KiB clipped to
2 KiB-1 MiB (as image datasets have), in 100 class directories, every file read
whole once per epoch:

* for artfs (lineage recording on, as by default), memfs (the same bytes from RAM
  through the same pyfuse3 + trio stack, mounted read-only), memfs mounted
  read-write as artfs must be for its staging (the kernel then drops a file's atime
  after each read, and the next epoch's fstat of it costs a GETATTR round trip: a
  floor for artfs's later epochs, shown for information) and the native directory;
* with 1, 4 and 8 readers, as threads of one process and, separately, as worker
  processes (forked before the clock starts, each reading every n-th file of the
  shuffled order, as a DataLoader's workers do);
* the first epoch right after drop_caches (artfs: on a fresh mount), the second
  on the same mount in a new order (the kernel's page cache kept);
* the cost of reopening a 1 GiB shard (open, read 4 KiB, close) against reopening a
  small file: it must not grow with the shard's chunks.

After every artfs mount the store must hold, as the reading run's input, every
file once with its whole size: the lineage record the epochs made.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchlib import artfs, cpu_seconds, mark_ready, print_table, reusable, run_steps

MIB, GIB, KIB = 1 << 20, 1 << 30, 1 << 10
READERS = (1, 4, 8)
MODES = ("threads", "processes")
KINDS = ("artfs", "memfs", "native", "memfs-rw")
SHOWN = KINDS[:3]  # the goals' references; memfs-rw is information
REOPENS = 300  # opens of one file per reopen measurement (median of per-open times)
REOPEN_READ = 4 * KIB

GOAL_FIRST_MEMFS = 0.8  # first epoch (1 and 4 readers) >= 0.8 x memfs
GOAL_FIRST_NATIVE = 0.6  # first epoch, 4 readers >= 0.6 x native ext4 cold
GOAL_SECOND = 0.9  # second epoch (1 and 4 readers) >= 0.9 x memfs
GOAL_SCALING = 0.8  # artfs's speed-up from 1 to 4 readers >= 0.8 x memfs's
GOAL_REOPEN = 1.3  # reopening the 1 GiB shard <= 1.3 x reopening a small file


@dataclass(frozen=True)
class LoaderSpec:
    """What the loader's data set holds; recorded in a reuse marker."""

    files: int
    dirs: int = 100
    shard_size: int = GIB
    seed: int = 13
    version: int = 1

    def sizes(self) -> list[int]:
        """Lognormal around 64 KiB (median 48 KiB, mean about 64 KiB), in 2 KiB-1 MiB."""
        rng = random.Random(self.seed)
        return [
            min(max(int(rng.lognormvariate(math.log(48 * KIB), 0.8)), 2 * KIB), MIB)
            for _ in range(self.files)
        ]

    def names(self) -> list[str]:
        """Each file's path under the data set's root, class directories round robin."""
        return [f"class_{i % self.dirs:03d}/img_{i:06d}.bin" for i in range(self.files)]


def prepare(workdir: Path, spec: LoaderSpec) -> None:
    """data/files and data/shard.bin (served by memfs, read natively) and the store
    (served by artfs), unless made already for this spec."""
    if reusable(workdir, asdict(spec), "the loader's data and store"):
        return
    data, store = workdir / "data", workdir / "store"
    data.mkdir(parents=True)
    run_steps(
        [
            ("loader files", lambda: write_files(data / "files", spec)),
            ("shard.bin", lambda: write_shard(data / "shard.bin", spec)),
            ("put files", lambda: artfs(store, "put", str(data / "files"), "--name", "files")),
            ("put shard", lambda: artfs(store, "put", str(data / "shard.bin"), "--name", "shard")),
        ]
    )
    mark_ready(workdir, asdict(spec))


def write_files(root: Path, spec: LoaderSpec) -> None:
    rng = random.Random(spec.seed + 1)
    for name, size in zip(spec.names(), spec.sizes(), strict=True):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))


def write_shard(path: Path, spec: LoaderSpec) -> None:
    """Incompressible, so that every ~1 MiB chunk is its own."""
    rng = random.Random(spec.seed + 2)
    with path.open("wb") as out:
        for _ in range(spec.shard_size // (8 * MIB)):
            out.write(rng.randbytes(8 * MIB))
        out.write(rng.randbytes(spec.shard_size % (8 * MIB)))


# --- readers ---------------------------------------------------------------------------


def read_whole(path: str, size: int) -> int:
    """What a data loader does with one sample: open, read it all, close."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) != size:
        raise RuntimeError(f"read {len(data)} bytes of {path}, expected {size}")
    return size


def read_share(work: list[tuple[str, int]]) -> int:
    return sum(read_whole(path, size) for path, size in work)


def epoch_order(root: Path, spec: LoaderSpec, epoch: int) -> list[tuple[str, int]]:
    """Every (path, size) of the data set, shuffled anew for each epoch."""
    work = [(str(root / n), s) for n, s in zip(spec.names(), spec.sizes(), strict=True)]
    random.Random(spec.seed * 1000 + epoch).shuffle(work)
    return work


class Readers:
    """n readers, made before any epoch is timed (a DataLoader's persistent workers)."""

    def __init__(self, mode: str, n: int):
        self.mode, self.n = mode, n
        if mode == "threads":
            self._threads = ThreadPoolExecutor(n)
        else:
            self._pool = multiprocessing.get_context("fork").Pool(n)

    def epoch(self, work: list[tuple[str, int]]) -> float:
        """Seconds to read every file of ``work`` once."""
        started = time.perf_counter()
        if self.mode == "threads":
            self._threads_epoch(work)
        else:
            # worker i reads samples i, i+n, ...: a DataLoader's round-robin of indices
            self._pool.map(read_share, [work[i :: self.n] for i in range(self.n)], chunksize=1)
        return time.perf_counter() - started

    def _threads_epoch(self, work: list[tuple[str, int]]) -> None:
        """Each thread takes the next file of the shared order (a lock: no file twice)."""
        lock, items = threading.Lock(), iter(work)

        def take() -> None:
            while True:
                with lock:
                    item = next(items, None)
                if item is None:
                    return
                read_whole(*item)

        for future in [self._threads.submit(take) for _ in range(self.n)]:
            future.result()

    def close(self) -> None:
        if self.mode == "threads":
            self._threads.shutdown()
        else:
            self._pool.close()
            self._pool.join()


def reopen_seconds(path: str) -> float:
    """Median seconds per open + 4 KiB read + close of one file, after a first one."""
    times = []
    for _ in range(REOPENS + 1):
        started = time.perf_counter()
        fd = os.open(path, os.O_RDONLY)
        try:
            os.read(fd, REOPEN_READ)
        finally:
            os.close(fd)
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


# --- measuring -------------------------------------------------------------------------


@dataclass
class LoaderResults:
    # (kind, mode, readers, epoch 1|2) -> seconds of each repetition
    seconds: dict[tuple[str, str, int, int], list[float]] = field(default_factory=dict)
    cpu: dict[tuple[str, str, int, int], list[float]] = field(default_factory=dict)
    # kind -> (shard reopen seconds, small file reopen seconds) of each repetition
    reopen: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    recorded: list[tuple[int, int]] = field(default_factory=list)  # (files, bytes) per mount
    lineage_off: list[float] = field(default_factory=list)  # first epoch, 4 threads
    dropped: bool = False

    def add(self, key: tuple[str, str, int, int], seconds: float, cpu: float) -> None:
        self.seconds.setdefault(key, []).append(seconds)
        self.cpu.setdefault(key, []).append(cpu)


# mounted(kind, workdir, lineage=...) -> a context manager of a Mount (bench_mount's)
Mounter = Callable[..., contextlib.AbstractContextManager]


def measure(
    workdir: Path,
    spec: LoaderSpec,
    repeat: int,
    mounted: Mounter,
    drop_caches: Callable[[], bool],
    readers: tuple[int, ...] = READERS,
) -> LoaderResults:
    res = LoaderResults()
    for _ in range(repeat):
        for mode in MODES:
            for n in readers:
                for kind in KINDS:
                    _two_epochs(res, kind, mode, n, workdir, spec, mounted, drop_caches)
        for kind in SHOWN:
            with _root(kind, workdir, mounted) as (root, _):
                res.reopen.setdefault(kind, []).append(_reopens(root, spec))
        with mounted("artfs", workdir, lineage=False) as m:
            res.dropped = drop_caches()
            with _closing(Readers("threads", 4)) as r:
                res.lineage_off.append(r.epoch(epoch_order(m.path("files"), spec, 1)))
    return res


def _two_epochs(res, kind, mode, n, workdir, spec, mounted, drop_caches) -> None:
    before = _run_ids(workdir / "store") if kind == "artfs" else set()
    with _root(kind, workdir, mounted) as (root, pid), _closing(Readers(mode, n)) as r:
        res.dropped = drop_caches()
        for epoch in (1, 2):
            cpu = cpu_seconds(pid) if pid else 0.0
            seconds = r.epoch(epoch_order(root, spec, epoch))
            res.add((kind, mode, n, epoch), seconds, (cpu_seconds(pid) - cpu) if pid else 0.0)
    if kind == "artfs":  # the daemon is gone: everything it recorded is stored
        res.recorded.append(recorded(workdir / "store", "files", before))


@contextlib.contextmanager
def _root(kind: str, workdir: Path, mounted: Mounter) -> Iterator[tuple[Path, int | None]]:
    """Where the data set's files are for kind, and the serving daemon's pid."""
    if kind == "native":
        yield workdir / "data" / "files", None
        return
    with mounted(kind, workdir) as m:
        yield m.path("files"), m.pid


@contextlib.contextmanager
def _closing(readers: Readers) -> Iterator[Readers]:
    try:
        yield readers
    finally:
        readers.close()


def _reopens(files: Path, spec: LoaderSpec) -> tuple[float, float]:
    shard = files.parent.parent / "shard" / "v0" / "shard.bin"
    if not shard.exists():  # memfs and native: next to the files directory
        shard = files.parent / "shard.bin"
    small = files / spec.names()[0]
    return reopen_seconds(str(shard)), reopen_seconds(str(small))


def _run_ids(store: Path) -> set[str]:
    return {r["id"] for r in json.loads(artfs(store, "runs", "ls", "--all", "--json").stdout)}


def recorded(store: Path, artifact: str, since: set[str]) -> tuple[int, int]:
    """(files, bytes) of ``artifact:v0`` that runs started after ``since`` read."""
    files, total = 0, 0
    for run_id in _run_ids(store) - since:
        shown = json.loads(artfs(store, "runs", "show", run_id, "--json").stdout)
        for edge in shown["inputs"]:
            if edge["version"] == f"{artifact}:v0":
                files += len(edge["files"])
                total += sum(edge["files"].values())
    return files, total


# --- report ----------------------------------------------------------------------------


def verdict(ok: bool | None) -> str:
    return "" if ok is None else "PASS" if ok else "FAIL"


def report(res: LoaderResults, spec: LoaderSpec, repeat: int) -> bool:
    """Print the tables; → whether every goal passed."""
    total = sum(spec.sizes())

    def rate(kind: str, mode: str, n: int, epoch: int) -> float:
        return spec.files / statistics.median(res.seconds[(kind, mode, n, epoch)])

    readers = sorted({key[2] for key in res.seconds})
    print(
        f"\ndata loader: {spec.files} files, {total / MIB:.0f} MiB (2 KiB-1 MiB, lognormal "
        f"around 64 KiB), files/s, median of {repeat}; first epoch "
        f"{'after drop_caches' if res.dropped else 'without drop_caches (not root)'}, "
        "artfs on a fresh mount, lineage on"
    )
    rows = []
    for mode in MODES:
        for epoch in (1, 2):
            for n in readers:
                a, m, nat, rw = (rate(k, mode, n, epoch) for k in KINDS)
                cpu = {
                    k: statistics.median(res.cpu[(k, mode, n, epoch)]) * 1e6 / spec.files
                    for k in ("artfs", "memfs")
                }
                rows.append(
                    [
                        f"{mode}, epoch {epoch}, {n} reader{'s' if n > 1 else ''}",
                        f"{a:,.0f}",
                        f"{m:,.0f}",
                        f"{nat:,.0f}",
                        f"{a / m:.2f}",
                        f"{a / nat:.2f}",
                        f"{rw:,.0f}",
                        f"{a / rw:.2f}",
                        f"{cpu['artfs']:.0f} / {cpu['memfs']:.0f}",
                    ]
                )
    print_table(
        [
            "workload",
            "artfs",
            "memfs",
            "native",
            "/memfs",
            "/native",
            "memfs rw",
            "/memfs rw",
            "daemon CPU µs/file (artfs / memfs)",
        ],
        rows,
    )
    if {1, 4} <= set(readers):
        goals = _goals(res, spec, rate, readers)
        print("\ndata-loader goals (issue 13)")
        print_table(["goal", "measured", "result"], [[g, m, verdict(ok)] for g, m, ok in goals])
    else:
        goals = []
        print("\ndata-loader goals: not judged (they need 1 and 4 readers: --loader-readers)")
    print("every run, files/s (artfs | memfs | native | memfs rw), to judge the noise:")
    for key in sorted(res.seconds):
        if key[0] == "artfs":
            cells = [
                " ".join(f"{spec.files / s:,.0f}" for s in res.seconds[(k, *key[1:])])
                for k in KINDS
            ]
            print(f"  {key[1]}, epoch {key[3]}, {key[2]}: {' | '.join(cells)}")
    return all(ok is not False for _, _, ok in goals)


def _goals(res, spec, rate, readers) -> list[tuple[str, str, bool | None]]:
    goals = []
    for mode in MODES:
        for n in (1, 4):
            a, m = rate("artfs", mode, n, 1), rate("memfs", mode, n, 1)
            goals.append(
                (
                    f"first epoch, {n} {mode}: >= {GOAL_FIRST_MEMFS} x memfs",
                    f"{a / m:.2f}",
                    a >= GOAL_FIRST_MEMFS * m,
                )
            )
        a, nat = rate("artfs", mode, 4, 1), rate("native", mode, 4, 1)
        goals.append(
            (
                f"first epoch, 4 {mode}: >= {GOAL_FIRST_NATIVE} x native cold",
                f"{a / nat:.2f}",
                a >= GOAL_FIRST_NATIVE * nat,
            )
        )
        for n in (1, 4):
            a, m = rate("artfs", mode, n, 2), rate("memfs", mode, n, 2)
            goals.append(
                (
                    f"second epoch, {n} {mode}: >= {GOAL_SECOND} x memfs",
                    f"{a / m:.2f}",
                    a >= GOAL_SECOND * m,
                )
            )
        curve = " -> ".join(f"{rate('artfs', mode, n, 1):,.0f}" for n in readers)
        grow_a = rate("artfs", mode, 4, 1) / rate("artfs", mode, 1, 1)
        grow_m = rate("memfs", mode, 4, 1) / rate("memfs", mode, 1, 1)
        top = max(rate("artfs", mode, n, 1) for n in readers)
        goals.append(
            (
                f"first epoch grows with {mode}: 1->4 >= {GOAL_SCALING} x memfs's gain, "
                "8 >= 0.9 x best",
                f"{curve} files/s; x{grow_a:.2f} vs memfs x{grow_m:.2f}",
                grow_a >= GOAL_SCALING * grow_m
                and rate("artfs", mode, readers[-1], 1) >= 0.9 * top,
            )
        )
    for kind in SHOWN:
        shard = statistics.median(s for s, _ in res.reopen[kind])
        small = statistics.median(s for _, s in res.reopen[kind])
        ok = shard <= GOAL_REOPEN * small
        goals.append(
            (
                f"{kind}: reopen 1 GiB shard <= {GOAL_REOPEN} x a small file",
                f"{shard * 1e6:.0f} vs {small * 1e6:.0f} µs",
                ok if kind == "artfs" else None,
            )
        )
    total = sum(spec.sizes())
    wrong = [r for r in res.recorded if r != (spec.files, total)]
    goals.append(
        (
            "lineage: each artfs mount recorded every file once, whole",
            f"{len(res.recorded) - len(wrong)} of {len(res.recorded)} mounts "
            f"({spec.files} files, {total / MIB:.0f} MiB)"
            + (f"; got {wrong[0][0]} files, {wrong[0][1]} bytes" if wrong else ""),
            not wrong,
        )
    )
    on = statistics.median(res.seconds[("artfs", "threads", 4, 1)])
    off = statistics.median(res.lineage_off)
    goals.append(
        (
            "  info: first epoch, 4 threads, lineage on/off (the 5% goal: bench_lineage.py)",
            f"{off / on:.2f}",
            None,
        )
    )
    return goals
