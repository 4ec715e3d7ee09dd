"""Helpers the mount benchmarks share: unmounting for sure, waiting for a daemon,
printing a table."""

import contextlib
import os
import subprocess
import time
from pathlib import Path


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
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(row, widths, strict=True))))
