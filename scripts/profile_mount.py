"""Where a data-loader epoch's time goes in the mount daemon, per request type.

Not a test, nor a benchmark: a measuring tool for issue 13.  It mounts STORE with an
instrumented daemon, drops the kernel's caches (when root), reads the data loader's
files (scripts/bench_loader.py's set, made by ``bench_mount.py --only loader``) for
the epochs asked, unmounts, and prints:

* per request type (lookup, getattr, open, read, release, ...): how many per file,
  their latency as the daemon saw it (from the handler's start to its reply) and the
  part of it spent running on the trio loop (the coroutine's steps; the rest is
  waiting: for a worker thread, a lock, a thread hop);
* the trio loop's busy and idle time (an Instrument around every task step and
  every wait for I/O);
* the chunk workers: fetches, time each spent reading + decompressing + verifying,
  and the time from queueing to the loop seeing the result (the hop);
* the store calls made on the loop (file_chunks, tree, the attribution's).

    python scripts/profile_mount.py [--workdir /tmp/artfs-bench-mount/loader]
        [--files 10000] [--mode threads|processes] [--readers 1] [--epochs 2]
        [--no-lineage]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

STORE_CALLS = ("file_chunks", "tree", "lookup", "change_token")


class Stat:
    __slots__ = ("count", "wall", "loop")

    def __init__(self):
        self.count, self.wall, self.loop = 0, 0.0, 0.0


class _Steps:
    """Await a coroutine, adding the time each of its steps runs to ``stat.loop``."""

    def __init__(self, coro, stat: Stat):
        self.coro, self.stat = coro, stat

    def __await__(self):
        value, error = None, None
        while True:
            started = time.perf_counter()
            try:
                step = self.coro.throw(error) if error is not None else self.coro.send(value)
            except StopIteration as done:
                self.stat.loop += time.perf_counter() - started
                return done.value
            except BaseException:
                self.stat.loop += time.perf_counter() - started
                raise
            self.stat.loop += time.perf_counter() - started
            try:
                value, error = (yield step), None
            except BaseException as e:  # noqa: BLE001 - handed on to the coroutine
                value, error = None, e


def _timed_handler(fn, stat: Stat):
    async def handler(*args, **kwargs):
        started = time.perf_counter()
        try:
            return await _Steps(fn(*args, **kwargs), stat)
        finally:
            stat.count += 1
            stat.wall += time.perf_counter() - started

    handler.__name__ = fn.__name__
    return handler


def _timed_call(fn, stat: Stat):
    def call(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            stat.count += 1
            stat.wall += time.perf_counter() - started

    return call


def serve(store_path: str, mountpoint: str, out: str, lineage: bool) -> None:
    """The daemon, instrumented; its numbers written to ``out`` once it has unmounted."""
    import trio

    from artfs.fs import daemon, reader
    from artfs.fs.ops import Operations
    from artfs.store.store import Store

    stats: dict[str, Stat] = defaultdict(Stat)
    for name in _requests(Operations):
        setattr(Operations, name, _timed_handler(getattr(Operations, name), stats[name]))
    for name in STORE_CALLS:
        setattr(Store, name, _timed_call(getattr(Store, name), stats["store." + name]))
    _instrument_chunks(reader.ChunkCache, stats)
    loop = _LoopTime()
    real_run = trio.run
    trio.run = lambda *a, **k: real_run(*a, **k, instruments=[loop])  # type: ignore[assignment]
    try:
        daemon.serve(store_path, mountpoint, False, None, lineage=lineage)
    finally:
        doc = {k: [s.count, s.wall, s.loop] for k, s in stats.items()}
        doc["loop"] = [loop.steps, loop.busy, loop.idle]
        Path(out).write_text(json.dumps(doc))


def _requests(operations) -> list[str]:
    """Every request handler pyfuse3 may call (the async methods of its Operations)."""
    import inspect

    import pyfuse3

    return [
        name
        for name, fn in inspect.getmembers(pyfuse3.Operations)
        if inspect.iscoroutinefunction(fn) and hasattr(operations, name)
    ]


def _instrument_chunks(cache_cls, stats: dict[str, Stat]) -> None:
    """Time a worker's fetch (in its thread) and queue -> result seen on the loop."""
    queued: dict[bytes, float] = {}
    lock = threading.Lock()
    real_queue, real_finish, real_work = cache_cls._queue, cache_cls._finish, cache_cls._work

    def _queue(self, digest, urgent):
        queued[digest] = time.perf_counter()
        return real_queue(self, digest, urgent)

    def _finish(self, fetch):
        stat = stats["chunk: queued -> seen on loop"]
        stat.count += 1
        stat.wall += time.perf_counter() - queued.pop(fetch.digest, time.perf_counter())
        return real_finish(self, fetch)

    def _work(self):
        with lock:  # every worker starts here: wrap the store's get once
            get = self.store.chunks.get
            if not getattr(get, "timed", False):
                self.store.chunks.get = _timed_get(get, stats["chunk: worker fetch (thread)"])
        return real_work(self)

    def _timed_get(get, stat: Stat):
        def timed_get(digest, *size):
            started = time.perf_counter()
            try:
                return get(digest, *size)
            finally:
                with lock:
                    stat.count += 1
                    stat.wall += time.perf_counter() - started

        timed_get.timed = True  # type: ignore[attr-defined]
        return timed_get

    cache_cls._queue, cache_cls._finish, cache_cls._work = _queue, _finish, _work


