"""Benchmark artfs with an S3 remote against dvc and restic on one moto server, and
check the goals of issue 12.

Not a test: it prints tables.  The data are bench_store.py's (bench_data.py: A, one
big mixed file; A', A after small edits and an insertion; B, many small files in
many directories), and every tool runs as a subprocess, as a user runs it:

* committing A, then A', then B to the remote: ``artfs put`` on a store with a
  remote; ``dvc add`` then ``dvc push``; ``restic backup``;
* a fresh machine's first read of A, and of all of B: ``artfs clone`` + ``artfs
  mount`` + reading every file through the mount (chunks fetched lazily by ranged
  GETs); ``dvc pull`` + reading the pulled files; ``restic restore`` + reading;
* the same reads again through a loopback TCP proxy that holds every byte a client
  sends for --delay-ms (20) before passing it on: each request's answer comes that
  much later, as over a network with that round trip, while bandwidth is unchanged
  (the table's title says what a small ranged GET takes straight and through it).

For each step: wall time, requests by kind and the bytes of request and answer
bodies, all counted at the server (tests/s3server.py, reset between steps).  moto
is an in-memory stand-in that serves one request at a time (see tests/s3server.py):
its wall times measure moto's Python as much as any network, so compare the tools
with each other, not with AWS.

    .venv/bin/python scripts/bench_remote.py [--scale 0.1 | --full] [--repeat N]
        [--port 18810] [--delay-ms 20] [--skip-delay] [--skip-peers] [--workdir DIR]

dvc (``pip install dvc dvc-s3`` into the venv) and restic (``apt-get install
restic``) are used when installed.  Every mount is unmounted (fusermount3 -u, then
-u -z), and the server and the proxy are stopped, also when a step fails.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench_data import DataSet, prepare
from bench_store import Run, find_dvc, fresh_dir, run_quiet, timed
from benchlib import artfs_revision, force_unmount, print_table, wait_exit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.s3server import S3Server  # noqa: E402

PYTHON = sys.executable
MIB = 1 << 20
READ_SIZE = MIB
READERS = 8  # the parallel reading of B: a data loader's workers
BUCKETS = {"artfs": "bench-artfs", "dvc": "bench-dvc", "restic": "bench-restic"}
PREFIX = "store"

# The goals (issue 12).
PUT_PER = 8 * MIB  # committing B: at most one PUT per 8 MiB of new data...
PUT_CONSTANT = 8  # ...plus this many (records, journal, the metadata pack and its index)
BYTES_VS_RESTIC = 1.2  # A' sends at most 1.2x the bytes restic sends
FASTER_THAN_PUSH = 5.0  # committing B at least 5x faster than dvc push of B
RSS_LIMIT = 300 * MIB  # the mount daemon's peak RSS


# --- measurements -------------------------------------------------------------------


@dataclass
class Step:
    """One timed step of one tool, with what the server saw meanwhile."""

    what: str  # "commit A", "read B", ...
    tool: str  # "artfs put", "dvc push", ...
    seconds: float
    requests: Counter
    sent: int  # bytes of request bodies
    received: int  # bytes of answer bodies
    rss: int | None = None  # peak RSS of the process (the mount daemon for reads)
    setup: list[float] = field(default_factory=list)  # reads: clone, mount; pull; restore
    first_byte: float | None = None  # reads: seconds from the step's start to the first byte
    read_seconds: float | None = None  # reads: of which the reading itself
    size: int | None = None  # reads: bytes read

    @property
    def puts(self) -> int:
        return self.requests["PUT"] + self.requests["PUT-CONDITIONAL"]


@dataclass
class Results:
    commits: list[Step] = field(default_factory=list)
    reads: list[Step] = field(default_factory=list)
    delayed: list[Step] = field(default_factory=list)
    daemon_rss: list[int] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    proxy_ms: tuple[float, float] | None = None  # a small ranged GET: straight, through it

    def find(self, steps: list[Step], what: str, tool: str) -> Step | None:
        return next((s for s in steps if s.what == what and s.tool == tool), None)


class Meter:
    """Resets the server's counters before a step and reads them after it."""

    def __init__(self, server: S3Server) -> None:
        self.server = server

    @contextlib.contextmanager
    def step(self, what: str, tool: str, into: list[Step]) -> Iterator[Step]:
        self.server.reset_counts()
        step = Step(what, tool, 0.0, Counter(), 0, 0)
        started = time.perf_counter()
        yield step  # the body may set seconds itself (a subprocess's own wall time)
        step.seconds = step.seconds or time.perf_counter() - started
        step.requests = self.server.counts()
        sizes = self.server.body_bytes()
        step.sent, step.received = sizes["sent"], sizes["received"]
        into.append(step)


