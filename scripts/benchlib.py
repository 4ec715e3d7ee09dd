"""Helpers the benchmarks share: running artfs, timing set-up steps, unmounting for
sure, waiting for a daemon, reading its CPU time, naming the revision, printing a table."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def artfs(store: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m artfs --store STORE ARGS``; RuntimeError with its stderr if it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "artfs", "--store", str(store), *args],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"artfs {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def run_steps(steps: list[tuple[str, Callable[[], object]]]) -> None:
    """Run set-up steps in order, printing how long each took (on stderr)."""
    for label, step in steps:
        started = time.perf_counter()
        step()
        print(f"  {label}: {time.perf_counter() - started:.1f}s", file=sys.stderr)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (a daemon) and of its helper processes
    alive now (a helper's work is the daemon's), from /proc."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def artfs_revision() -> str:
    """The commit measured, marked when artfs/ has uncommitted changes."""
    head = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        or "unknown"
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "artfs"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    return head + ("+dirty" if dirty else "")


def force_unmount(mountpoint: Path) -> None:
    """fusermount3 -u, then a lazy unmount if that failed; quiet when not mounted."""
    if not os.path.ismount(mountpoint):
        return
    if subprocess.run(["fusermount3", "-u", str(mountpoint)], capture_output=True).returncode:
        subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], capture_output=True)


def wait_exit(pid: int, timeout: float = 15) -> bool:
    """Wait for a process to end (reaping it if it is our child); → whether it did."""
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.02)
    return not Path(f"/proc/{pid}").exists()


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )


READY = "ready.json"  # a data set's spec, written once its data and store are made


def reusable(workdir: Path, spec: dict, what: str) -> bool:
    """Whether ``workdir`` holds data and a store made for ``spec`` already; if not, what
    an older spec left there is removed (``mark_ready`` records the new one)."""
    marker = workdir / READY
    if marker.exists() and json.loads(marker.read_text()) == spec:
        print(f"reusing {what} in {workdir}", file=sys.stderr)
        return True
    for name in ("data", "store", READY):
        path = workdir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return False


def mark_ready(workdir: Path, spec: dict) -> None:
    (workdir / READY).write_text(json.dumps(spec))
