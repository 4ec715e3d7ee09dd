"""Benchmark the artfs FUSE mount against memfs (scripts/memfs.py) and check the goals.

Not a test: it prints two tables.  memfs is the same pyfuse3 + trio stack
serving the same bytes from RAM, so the ratio artfs/memfs is what the store
(chunk lookup, reading, zstd, BLAKE3, caching) costs on top of FUSE itself.

Measured, each on a fresh mount (so neither the kernel's page cache of the
mount nor the daemon's chunk cache holds anything), after dropping the
kernel caches when permitted (root):

1. first sequential read of a 1 GiB file (half random, half CSV-like text),
   1 MiB read() calls;
2. second read of it, on the same mount (keep_cache: pages are kept), 3 times;
3. ``find -printf '%s %p'`` over a 20,000-file version (1-4 KiB, 200 dirs);
4. ``ls -l`` of one directory of 100,000 tiny files (with memfs answering getxattr
   too, as any file system with extended attributes must: the floor for ls -l);
5. the artfs daemon's peak RSS (VmHWM) while reading a 10 GiB artifact that
   compresses well but whose chunks are all different;
and the first read again with the mounts' read_ahead_kb raised to 4096, and
the store's own decoding of the 1 GiB file (read, zstd, BLAKE3 in the mount's
worker threads) with no FUSE at all: the ceiling of a first read.

and the data-loader workload of scripts/bench_loader.py (issue 13: epochs of
10,000 small files in shuffled order by 1, 4 and 8 threads or processes, against
memfs and the native directory; reopening a 1 GiB shard).

    python scripts/bench_mount.py [--workdir DIR] [--scale 0.05] [--repeat N]
        [--only mount|loader] [--loader-files N] [--loader-readers 1,4,8]

Data and the store are generated once per --scale under WORKDIR and reused
(the loader's under WORKDIR/loader, once per --loader-files).
Every mount is unmounted on the way out (fusermount3 -u, then -u -z).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import bench_loader
import trio
from bench_data import TextStream, write_mixed
from benchlib import (
    artfs,
    artfs_revision,
    cpu_seconds,
    force_unmount,
    print_table,
    run_steps,
    wait_exit,
)

from artfs.fs.reader import ChunkCache, FileReader
from artfs.store.store import Store

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MIB, GIB = 1 << 20, 1 << 30
BLOCK = 8 * MIB  # big.bin alternates random and text blocks of this size
HUGE_PERIOD = 64 * 1024  # huge.bin repeats one text block, each copy stamped with its offset
KINDS = ("artfs", "memfs")
READ_SIZE = MIB
SECOND_READS = 3
RAISED_READ_AHEAD_KB = 4096
MOUNT_TIMEOUT = 120
# Where the store's versions put what memfs serves as data/NAME.
ARTFS_PATHS = {
    "big.bin": "big/v0/big.bin",
    "tree": "tree/v0",
    "huge.bin": "huge/v0/huge.bin",
    "wide": "wide/v0",
    "files": "files/v0",  # the data loader's (WORKDIR/loader)
}

GOAL_FIRST = 0.50  # first read >= 50% of memfs
GOAL_SECOND = 0.90  # second read >= 90% of memfs's
GOAL_FIND = 1.5  # find takes at most 1.5x memfs's time
GOAL_LS_LONG = 2.0  # ls -l takes at most 2x memfs (issue 10), which answers no xattrs
GOAL_RSS = 150 * MIB


@dataclass(frozen=True)
class Spec:
    """What the data and the store hold for one --scale; recorded in a reuse marker."""

    big_size: int
    tree_files: int
    tree_dirs: int
    huge_size: int
    wide_files: int
    seed: int = 7
    version: int = 2

    @classmethod
    def for_scale(cls, scale: float) -> Spec:
        return cls(
            big_size=max(int(GIB * scale), 2 * BLOCK),
            tree_files=max(int(20_000 * scale), 1),
            tree_dirs=max(int(200 * scale), 1),
            huge_size=max(int(10 * GIB * scale), 16 * MIB),
            wide_files=max(int(100_000 * scale), 1),
        )


# --- data ------------------------------------------------------------------------------


def write_big(path: Path, spec: Spec) -> None:
    """Alternate blocks of random bytes and CSV-like text: half of each."""
    write_mixed(
        path, spec.big_size, random.Random(spec.seed), TextStream(spec.seed + 1).read, BLOCK
    )


def write_tree(root: Path, spec: Spec) -> None:
    """Files of 1-4 KiB, round-robin over the directories, half text, half random."""
    rng, text = random.Random(spec.seed + 2), TextStream(spec.seed + 3)
    dirs = [root / f"dir_{i:03d}" for i in range(spec.tree_dirs)]
    for directory in dirs:
        directory.mkdir(parents=True)
    for i in range(spec.tree_files):
        size, is_text = rng.randint(1024, 4096), rng.random() < 0.5
        data = text.read(size) if is_text else rng.randbytes(size)
        (dirs[i % spec.tree_dirs] / f"file_{i:05d}.{'csv' if is_text else 'bin'}").write_bytes(data)


def write_wide(root: Path, spec: Spec) -> None:
    """One directory of many tiny files: what ``ls -l`` of a big dataset lists."""
    root.mkdir(parents=True)
    for i in range(spec.wide_files):
        (root / f"f{i:06d}.txt").write_bytes(b"%d\n" % i)


def write_huge(path: Path, spec: Spec) -> None:
    """One 64 KiB text block over and over, each copy starting with its own offset.

    Every ~1 MiB chunk holds unique stamps, so no chunk deduplicates and each
    must be read, decompressed and verified, yet zstd shrinks the repeats to
    a few percent and the store stays small.
    """
    base = memoryview(TextStream(spec.seed + 4).read(HUGE_PERIOD))
    per_write = 64
    with path.open("wb") as out:
        offset = 0
        while offset < spec.huge_size:
            parts = []
            for k in range(per_write):
                stamp = b"%016x\n" % (offset + k * HUGE_PERIOD)
                parts += [stamp, base[len(stamp) :]]
            data = b"".join(parts)[: spec.huge_size - offset]
            out.write(data)
            offset += len(data)


def prepare(workdir: Path, spec: Spec) -> None:
    """Generate data/ (served by memfs) and the store (served by artfs), unless done."""
    marker = workdir / "ready.json"
    if marker.exists() and json.loads(marker.read_text()) == asdict(spec):
        print(f"reusing data and store in {workdir}", file=sys.stderr)
        return
    for name in ("data", "store", "huge.bin", "ready.json"):
        path = workdir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    need = spec.big_size * 2 + spec.huge_size * 1.2 + 256 * MIB
    free = shutil.disk_usage(workdir).free
    if free < need:
        raise SystemExit(
            f"{workdir} has {free / GIB:.1f} GiB free; this scale needs "
            f"about {need / GIB:.1f} GiB (use --scale or --workdir)"
        )
    data, store = workdir / "data", workdir / "store"
    (data / "tree").mkdir(parents=True)
    steps: list[tuple[str, Callable[[], None]]] = [
        ("big.bin", lambda: write_big(data / "big.bin", spec)),
        ("tree", lambda: write_tree(data / "tree", spec)),
        ("wide", lambda: write_wide(data / "wide", spec)),
        ("huge.bin", lambda: write_huge(workdir / "huge.bin", spec)),
        ("put big", lambda: artfs(store, "put", str(data / "big.bin"), "--name", "big")),
        ("put tree", lambda: artfs(store, "put", str(data / "tree"), "--name", "tree")),
        ("put wide", lambda: artfs(store, "put", str(data / "wide"), "--name", "wide")),
        ("put huge", lambda: artfs(store, "put", str(workdir / "huge.bin"), "--name", "huge")),
    ]
    run_steps(steps)
    (workdir / "huge.bin").unlink()  # only the store's copy is read
    marker.write_text(json.dumps(asdict(spec)))


# --- mounts ----------------------------------------------------------------------------


@dataclass
class Mount:
    kind: str  # "artfs" or "memfs"
    root: Path  # where the benchmark's files are: big.bin, tree/, huge.bin
    pid: int
    read_ahead_kb: int

    def path(self, name: str) -> Path:
        """Where the benchmark's big.bin, tree or huge.bin is in this mount."""
        if self.kind.startswith("memfs"):
            return self.root / name
        return self.root / "artifacts" / ARTFS_PATHS[name]

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def status(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(key)


def bdi_read_ahead(mountpoint: Path) -> Path:
    device = subprocess.run(
        ["mountpoint", "-d", str(mountpoint)], capture_output=True, text=True, check=True
    ).stdout.strip()
    return Path(f"/sys/class/bdi/{device}/read_ahead_kb")


@contextlib.contextmanager
def mounted(
    kind: str, workdir: Path, read_ahead_kb: int | None = None, lineage: bool = True
) -> Iterator[Mount]:
    """A fresh mount of kind, unmounted (and its daemon gone) when the block ends."""
    mountpoint = workdir / "mnt" / kind
    mountpoint.mkdir(parents=True, exist_ok=True)
    force_unmount(mountpoint)  # left over from an interrupted run
    proc, pid = None, None
    try:
        if kind == "artfs":
            artfs(
                workdir / "store",
                "mount",
                str(mountpoint),
                *([] if lineage else ["--no-lineage"]),
            )
            found = json.loads(artfs(workdir / "store", "status", "--json").stdout)
            pid = next(m["pid"] for m in found if Path(m["mountpoint"]) == mountpoint)
        else:
            flags = {"memfs-xattrs": ["--xattrs"], "memfs-rw": ["--rw"]}.get(kind, [])
            proc = subprocess.Popen(
                [
                    PYTHON,
                    str(REPO / "scripts" / "memfs.py"),
                    *flags,
                    str(workdir / "data"),
                    str(mountpoint),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            pid = proc.pid
            deadline = time.monotonic() + MOUNT_TIMEOUT
            while not os.path.ismount(mountpoint):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"memfs did not mount: {proc.stderr.read().decode()}")
                time.sleep(0.05)
        knob = bdi_read_ahead(mountpoint)
        if read_ahead_kb is not None:
            knob.write_text(f"{read_ahead_kb}\n")
        yield Mount(kind, mountpoint, pid, int(knob.read_text()))
    finally:
        force_unmount(mountpoint)
        if pid is not None and not wait_exit(pid):
            print(
                f"warning: {kind} daemon {pid} still running after unmount; killing it",
                file=sys.stderr,
            )
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        if proc is not None:
            proc.wait()


def drop_caches() -> bool:
    """Drop the kernel's page, dentry and inode caches; False when not permitted."""
    subprocess.run(["sync"], check=True)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


# --- measurements -----------------------------------------------------------------------


@dataclass
class Timed:
    seconds: float
    cpu: float  # the daemon's CPU seconds meanwhile

    def rate(self, size: int) -> float:
        return size / MIB / self.seconds


def timed(mount: Mount, body: Callable[[], object]) -> Timed:
    cpu = mount.cpu_seconds()
    started = time.perf_counter()
    body()
    return Timed(time.perf_counter() - started, mount.cpu_seconds() - cpu)


def read_file(path: Path, expect: int) -> None:
    buf, total = bytearray(READ_SIZE), 0
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            total += n
    if total != expect:
        raise RuntimeError(f"read {total} bytes of {path}, expected {expect}")


def find(path: Path, expect: int) -> None:
    out = subprocess.run(
        ["find", str(path), "-printf", "%s %p\n"], capture_output=True, check=True
    ).stdout
    listed = out.count(b"\n")
    if listed != expect:
        raise RuntimeError(f"find listed {listed} entries, expected {expect}")


def ls_long(path: Path, expect: int) -> None:
    """``ls -lR``: a stat and two extended-attribute lookups (SELinux label, ACL) per
    name, as ls -l makes them."""
    out = subprocess.run(["ls", "-lR", str(path)], capture_output=True, check=True).stdout
    listed = out.count(b"\n-")
    if listed != expect:
        raise RuntimeError(f"ls -lR listed {listed} files, expected {expect}")


def per_kind() -> dict[str, list[Timed]]:
    return {kind: [] for kind in KINDS}


@dataclass
class Results:
    first: dict[str, list[Timed]] = field(default_factory=per_kind)
    second: dict[str, list[Timed]] = field(default_factory=per_kind)
    find: dict[str, list[Timed]] = field(default_factory=per_kind)
    ls_long: dict[str, list[Timed]] = field(default_factory=per_kind)
    ls_long_xattrs: list[Timed] = field(default_factory=list)  # memfs answering getxattr
    ra_first: dict[str, list[Timed]] = field(default_factory=per_kind)
    first_warm_store: list[Timed] = field(default_factory=list)
    decode_alone: list[float] = field(default_factory=list)  # seconds
    read_ahead_kb: dict[str, int] = field(default_factory=dict)
    rss_idle: int = 0
    rss_peak: int = 0
    huge: Timed | None = None
    dropped: bool = False


def run(workdir: Path, spec: Spec, repeat: int) -> Results:
    res = Results()
    tree_entries = 1 + spec.tree_dirs + spec.tree_files
    for _ in range(repeat):
        for kind in KINDS:
            with mounted(kind, workdir) as m:
                res.read_ahead_kb[kind] = m.read_ahead_kb
                big = m.path("big.bin")
                res.dropped = drop_caches()
                res.first[kind].append(timed(m, lambda b=big: read_file(b, spec.big_size)))
                for _ in range(SECOND_READS):  # short and noisy: several per mount
                    res.second[kind].append(timed(m, lambda b=big: read_file(b, spec.big_size)))
            with mounted(kind, workdir) as m:
                tree = m.path("tree")
                drop_caches()
                res.find[kind].append(timed(m, lambda t=tree: find(t, tree_entries)))
            with mounted(kind, workdir) as m:
                wide = m.path("wide")
                drop_caches()
                res.ls_long[kind].append(timed(m, lambda w=wide: ls_long(w, spec.wide_files)))
            with mounted(kind, workdir, RAISED_READ_AHEAD_KB) as m:
                big = m.path("big.bin")
                drop_caches()
                res.ra_first[kind].append(timed(m, lambda b=big: read_file(b, spec.big_size)))
        with mounted("memfs-xattrs", workdir) as m:
            wide = m.path("wide")
            drop_caches()
            res.ls_long_xattrs.append(timed(m, lambda w=wide: ls_long(w, spec.wide_files)))
        with mounted("artfs", workdir) as m:  # the store's own files already in page cache
            big = m.path("big.bin")
            for part in ("chunks", "meta"):
                warm(workdir / "store" / part)
            res.first_warm_store.append(timed(m, lambda b=big: read_file(b, spec.big_size)))
        drop_caches()
        res.decode_alone.append(decode_alone(workdir / "store", spec.big_size))
    with mounted("artfs", workdir) as m:
        res.rss_idle = m.status("VmHWM")
        huge = m.path("huge.bin")
        drop_caches()
        res.huge = timed(m, lambda: read_file(huge, spec.huge_size))
        res.rss_peak = m.status("VmHWM")
    return res


def decode_alone(store_path: Path, size: int) -> float:
    """Seconds to read big.bin through the mount's chunk cache and readers, without FUSE."""
    store = Store.open(str(store_path))
    entry = store.lookup(store.resolve("big:v0").root, b"big.bin")

    async def read_all() -> float:
        cache = ChunkCache(store)
        try:
            reader, offset = FileReader(store, cache, entry), 0
            started = time.perf_counter()
            while data := await reader.read(offset, READ_SIZE):
                offset += len(data)
            if offset != size:
                raise RuntimeError(f"decoded {offset} bytes of big.bin, expected {size}")
            return time.perf_counter() - started
        finally:
            cache.close()

    return trio.run(read_all)


def warm(root: Path) -> None:
    """Read every file under root (the store's chunks or meta) into the page cache."""
    for directory, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(directory, name), "rb") as f:
                while f.read(16 * MIB):
                    pass


# --- report ----------------------------------------------------------------------------


def median_rate(runs: list[Timed], size: int) -> float:
    return statistics.median(t.rate(size) for t in runs)


def median_seconds(runs: list[Timed]) -> float:
    return statistics.median(t.seconds for t in runs)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(res: Results, spec: Spec, repeat: int) -> None:
    size = spec.big_size
    first = {k: median_rate(v, size) for k, v in res.first.items()}
    second = {k: median_rate(v, size) for k, v in res.second.items()}
    found = {k: median_seconds(v) for k, v in res.find.items()}
    long = {k: median_seconds(v) for k, v in res.ls_long.items()}
    cpu = {k: statistics.median(t.cpu for t in v) for k, v in res.first.items()}
    ra = {k: median_rate(v, size) for k, v in res.ra_first.items()}
    big, huge = f"{size / MIB:.0f} MiB", f"{spec.huge_size / GIB:.2f} GiB"
    cold = "drop_caches + fresh mount" if res.dropped else "fresh mount; no drop_caches"
    assert res.huge is not None
    rows = [
        [
            f"first read {big}, MiB/s ({cold})",
            f"{first['artfs']:.0f}",
            f"{first['memfs']:.0f}",
            f"{first['artfs'] / first['memfs']:.2f}",
            f">= {GOAL_FIRST:.2f}",
            verdict(first["artfs"] >= GOAL_FIRST * first["memfs"]),
        ],
        [
            f"second read {big}, MiB/s (page cache)",
            f"{second['artfs']:.0f}",
            f"{second['memfs']:.0f}",
            f"{second['artfs'] / second['memfs']:.2f}",
            f">= {GOAL_SECOND:.2f}",
            verdict(second["artfs"] >= GOAL_SECOND * second["memfs"]),
        ],
        [
            f"find -printf, {spec.tree_files} files / {spec.tree_dirs} dirs, s",
            f"{found['artfs']:.2f}",
            f"{found['memfs']:.2f}",
            f"{found['artfs'] / found['memfs']:.2f}",
            f"<= {GOAL_FIND:.2f}",
            verdict(found["artfs"] <= GOAL_FIND * found["memfs"]),
        ],
        [
            f"ls -l of one directory of {spec.wide_files} files, s",
            f"{long['artfs']:.2f}",
            f"{long['memfs']:.2f}",
            f"{long['artfs'] / long['memfs']:.2f}",
            f"<= {GOAL_LS_LONG:.2f}",
            verdict(long["artfs"] <= GOAL_LS_LONG * long["memfs"]),
        ],
        [
            f"daemon peak RSS reading {huge}, MiB",
            f"{res.rss_peak / MIB:.0f}",
            "-",
            "-",
            f"< {GOAL_RSS / MIB:.0f} MiB",
            verdict(res.rss_peak < GOAL_RSS),
        ],
        [
            "  info: ls -l, memfs answering getxattr (2 round trips a file), s",
            f"{long['artfs']:.2f}",
            f"{median_seconds(res.ls_long_xattrs):.2f}",
            f"{long['artfs'] / median_seconds(res.ls_long_xattrs):.2f}",
            "",
            "",
        ],
        [
            "  info: daemon CPU s during first read",
            f"{cpu['artfs']:.2f}",
            f"{cpu['memfs']:.2f}",
            "",
            "",
            "",
        ],
        [
            "  info: first read, store files in page cache, MiB/s",
            f"{median_rate(res.first_warm_store, size):.0f}",
            "",
            "",
            "",
            "",
        ],
        [
            "  info: store decoding alone (no FUSE; cold), MiB/s",
            f"{size / MIB / statistics.median(res.decode_alone):.0f}",
            f"{first['memfs']:.0f}",
            f"{size / MIB / statistics.median(res.decode_alone) / first['memfs']:.2f}",
            "",
            "",
        ],
        [
            f"  info: read {huge} (cold), MiB/s; daemon CPU s",
            f"{res.huge.rate(spec.huge_size):.0f}; {res.huge.cpu:.1f}",
            "",
            "",
            "",
            "",
        ],
        [
            "  info: daemon VmHWM right after mount, MiB",
            f"{res.rss_idle / MIB:.0f}",
            "",
            "",
            "",
            "",
        ],
    ]
    print(
        f"\nartfs mount vs memfs (median of {repeat}; read_ahead_kb as each mount set it: "
        f"artfs {res.read_ahead_kb['artfs']}, memfs {res.read_ahead_kb['memfs']})"
    )
    print_table(["measure", "artfs", "memfs", "ratio", "goal", "result"], rows)
    print("every run (artfs | memfs), to judge the noise:")
    for label, runs, rate in [
        ("first read, MiB/s", res.first, True),
        ("second read, MiB/s", res.second, True),
        ("find, s", res.find, False),
        ("ls -l, s", res.ls_long, False),
        (f"first read at {RAISED_READ_AHEAD_KB} KiB, MiB/s", res.ra_first, True),
    ]:
        cells = [
            " ".join(f"{t.rate(size):.0f}" if rate else f"{t.seconds:.2f}" for t in runs[kind])
            for kind in KINDS
        ]
        print(f"  {label}: {cells[0]} | {cells[1]}")
    print(
        f"\nfirst read {big} with read-ahead raised (MiB/s, median of {repeat}; "
        "the table above used each mount's own)"
    )
    print_table(
        ["read_ahead_kb", "artfs", "memfs", "artfs/memfs"],
        [
            [
                f"as mounted ({res.read_ahead_kb['artfs']}/{res.read_ahead_kb['memfs']})",
                f"{first['artfs']:.0f}",
                f"{first['memfs']:.0f}",
                f"{first['artfs'] / first['memfs']:.2f}",
            ],
            [
                str(RAISED_READ_AHEAD_KB),
                f"{ra['artfs']:.0f}",
                f"{ra['memfs']:.0f}",
                f"{ra['artfs'] / ra['memfs']:.2f}",
            ],
        ],
    )
    helps = {k: ra[k] > first[k] * 1.05 for k in ra}
    print(
        "raising read_ahead_kb helps: "
        + ", ".join(
            f"{k} {'yes' if v else 'no'} ({ra[k] / first[k]:.2f}x)" for k, v in helps.items()
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/artfs-bench-mount"))
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="size of the data (1.0: 1 GiB, 20,000 files, 10 GiB; 0.05 is quick)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measure (median)")
    parser.add_argument(
        "--only", choices=("mount", "loader"), help="one workload: the mount's or the loader's"
    )
    parser.add_argument("--loader-files", type=int, default=10_000, help="files in an epoch")
    parser.add_argument(
        "--loader-readers", default="1,4,8", help="reader counts (threads, then processes)"
    )
    parser.add_argument(
        "--loader-repeat", type=int, default=1, help="runs of each loader measure (median)"
    )
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    if args.only != "loader":
        run_mount(workdir, args)
    if args.only != "mount":
        run_loader(workdir / "loader", args)
    print(
        f"\n{os.cpu_count()} CPUs, kernel {os.uname().release}; artfs {artfs_revision()}; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (other work "
        "skews every number)"
    )


def run_mount(workdir: Path, args: argparse.Namespace) -> None:
    spec = Spec.for_scale(args.scale)
    prepare(workdir, spec)
    try:
        results = run(workdir, spec, args.repeat)
    finally:
        for kind in (*KINDS, "memfs-xattrs"):
            force_unmount(workdir / "mnt" / kind)
    print(
        f"\nscale {args.scale}: big.bin {spec.big_size / MIB:.0f} MiB, tree "
        f"{spec.tree_files} files, huge.bin {spec.huge_size / GIB:.2f} GiB; store "
        f"{du(workdir / 'store') / MIB:.0f} MiB on disk"
    )
    report(results, spec, args.repeat)


def run_loader(workdir: Path, args: argparse.Namespace) -> None:
    spec = bench_loader.LoaderSpec(files=args.loader_files)
    workdir.mkdir(parents=True, exist_ok=True)
    bench_loader.prepare(workdir, spec)
    readers = tuple(int(n) for n in args.loader_readers.split(","))
    try:
        results = bench_loader.measure(
            workdir, spec, args.loader_repeat, mounted, drop_caches, readers
        )
    finally:
        for kind in bench_loader.KINDS:
            force_unmount(workdir / "mnt" / kind)
    bench_loader.report(results, spec, args.loader_repeat)


def du(path: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


if __name__ == "__main__":
    main()
