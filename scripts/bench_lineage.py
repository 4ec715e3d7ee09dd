"""What lineage recording costs readers: the mount with recording on vs ``--no-lineage``.

Not a test: it prints a table and a PASS/FAIL per row against the goal (recording on
within 5% of off).  Each round measures each mode twice, in the order on, off, off, on
(then off, on, on, off, ...), and every measurement reads through a fresh mount, so the
first read of every file goes through FUSE and the daemon (no page cache of the mount,
an empty chunk cache).  The store's own files are read once beforehand, so both modes
read a warm store and the difference is the mount's work, not the disk's.

Measured (MiB/s, median over all measurements; the verdict uses the median over rounds
of each round's ratio of summed times, which cancels a steady drift of the machine's
speed within the round; the daemon's CPU seconds are shown too, being less sensitive
than wall time to a noisy machine):

1. sequential read of one ~1 GiB committed file (half random, half text), 1 MiB reads;
2. 5,000 files of 16 KiB, one ``cat`` per file (``xargs -n 1 cat``): every open is by
   a new process, which the mount must attribute to a run (here an implicit one: the
   most work, reads of /proc for the process and its parent);
3. the same files with one ``cat`` for all of them (``xargs cat``): per-open cost alone.

After each recording-on mount it checks that the store recorded the reads (files and
bytes), so the benchmark cannot pass by recording nothing.

    python scripts/bench_lineage.py [--workdir DIR] [--scale 1.0] [--rounds 12]

Data and the store are generated deterministically once per --scale under WORKDIR
(default /tmp/artfs-bench-lineage) and reused.  Every mount is unmounted on the way out.
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
from dataclasses import asdict, dataclass
from pathlib import Path

from bench_data import write_mixed
from benchlib import (
    artfs,
    artfs_revision,
    cpu_seconds,
    force_unmount,
    mark_ready,
    print_table,
    reusable,
    run_steps,
    wait_exit,
)

PYTHON = sys.executable
MIB, GIB, KIB = 1 << 20, 1 << 30, 1 << 10
BLOCK = 8 * MIB
READ_SIZE = MIB
GOAL = 0.95  # recording on must keep >= 95% of the throughput without it
MODES = ("on", "off")


@dataclass(frozen=True)
class Spec:
    big_size: int
    small_files: int
    small_size: int = 16 * KIB
    small_dirs: int = 50
    seed: int = 11
    version: int = 1

    @classmethod
    def for_scale(cls, scale: float) -> Spec:
        return cls(
            big_size=max(int(GIB * scale), 2 * BLOCK), small_files=max(int(5_000 * scale), 100)
        )


# --- data ------------------------------------------------------------------------------


def text_block(rng: random.Random, size: int) -> bytes:
    """CSV-like lines: compressible, but not one repeated pattern."""
    words = [
        bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))
        for _ in range(400)
    ]
    out, n = bytearray(), 0
    while len(out) < size:
        out += b"%d,%s,%s,%d.%02d\n" % (
            n,
            rng.choice(words),
            rng.choice(words),
            rng.randint(0, 9999),
            rng.randint(0, 99),
        )
        n += 1
    return bytes(out[:size])


def write_big(path: Path, spec: Spec) -> None:
    rng = random.Random(spec.seed)  # one generator for both kinds of block, as before
    write_mixed(path, spec.big_size, rng, lambda n: text_block(rng, n), BLOCK)


def small_paths(spec: Spec) -> list[str]:
    return [f"d{i % spec.small_dirs:03d}/f{i:05d}.bin" for i in range(spec.small_files)]


def write_small(root: Path, spec: Spec) -> None:
    rng = random.Random(spec.seed + 1)
    for rel in small_paths(spec):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(spec.small_size))


def prepare(workdir: Path, spec: Spec) -> None:
    if reusable(workdir, asdict(spec), "data and store"):
        return
    need = 2.5 * (spec.big_size + spec.small_files * spec.small_size) + 256 * MIB
    if shutil.disk_usage(workdir).free < need:
        raise SystemExit(f"{workdir} needs about {need / GIB:.1f} GiB free (use --scale)")
    data, store = workdir / "data", workdir / "store"
    (data / "big").mkdir(parents=True)
    steps: list[tuple[str, Callable[[], object]]] = [
        ("big.bin", lambda: write_big(data / "big" / "big.bin", spec)),
        ("small files", lambda: write_small(data / "small", spec)),
        ("put big", lambda: artfs(store, "put", str(data / "big"), "--name", "big")),
        ("put small", lambda: artfs(store, "put", str(data / "small"), "--name", "small")),
    ]
    run_steps(steps)
    shutil.rmtree(data)  # only the store's copy is read
    mark_ready(workdir, asdict(spec))


# --- mounts ----------------------------------------------------------------------------


@contextlib.contextmanager
def mounted(workdir: Path, mode: str) -> Iterator[tuple[Path, int]]:
    """A fresh mount, lineage on or off; unmounted, its daemon gone (reads flushed), after."""
    store, mountpoint = workdir / "store", workdir / "mnt"
    mountpoint.mkdir(exist_ok=True)
    force_unmount(mountpoint)  # left over from an interrupted run
    pid = None
    try:
        artfs(store, "mount", str(mountpoint), *(["--no-lineage"] if mode == "off" else []))
        found = json.loads(artfs(store, "status", "--json").stdout)
        pid = next(m["pid"] for m in found if Path(m["mountpoint"]) == mountpoint)
        yield mountpoint, pid
    finally:
        force_unmount(mountpoint)
        if pid is not None and not wait_exit(pid):
            print(f"warning: daemon {pid} still running after unmount; killing it", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


def warm(root: Path) -> None:
    """Read the store's files into the page cache: both modes then start alike."""
    for directory, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(directory, name), "rb") as f:
                while f.read(16 * MIB):
                    pass