def read_files(paths: list[Path], readers: int = 1) -> tuple[float, int]:
    """Read every file with 1 MiB read() calls; → (the perf_counter() of the first byte,
    bytes read)."""
    first: list[float] = []

    def read(path: Path) -> int:
        buf, total = bytearray(READ_SIZE), 0
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                if not first:
                    first.append(time.perf_counter())
                total += n
        return total

    if readers == 1:
        total = sum(map(read, paths))
    else:
        with ThreadPoolExecutor(readers) as pool:
            total = sum(pool.map(read, paths))
    return (first[0] if first else time.perf_counter()), total


def files_under(root: Path) -> list[Path]:
    """Every regular file under root, in sorted order (a dataset's file list)."""
    return sorted(p for p in root.rglob("*") if p.is_file())


def aws_env(**extra: str) -> dict[str, str]:
    """This environment without the caller's AWS settings, with moto's dummy keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ARTFS_"))}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        DVC_NO_ANALYTICS="1",
        **extra,
    )
    return env


# --- the delaying proxy --------------------------------------------------------------


class DelayProxy:
    """A TCP proxy on 127.0.0.1:port to 127.0.0.1:target that holds each byte a client
    sends for ``delay`` seconds before passing it on; answers pass at once.  Bytes are
    queued with the time they are due, not slept on one by one, so a request costs
    ``delay`` more however big it is.  Three threads per connection."""

    def __init__(self, port: int, target: int, delay: float) -> None:
        self.port, self.target, self.delay = port, target, delay
        self.url = f"http://127.0.0.1:{port}"
        self._listener = socket.create_server(("127.0.0.1", port))
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> DelayProxy:
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped = True
        with self._lock:
            sockets = [self._listener, *self._open]
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # stopped
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(("127.0.0.1", self.target))
        except OSError:
            client.close()
            return
        with self._lock:
            self._open |= {client, server}
        due: queue.Queue = queue.Queue(maxsize=256)
        threads = [
            threading.Thread(target=self._hold, args=(client, due), daemon=True),
            threading.Thread(target=self._release, args=(due, server), daemon=True),
            threading.Thread(target=self._copy, args=(server, client), daemon=True),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with self._lock:
            self._open -= {client, server}
        client.close()
        server.close()

    def _hold(self, src: socket.socket, due: queue.Queue) -> None:
        try:
            while data := src.recv(256 * 1024):
                due.put((time.monotonic() + self.delay, data))
        except OSError:
            pass
        finally:
            due.put(None)

    @staticmethod
    def _release(due: queue.Queue, dst: socket.socket) -> None:
        try:
            while (item := due.get()) is not None:
                when, data = item
                if (wait := when - time.monotonic()) > 0:
                    time.sleep(wait)
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_RDWR)  # the other direction ends too
            while due.get() is not None:  # let the holder finish
                pass

    @staticmethod
    def _copy(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(256 * 1024):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            with contextlib.suppress(OSError):
                src.shutdown(socket.SHUT_RDWR)
                dst.shutdown(socket.SHUT_RDWR)


# --- one round: committing, then fresh machines -------------------------------------------


class Round:
    """One round of every step, under its own prefix in each tool's bucket, so that no
    round finds what an earlier one uploaded."""

    def __init__(self, number: int, ds: DataSet, runs: Path, meter: Meter, peers: dict) -> None:
        self.ds, self.meter, self.peers = ds, meter, dict(peers)
        self.number, self.prefix = number, f"{PREFIX}-{number}"
        self.runs = fresh_dir(runs / f"round-{number}")
        self.res = Results()
        self.sizes = {"A": ds.spec.a_size, "B": ds.b_bytes}

    def url(self, tool: str) -> str:
        return f"s3://{BUCKETS[tool]}/{self.prefix}"

    def run(self, endpoint: str, delayed: str | None) -> None:
        """Commit with every tool through ``endpoint``, then read on fresh machines
        through it, and through ``delayed`` (the proxy) if given."""
        commits = {"artfs": self.commit_artfs, "dvc": self.commit_dvc, "restic": self.commit_restic}
        for tool in ("artfs", *self.peers):
            log(f"round {self.number}: committing with {tool}")
            if not self.guarded(f"{tool}: commit", lambda t=tool: commits[t](endpoint)):
                self.peers.pop(tool, None)  # nothing to read back
        log(f"round {self.number}: fresh machines")
        self.read_all(endpoint, self.res.reads)
        if delayed:
            log(f"round {self.number}: fresh machines through the delaying proxy")
            self.read_all(delayed, self.res.delayed)

    def guarded(self, label: str, body: Callable[[], object]) -> bool:
        """Run body, recording a failure under label instead of losing the other rows."""
        try:
            body()
        except (RuntimeError, OSError) as exc:
            self.res.errors[label] = str(exc)
            print(f"FAILED: {label}: {exc}", file=sys.stderr)
            return False
        return True

    # --- committing

    def commit_artfs(self, endpoint: str) -> None:
        """A store with the remote; put A, then A' as the next version of a, then B."""
        ds = self.ds
        store, env = fresh_dir(self.runs / "artfs-store"), aws_env(AWS_ENDPOINT_URL=endpoint)
        artfs = [PYTHON, "-m", "artfs", "--store", str(store)]
        run_quiet([*artfs, "remote", "add", self.url("artfs")], env=env)
        for what, path, name in (("A", ds.a, "a"), ("A'", ds.a_mod, "a"), ("B", ds.b, "b")):
            with self.meter.step(f"commit {what}", "artfs put", self.res.commits) as step:
                run = timed([*artfs, "put", str(path), "--name", name], env=env)
                step.seconds, step.rss = run.seconds, run.peak_rss

    def commit_dvc(self, endpoint: str) -> None:
        """A git-less repository (cache.type copy, as bench_store.py) with an S3 remote;
        dvc add, then dvc push, of A, of A' written over A, and of B.  The .dvc files of
        each step are kept for the fresh machines' pulls."""
        ds, dvc = self.ds, self.peers["dvc"]
        repo, env = fresh_dir(self.runs / "dvc-repo"), aws_env()
        run_quiet([dvc, "init", "--no-scm", "-q"], cwd=repo, env=env)
        run_quiet([dvc, "config", "cache.type", "copy"], cwd=repo, env=env)
        self.dvc_remote(repo, endpoint, env)
        for what, src, target in (
            ("A", ds.a, "a.bin"),
            ("A'", ds.a_mod, "a.bin"),
            ("B", ds.b, "b"),
        ):
            if src.is_dir():
                shutil.copytree(src, repo / target)
            else:
                shutil.copyfile(src, repo / target)
            for tool, cmd in (
                ("dvc add", [dvc, "add", "-q", target]),
                ("dvc push", [dvc, "push", "-q"]),
            ):
                with self.meter.step(f"commit {what}", tool, self.res.commits) as step:
                    run = timed(cmd, cwd=repo, env=env)
                    step.seconds, step.rss = run.seconds, run.peak_rss
            shutil.copyfile(repo / f"{target}.dvc", self.runs / f"dvc-{what}.dvc")

    def dvc_remote(self, repo: Path, endpoint: str, env: dict) -> None:
        dvc = self.peers["dvc"]
        run_quiet([dvc, "remote", "add", "-f", "-d", "bench", self.url("dvc")], cwd=repo, env=env)
        run_quiet([dvc, "remote", "modify", "bench", "endpointurl", endpoint], cwd=repo, env=env)

    def restic_repo(self, endpoint: str) -> str:
        return f"s3:{endpoint}/{BUCKETS['restic']}/{self.prefix}"

    def commit_restic(self, endpoint: str) -> None:
        """restic backup of A, of A' and of B (bench_store.py's paths) to the bucket."""
        restic = self.peers["restic"]
        env = restic_env(aws_env(), fresh_dir(self.runs / "restic-cache"))
        repo = self.restic_repo(endpoint)
        run_quiet([restic, "-r", repo, "init"], env=env)
        for what, path in (("A", self.ds.a), ("A'", self.ds.a_mod), ("B", self.ds.b)):
            cmd = [restic, "-r", repo, "backup", "--quiet", "--host", "bench", str(path)]
            with self.meter.step(f"commit {what}", "restic backup", self.res.commits) as step:
                run = timed(cmd, env=env)
                step.seconds, step.rss = run.seconds, run.peak_rss

    # --- a fresh machine's first read

    def read_all(self, endpoint: str, into: list[Step]) -> None:
        """Every tool's fresh-machine read of A and of B through ``endpoint``."""
        for what in ("A", "B"):
            jobs: list[tuple[str, Callable[[], None]]] = [
                ("artfs", lambda w=what: self.read_artfs(w, endpoint, into)),
                ("artfs get", lambda w=what: self.read_artfs_get(w, endpoint, into)),
            ]
            if what == "B":
                jobs.append(
                    (
                        f"artfs, {READERS} readers",
                        lambda: self.read_artfs("B", endpoint, into, READERS),
                    )
                )
            if "dvc" in self.peers:
                jobs.append(("dvc", lambda w=what: self.read_dvc(w, endpoint, into)))
            if "restic" in self.peers:
                jobs.append(("restic", lambda w=what: self.read_restic(w, endpoint, into)))
            for tool, job in jobs:
                self.guarded(f"{tool}: read {what} via {endpoint}", job)

    def check_size(self, what: str, size: int) -> int:
        if size != self.sizes[what]:
            raise RuntimeError(f"read {size} bytes of {what}, not {self.sizes[what]}")
        return size

    def read_artfs(self, what: str, endpoint: str, into: list[Step], readers: int = 1) -> None:
        """clone + mount + read every file of what ("A" or "B"), on a fresh store."""
        tag = f"{what}-{endpoint.rsplit(':', 1)[1]}-{readers}"
        store, mountpoint = self.runs / f"artfs-clone-{tag}", self.runs / "mnt" / f"clone-{tag}"
        shutil.rmtree(store, ignore_errors=True)
        env = aws_env(AWS_ENDPOINT_URL=endpoint)
        clone = [PYTHON, "-m", "artfs", "clone", self.url("artfs"), str(store)]
        tool = "artfs mount" + (f", {readers} readers" if readers > 1 else "")
        with self.meter.step(f"read {what}", tool, into) as step:
            started = time.perf_counter()
            run_quiet([*clone, "--endpoint-url", endpoint], env=env)
            cloned = time.perf_counter()
            with mounted(store, mountpoint, env) as (pid, ready):
                step.setup = [cloned - started, ready - cloned]
                read_started = time.perf_counter()
                target = mountpoint / MOUNTED[what]
                paths = [target] if target.is_file() else files_under(target)
                first, size = read_files(paths, readers)
                step.size = self.check_size(what, size)
                step.read_seconds = time.perf_counter() - read_started
                step.first_byte = ready - started + first - read_started
                step.rss = peak_rss(pid)
                self.res.daemon_rss.append(step.rss)
            step.seconds = ready - started + step.read_seconds

    def read_artfs_get(self, what: str, endpoint: str, into: list[Step]) -> None:
        """clone + ``artfs get`` (fetches the version's chunks ahead, by pack, in
        parallel, then writes the files), then read them, as restic restore is."""
        tag = f"{what}-{endpoint.rsplit(':', 1)[1]}"
        store, target = self.runs / f"artfs-get-{tag}", fresh_dir(self.runs / f"artfs-out-{tag}")
        shutil.rmtree(store, ignore_errors=True)
        env = aws_env(AWS_ENDPOINT_URL=endpoint)
        _, name, number, *_ = MOUNTED[what].split("/")
        with self.meter.step(f"read {what}", "artfs get", into) as step:
            clone = [PYTHON, "-m", "artfs", "clone", self.url("artfs"), str(store)]
            cloned = timed([*clone, "--endpoint-url", endpoint], env=env)
            get = [
                PYTHON,
                "-m",
                "artfs",
                "--store",
                str(store),
                "get",
                f"{name}:{number}",
                str(target),
            ]
            got = timed(get, env=env)
            both = Run(cloned.seconds + got.seconds, max(cloned.peak_rss, got.peak_rss))
            self.read_local(step, both, target / "a.bin" if what == "A" else target)
            self.check_size(what, step.size or 0)

    def read_dvc(self, what: str, endpoint: str, into: list[Step]) -> None:
        """A fresh repository holding only the step's .dvc file: dvc pull, then read."""
        dvc, repo, env = self.peers["dvc"], fresh_dir(self.runs / f"dvc-fresh-{what}"), aws_env()
        run_quiet([dvc, "init", "--no-scm", "-q"], cwd=repo, env=env)
        self.dvc_remote(repo, endpoint, env)
        target = "a.bin" if what == "A" else "b"
        shutil.copyfile(self.runs / f"dvc-{what}.dvc", repo / f"{target}.dvc")
        with self.meter.step(f"read {what}", "dvc pull", into) as step:
            run = timed([dvc, "pull", "-q", f"{target}.dvc"], cwd=repo, env=env)
            self.read_local(step, run, repo / target)
            self.check_size(what, step.size or 0)

    def read_restic(self, what: str, endpoint: str, into: list[Step]) -> None:
        """restic restore of the data set's snapshot with an empty cache, then read."""
        source = self.ds.a if what == "A" else self.ds.b
        target = fresh_dir(self.runs / f"restic-fresh-{what}")
        env = restic_env(aws_env(), fresh_dir(self.runs / f"restic-fresh-cache-{what}"))
        cmd = [self.peers["restic"], "-r", self.restic_repo(endpoint), "restore", "latest"]
        cmd += ["--host", "bench", "--path", str(source), "--target", str(target)]
        with self.meter.step(f"read {what}", "restic restore", into) as step:
            run = timed(cmd, env=env)
            self.read_local(step, run, target / source.relative_to("/"))
            self.check_size(what, step.size or 0)

    @staticmethod
    def read_local(step: Step, fetched: Run, path: Path) -> None:
        """Read what a pull or restore wrote, after ``fetched`` (its run) ended."""
        step.rss, step.setup = fetched.peak_rss, [fetched.seconds]
        read_started = time.perf_counter()
        first, step.size = read_files([path] if path.is_file() else files_under(path))
        step.read_seconds = time.perf_counter() - read_started
        step.first_byte = fetched.seconds + first - read_started
        step.seconds = fetched.seconds + step.read_seconds


