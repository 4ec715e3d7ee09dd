"""``artfs run -- CMD``: run a command as a recorded run.

The command and everything it starts belong to the run: they inherit
``ARTFS_RUN_ID``, and the run record names this process's pid, so the mount
also finds the run from any descendant by process ancestry.
"""

import os
import signal
import subprocess
from collections.abc import Callable

from artfs.store import runs as runs_mod
from artfs.store.store import Store

CANNOT_START = 127  # what shells return for a command that cannot be run


def run_command(
    store: Store,
    command: list[str],
    *,
    job_type: str | None = None,
    name: str | None = None,
    config: dict | None = None,
    flush_reads: Callable[[], None],
) -> tuple[dict, int]:
    """Run ``command`` to completion as a new run: → (run record, exit code).
    ``flush_reads`` is called once the command has ended and before the run is: the
    caller's way to have the store's mounts write the reads they hold (the CLI asks
    the mount registry), so that lineage needs nothing of the mount."""
    record = runs_mod.start_run(store, job_type=job_type, name=name, config=config, command=command)
    env = {**os.environ, runs_mod.RUN_ENV: record["id"]}
    try:
        child = subprocess.Popen(command, env=env)
    except OSError as e:
        runs_mod.finish_run(
            store,
            record["id"],
            status="failed",
            exit_code=CANNOT_START,
            error=f"{command[0]}: {e.strerror}",
        )
        raise
    code = _wait(child)  # the record's pid is ours: the command descends from it
    flush_reads()
    status = "finished" if code == 0 else "failed"
    return runs_mod.finish_run(store, record["id"], status=status, exit_code=code), code


def _wait(child: subprocess.Popen) -> int:
    """The child's exit code (128+N when killed by signal N); Ctrl-C goes to it, not us."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code = child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    return 128 - code if code < 0 else code