# --- workloads ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    key: str
    label: str
    unit_bytes: int  # bytes read per measurement
    files: int
    body: Callable[[Path], None]


def read_big(mount: Path, spec: Spec) -> None:
    buf, total = bytearray(READ_SIZE), 0
    with open(mount / "artifacts/big/v0/big.bin", "rb", buffering=0) as f:
        while n := f.readinto(buf):
            total += n
    if total != spec.big_size:
        raise RuntimeError(f"read {total} bytes of big.bin, expected {spec.big_size}")


def cat_small(mount: Path, spec: Spec, per_file: bool) -> None:
    root = mount / "artifacts/small/v0"
    listing = b"\0".join(os.fsencode(root / p) for p in small_paths(spec))
    xargs = ["xargs", "-0"] + (["-n", "1"] if per_file else []) + ["cat"]
    done = subprocess.run(xargs, input=listing, stdout=subprocess.PIPE, check=True)
    if len(done.stdout) != spec.small_files * spec.small_size:
        raise RuntimeError(
            f"cat read {len(done.stdout)} bytes, expected {spec.small_files * spec.small_size}"
        )


def workloads(spec: Spec) -> list[Workload]:
    small_total = spec.small_files * spec.small_size
    n, kib = spec.small_files, spec.small_size // KIB
    return [
        Workload(
            "big",
            f"sequential read, {spec.big_size / MIB:.0f} MiB file",
            spec.big_size,
            1,
            lambda m: read_big(m, spec),
        ),
        Workload(
            "per_file",
            f"{n} x {kib} KiB, one cat per file",
            small_total,
            n,
            lambda m: cat_small(m, spec, per_file=True),
        ),
        Workload(
            "one_cat",
            f"{n} x {kib} KiB, one cat for all",
            small_total,
            n,
            lambda m: cat_small(m, spec, per_file=False),
        ),
    ]


def recorded(store: Path, artifact: str, since: set[str]) -> tuple[int, int]:
    """(files, bytes) of ``artifact:v0`` that runs started after ``since`` were recorded
    to have read."""
    files, total = 0, 0
    for run in json.loads(artfs(store, "runs", "ls", "--all", "--json").stdout):
        if run["id"] in since:
            continue
        shown = json.loads(artfs(store, "runs", "show", run["id"], "--json").stdout)
        for edge in shown["inputs"]:
            if edge["version"] == f"{artifact}:v0":
                files += len(edge["files"])
                total += sum(edge["files"].values())
    return files, total


def run_ids(store: Path) -> set[str]:
    return {r["id"] for r in json.loads(artfs(store, "runs", "ls", "--all", "--json").stdout)}