class _LoopTime:
    """trio Instrument: time in task steps (busy) and waiting for I/O (idle)."""

    def __init__(self):
        self.steps, self.busy, self.idle, self._at = 0, 0.0, 0.0, 0.0

    def before_task_step(self, task):
        self._at = time.perf_counter()

    def after_task_step(self, task):
        self.steps += 1
        self.busy += time.perf_counter() - self._at

    def before_io_wait(self, timeout):
        self._at = time.perf_counter()

    def after_io_wait(self, timeout):
        self.idle += time.perf_counter() - self._at


# --- the driver ------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/artfs-bench-mount/loader"))
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--mode", choices=("threads", "processes"), default="threads")
    parser.add_argument("--readers", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--no-lineage", action="store_true")
    parser.add_argument(
        "--chunks-cached",
        action="store_true",
        help="after dropping the caches, read the store's chunk files back into the page "
        "cache: the daemon's own work alone, without waiting for the disk",
    )
    parser.add_argument("--serve", nargs=3, metavar=("STORE", "MOUNTPOINT", "OUT"))
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve, lineage=not args.no_lineage)
        return
    drive(args)


def drive(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_loader
    from benchlib import force_unmount, wait_exit

    spec = bench_loader.LoaderSpec(files=args.files)
    store, mnt = args.workdir / "store", args.workdir / "mnt" / "profile"
    out = args.workdir / "profile.json"
    mnt.mkdir(parents=True, exist_ok=True)
    force_unmount(mnt)
    daemon = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(store), str(mnt), str(out)]
        + (["--no-lineage"] if args.no_lineage else []),
        stdout=subprocess.DEVNULL,
    )
    rates = []
    try:
        deadline = time.monotonic() + 60
        while not os.path.ismount(mnt):
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the instrumented daemon did not mount")
            time.sleep(0.05)
        os.stat(mnt / "artifacts")  # the handshake done
        subprocess.run(["sync"], check=True)
        with contextlib.suppress(OSError):
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
        if args.chunks_cached:
            for path in (args.workdir / "store" / "chunks").rglob("*"):
                if path.is_file():
                    path.read_bytes()
        readers = bench_loader.Readers(args.mode, args.readers)
        root = mnt / "artifacts" / "files" / "v0"
        for epoch in range(1, args.epochs + 1):
            seconds = readers.epoch(bench_loader.epoch_order(root, spec, epoch))
            rates.append((seconds, spec.files / seconds))
        readers.close()
    finally:
        force_unmount(mnt)
        wait_exit(daemon.pid, 30)
        daemon.wait()
    report(json.loads(out.read_text()), spec.files, args, rates)


def report(doc: dict, files: int, args: argparse.Namespace, rates: list) -> None:
    seconds = sum(s for s, _ in rates)
    epochs = ", ".join(f"epoch {i}: {r:,.0f} files/s" for i, (_, r) in enumerate(rates, 1))
    print(
        f"{args.readers} {args.mode}, {files} files, lineage "
        f"{'off' if args.no_lineage else 'on'}: {epochs}"
    )
    steps, busy, idle = doc.pop("loop")
    print(
        f"trio loop over {seconds:.2f} s of epochs and the mount's start: busy {busy:.2f} s "
        f"({steps} task steps), idle in epoll {idle:.2f} s"
    )
    n = files * len(rates)
    print(f"\n{'request':34} {'count':>8} {'per file':>8} {'µs each':>8} {'on loop':>8}")
    for name, (count, wall, loop) in sorted(doc.items(), key=lambda kv: -kv[1][1]):
        print(
            f"{name:34} {count:8d} {count / n:8.2f} {wall / max(count, 1) * 1e6:8.0f} "
            f"{(f'{loop / max(count, 1) * 1e6:8.0f}' if loop else '')}"
        )


if __name__ == "__main__":
    main()