def restic_env(env: dict, cache: Path) -> dict:
    return {**env, "RESTIC_PASSWORD": "bench", "RESTIC_CACHE_DIR": str(cache)}


@contextlib.contextmanager
def mounted(store: Path, mountpoint: Path, env: dict) -> Iterator[tuple[int, float]]:
    """``artfs mount`` of store at mountpoint; → the daemon's pid and the perf_counter()
    when the mount was ready (before ``artfs status`` looked up the pid).  Unmounted
    (and the daemon gone) when the block ends, however it ends."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    force_unmount(mountpoint)  # left over from an interrupted run
    pid = None
    try:
        run_quiet([PYTHON, "-m", "artfs", "--store", str(store), "mount", str(mountpoint)], env=env)
        ready = time.perf_counter()
        status = run_quiet([PYTHON, "-m", "artfs", "--store", str(store), "status", "--json"])
        pid = next(m["pid"] for m in json.loads(status) if Path(m["mountpoint"]) == mountpoint)
        yield pid, ready
    finally:
        force_unmount(mountpoint)
        if pid is not None and not wait_exit(pid):
            print(f"warning: mount daemon {pid} still running; killing it", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


# Where each data set is in a version of the mount, and which version.
MOUNTED = {"A": "artifacts/a/v0/a.bin", "B": "artifacts/b/v0"}


# --- the run --------------------------------------------------------------------------


def run(args, ds: DataSet) -> Results:
    """Every round on one moto server (and one proxy); → the rounds' medians."""
    runs = fresh_dir(args.workdir / "runs")
    peers = {}
    if not args.skip_peers:
        peers = {k: v for k, v in (("dvc", find_dvc()), ("restic", shutil.which("restic"))) if v}
    server = proxy = None
    rounds: list[Results] = []
    proxy_ms = (0.0, 0.0)
    try:
        server = S3Server(args.port).start()
        for bucket in BUCKETS.values():
            server.bucket(bucket)
        if not args.skip_delay:
            proxy = DelayProxy(args.port + 1, args.port, args.delay_ms / 1000).start()
            proxy_ms = calibrate(server, proxy)
        for number in range(1, args.repeat + 1):
            one = Round(number, ds, runs, Meter(server), peers)
            one.run(server.url, proxy.url if proxy else None)
            rounds.append(one.res)
    finally:
        for mountpoint in runs.glob("round-*/mnt/*"):
            force_unmount(mountpoint)
        if proxy is not None:
            proxy.stop()
        if server is not None:
            server.stop()
    res = combine(rounds)
    res.proxy_ms = proxy_ms if proxy else None
    return res