def measure(workdir: Path, spec: Spec, rounds: int) -> tuple[dict, dict]:
    """Seconds, and the daemon's CPU seconds, per workload and mode (one fresh mount each)."""
    store = workdir / "store"
    times = {w.key: {mode: [] for mode in MODES} for w in workloads(spec)}
    cpu = {w.key: {mode: [] for mode in MODES} for w in workloads(spec)}
    for r in range(rounds):
        # ABBA: a steady drift of the machine's speed within the round cancels out
        first, second = MODES if r % 2 == 0 else MODES[::-1]
        order = (first, second, second, first)
        for work in workloads(spec):
            for mode in order:
                before = run_ids(store) if mode == "on" else set()
                with mounted(workdir, mode) as (mount, pid):
                    cpu_before, started = cpu_seconds(pid), time.perf_counter()
                    work.body(mount)
                    times[work.key][mode].append(time.perf_counter() - started)
                    cpu[work.key][mode].append(cpu_seconds(pid) - cpu_before)
                if mode == "on":  # the daemon is gone: everything it recorded is stored
                    artifact = "big" if work.key == "big" else "small"
                    got = recorded(store, artifact, before)
                    if got != (work.files, work.unit_bytes):
                        raise RuntimeError(
                            f"{work.label}: recorded {got[0]} files, {got[1]} "
                            f"bytes; expected {work.files}, {work.unit_bytes}"
                        )
            rates = [
                f"{mode} "
                + " ".join(f"{work.unit_bytes / MIB / t:.0f}" for t in times[work.key][mode][-2:])
                for mode in MODES
            ]
            print(f"  round {r + 1}: {work.key}: {', '.join(rates)} MiB/s", file=sys.stderr)
    return times, cpu


# --- report ----------------------------------------------------------------------------


def report(times: dict, cpu: dict, spec: Spec, rounds: int) -> bool:
    rows, ok_all = [], True
    for work in workloads(spec):
        rate = {
            mode: statistics.median(work.unit_bytes / MIB / t for t in times[work.key][mode])
            for mode in MODES
        }
        # The judged number: per round, the summed times of its two "off" and two "on"
        # measurements (ABBA, back to back), so the machine's drift between and within
        # rounds cancels; then the median over rounds.
        on, off = times[work.key]["on"], times[work.key]["off"]
        ratio = statistics.median(
            sum(off[i : i + 2]) / sum(on[i : i + 2]) for i in range(0, len(on), 2)
        )
        ok = ratio >= GOAL
        ok_all &= ok
        files_s = ""
        if work.files > 1:
            per = {mode: work.files / statistics.median(times[work.key][mode]) for mode in MODES}
            files_s = f"{per['on']:.0f} / {per['off']:.0f}"
        daemon = {mode: statistics.median(cpu[work.key][mode]) for mode in MODES}
        rows.append(
            [
                work.label,
                f"{rate['on']:.0f}",
                f"{rate['off']:.0f}",
                f"{rate['on'] / rate['off']:.3f}",
                f"{ratio:.3f}",
                files_s,
                f"{daemon['on']:.2f} / {daemon['off']:.2f}",
                f">= {GOAL:.2f}",
                "PASS" if ok else "FAIL",
            ]
        )
    print(
        f"\nlineage recording on vs --no-lineage: MiB/s, median of {rounds} ABBA rounds "
        "(fresh mount per read, store warm in page cache)"
    )
    print_table(
        [
            "workload",
            "on MiB/s",
            "off MiB/s",
            "on/off",
            "paired on/off",
            "files/s on / off",
            "daemon CPU s on / off",
            "goal (paired)",
            "result",
        ],
        rows,
    )
    print("every measurement, MiB/s (on | off):")
    for work in workloads(spec):
        cells = [
            " ".join(f"{work.unit_bytes / MIB / t:.0f}" for t in times[work.key][mode])
            for mode in MODES
        ]
        print(f"  {work.key}: {cells[0]} | {cells[1]}")
    return ok_all


def artfs_source() -> str:
    where = "import artfs, os; print(os.path.dirname(artfs.__file__))"
    found = subprocess.run([PYTHON, "-c", where], capture_output=True, text=True).stdout.strip()
    return f"{found} (repo {artfs_revision()})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/artfs-bench-lineage"))
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="1.0: a 1 GiB file and 5,000 files of 16 KiB; 0.05 is quick",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=12,
        help="ABBA rounds, each measuring each mode twice: a measurement "
        "varies by 10-20%%, and 5-7 rounds still let one noisy round "
        "swing a 1%% effect past 5%% (about 15 minutes)",
    )
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    spec = Spec.for_scale(args.scale)
    prepare(workdir, spec)
    warm(workdir / "store")
    load_before = os.getloadavg()[0]
    try:
        times, cpu = measure(workdir, spec, args.rounds)
    finally:
        force_unmount(workdir / "mnt")
    print(
        f"\nscale {args.scale}; {os.cpu_count()} CPUs, kernel {os.uname().release}; "
        f"artfs from {artfs_source()}; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after"
    )
    ok = report(times, cpu, spec, args.rounds)
    print(
        f"overall: {'PASS' if ok else 'FAIL'} (recording on within {(1 - GOAL) * 100:.0f}% of off)"
    )


if __name__ == "__main__":
    main()