def calibrate(server: S3Server, proxy: DelayProxy, count: int = 50) -> tuple[float, float]:
    """Milliseconds per 64 KiB ranged GET (artfs's client, one at a time) straight to
    moto and through the proxy: what the proxy adds, its own cost included."""
    from artfs.store import s3

    location = server.location("calibrate")
    s3.S3Objects(s3.connect(location)).put("blob", os.urandom(count * 64 * 1024))
    times = []
    for endpoint in (server.url, proxy.url):
        objects = s3.S3Objects(s3.connect(dataclasses.replace(location, endpoint=endpoint)))
        started = time.perf_counter()
        for i in range(count):
            objects.get("blob", i * 64 * 1024, 64 * 1024)
        times.append(1000 * (time.perf_counter() - started) / count)
    return times[0], times[1]


def combine(rounds: list[Results]) -> Results:
    """Each row from the round of its median wall time (the lower one of an even count),
    whole, so its requests and bytes go with its time; peak RSS the highest of all."""

    def medians(section: str) -> list[Step]:
        keys = list(dict.fromkeys((s.what, s.tool) for r in rounds for s in getattr(r, section)))
        rows = []
        for key in keys:
            samples = sorted(
                (s for r in rounds for s in getattr(r, section) if (s.what, s.tool) == key),
                key=lambda s: s.seconds,
            )
            rows.append(samples[(len(samples) - 1) // 2])
        return rows

    out = Results(medians("commits"), medians("reads"), medians("delayed"))
    out.daemon_rss = [rss for r in rounds for rss in r.daemon_rss]
    for r in rounds:
        out.errors.update(r.errors)
    return out


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the report -------------------------------------------------------------------------


def mib(n: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if n is None else fmt.format(n / MIB)


def kinds(counts: Counter) -> str:
    return " ".join(f"{kind}={n}" for kind, n in sorted(counts.items()))


def commit_table(steps: list[Step]) -> None:
    header = ["step", "tool", "wall s", "requests", "PUTs", "MiB sent", "peak RSS MiB", "by kind"]
    rows = [
        [
            s.what,
            s.tool,
            f"{s.seconds:.2f}",
            str(sum(s.requests.values())),
            str(s.puts),
            mib(s.sent),
            mib(s.rss, "{:.0f}"),
            kinds(s.requests),
        ]
        for s in steps
    ]
    print_table(header, rows)


def read_table(steps: list[Step]) -> None:
    header = [
        "read",
        "tool",
        "total s",
        "setup s",
        "first byte s",
        "read s",
        "read MiB/s",
        "MiB/s",
        "requests",
        "MiB answered",
        "RSS MiB",
        "by kind",
    ]
    rows = [
        [
            s.what,
            s.tool,
            f"{s.seconds:.2f}",
            "+".join(f"{x:.2f}" for x in s.setup),
            "-" if s.first_byte is None else f"{s.first_byte:.3f}",
            "-" if s.read_seconds is None else f"{s.read_seconds:.2f}",
            "-" if not (s.size and s.read_seconds) else f"{s.size / MIB / s.read_seconds:.1f}",
            "-" if not s.size else f"{s.size / MIB / s.seconds:.1f}",
            str(sum(s.requests.values())),
            mib(s.received),
            mib(s.rss, "{:.0f}"),
            kinds(s.requests),
        ]
        for s in steps
    ]
    print_table(header, rows)
    print(
        "total: from the fresh machine's first command to the last byte read; setup: artfs "
        "clone+mount, dvc pull, restic restore; first byte: from the first command; read: "
        "the reading alone (1 MiB read() calls; B: every file in sorted order), whose rate "
        "is read MiB/s; MiB/s: bytes read / total; MiB answered: of the server's answer "
        "bodies (a client may drop one part-way); RSS: the artfs mount daemon's VmHWM, else "
        "the command's peak"
    )


def goals(res: Results, ds: DataSet) -> None:
    """Each goal with the measured numbers, the ratio and PASS / FAIL (n/a: not measured)."""
    c, r = res.commits, res.reads
    rows = []

    b = res.find(c, "commit B", "artfs put")
    if b:
        limit = math.ceil(ds.b_bytes / PUT_PER) + PUT_CONSTANT
        rows.append(
            [
                f"commit B: PUTs <= 1 per {PUT_PER // MIB} MiB new + {PUT_CONSTANT}",
                f"{b.puts} PUTs for {ds.b_bytes / MIB:.1f} MiB (limit {limit})",
                f"{b.puts / limit:.2f}x of limit",
                verdict(b.puts <= limit),
            ]
        )
    mine, theirs = res.find(c, "commit A'", "artfs put"), res.find(c, "commit A'", "restic backup")
    rows.append(
        compare(
            f"commit A': bytes sent <= {BYTES_VS_RESTIC}x restic's",
            mine and mine.sent,
            theirs and theirs.sent,
            lambda x: f"{x / MIB:.1f} MiB",
            lambda ratio: ratio <= BYTES_VS_RESTIC,
        )
    )
    push = res.find(c, "commit B", "dvc push")
    rows.append(
        compare(
            f"commit B: >= {FASTER_THAN_PUSH:g}x faster than dvc push of B",
            b and b.seconds,
            push and push.seconds,
            lambda x: f"{x:.2f} s",
            lambda ratio: ratio <= 1 / FASTER_THAN_PUSH,
            speedup=True,
        )
    )
    mine, theirs = res.find(r, "read A", "artfs mount"), res.find(r, "read A", "dvc pull")
    rows.append(
        compare(
            "fresh read of A via the mount <= dvc pull + read",
            mine and mine.seconds,
            theirs and theirs.seconds,
            lambda x: f"{x:.2f} s",
            lambda ratio: ratio <= 1,
            speedup=True,
        )
    )
    if res.daemon_rss:
        top = max(res.daemon_rss)
        rows.append(
            [
                f"mount daemon peak RSS < {RSS_LIMIT // MIB} MiB",
                f"{top / MIB:.0f} MiB (max of {len(res.daemon_rss)} mounts)",
                f"{top / RSS_LIMIT:.2f}x of limit",
                verdict(top < RSS_LIMIT),
            ]
        )
    print_table(["goal", "measured: artfs vs peer", "ratio", "result"], rows)


def compare(label, mine, theirs, show, ok, speedup: bool = False) -> list[str]:
    if mine is None or not theirs:
        return [label, "not measured", "-", "n/a"]
    ratio = mine / theirs
    shown = f"{1 / ratio:.2f}x faster" if speedup else f"{ratio:.2f}x"
    return [label, f"{show(mine)} vs {show(theirs)}", shown, verdict(ok(ratio))]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(args, ds: DataSet, res: Results, load: float, seconds: float) -> None:
    spec, inserted = ds.spec, ds.a_mod.stat().st_size - ds.spec.a_size
    print(
        f"\nscale {args.scale:g}: A {spec.a_size / MIB:.0f} MiB; A' {inserted} bytes inserted, "
        f"5 x 2 MiB rewritten; B {spec.b_files} files in {spec.b_dirs} dirs, "
        f"{ds.b_bytes / MIB:.1f} MiB"
    )
    print(
        f"artfs {artfs_revision()}; {versions()}; moto on 127.0.0.1:{args.port}, one request "
        f"at a time; {os.cpu_count()} CPUs; load {load:.1f} before, {os.getloadavg()[0]:.1f} "
        f"after; {seconds:.0f} s in all; each row from the median of {args.repeat} rounds "
        "by wall time"
    )
    print("\ncommitting A, then A', then B (requests and bytes counted at the server)")
    commit_table(res.commits)
    print("\na fresh machine's first read")
    read_table(res.reads)
    if res.delayed:
        straight, through = res.proxy_ms or (0, 0)
        print(
            f"\na fresh machine's first read, {args.delay_ms:g} ms added to every request (a "
            f"64 KiB ranged GET: {straight:.1f} ms straight to moto, {through:.1f} ms through "
            "the proxy)"
        )
        read_table(res.delayed)
    print("\ngoals")
    goals(res, ds)
    for label, error in res.errors.items():
        print(f"FAILED {label}: {error}")


def versions() -> str:
    """The peers' versions: ``dvc --version`` prints it, ``restic version`` its second word."""
    found = []
    for name, cmd, word in (
        ("dvc", [find_dvc() or "dvc", "--version"], 0),
        ("restic", ["restic", "version"], 1),
    ):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.split()
        except (OSError, subprocess.TimeoutExpired):
            out = []
        found.append(f"{name} {out[word] if len(out) > word else '-'}")
    return ", ".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/artfs-bench-remote"))
    parser.add_argument(
        "--scale", type=float, default=0.1, help="size factor of bench_store's data (1.0: full)"
    )
    parser.add_argument("--full", action="store_true", help="the full size (--scale 1)")
    parser.add_argument("--port", type=int, default=18810, help="moto's; the proxy's is +1")
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--skip-delay", action="store_true", help="no reads through the proxy")
    parser.add_argument("--skip-peers", action="store_true", help="benchmark artfs only")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds; each row is from its median round"
    )
    args = parser.parse_args()
    if args.full:
        args.scale = 1.0
    args.workdir = args.workdir.resolve()
    # SIGTERM unwinds like Ctrl-C, so the mounts and the server are cleaned up; SIGINT
    # too when started in the background (where a shell leaves it ignored).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    ds = prepare(args.workdir, args.scale, log=log)
    load, started = os.getloadavg()[0], time.perf_counter()
    res = run(args, ds)
    report(args, ds, res, load, time.perf_counter() - started)


if __name__ == "__main__":
    main()
