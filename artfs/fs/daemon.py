"""The mount daemon: mounting, serving, answering commits, unmounting cleanly.

``start`` runs the daemon as a child process and returns once the mount is
ready (or prints why it failed); ``serve`` is the daemon itself.  SIGTERM,
SIGINT and SIGHUP unmount cleanly; an unmount by ``fusermount3 -u`` ends it.
"""

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time

import pyfuse3
import trio

from artfs.errors import ArtfsError, Conflict, UsageError, disk_full
from artfs.fs import registry
from artfs.fs.ops import Operations
from artfs.store import meta
from artfs.store.names import parse_ref
from artfs.store.remoteconfig import interval_seconds
from artfs.store.store import Store

log = logging.getLogger("artfs.mount")
READY_TIMEOUT = 60
READ_AHEAD_KIB = 1024


def log_path(store_path: str) -> str:
    directory = os.path.join(store_path, "logs")
    os.makedirs(directory, exist_ok=True)
    return os.path.join(directory, "mount.log")


def check_mountpoint(mountpoint: str, nonempty: bool = False) -> str:
    path = os.path.abspath(mountpoint)
    if not os.path.isdir(path):
        raise UsageError(f"{mountpoint} is not a directory; create it first")
    if os.path.ismount(path) or path in registry.mounted_paths():
        raise UsageError(f"{mountpoint} is already a mount point; 'artfs umount {mountpoint}'")
    if not nonempty and os.listdir(path):  # the mount would hide its files without a word
        raise Conflict(
            f"{mountpoint} is not empty; mount on an empty directory, or pass "
            "--nonempty to hide its files while mounted"
        )
    return path


def start(
    store_path: str,
    mountpoint: str,
    allow_other: bool,
    lineage: bool = True,
    nonempty: bool = False,
) -> None:
    """Start the daemon in the background and wait until the mount answers."""
    mountpoint = check_mountpoint(mountpoint, nonempty)
    read_end, write_end = os.pipe()
    args = [
        sys.executable,
        "-m",
        "artfs",
        "--store",
        store_path,
        "mount",
        mountpoint,
        "--foreground",
        "--ready-fd",
        str(write_end),
    ]
    if allow_other:
        args.append("--allow-other")
    if not lineage:
        args.append("--no-lineage")
    if nonempty:
        args.append("--nonempty")
    # Few malloc arenas: the worker threads' buffers otherwise spread over many, and
    # peak memory while streaming big files varies by 50%.
    env = {**os.environ, "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2")}
    with open(log_path(store_path), "ab") as logfile:
        child = subprocess.Popen(
            args,
            pass_fds=(write_end,),
            stdin=subprocess.DEVNULL,
            stdout=logfile,
            stderr=logfile,
            start_new_session=True,
            env=env,
        )
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], READY_TIMEOUT)
        answer = os.read(read_end, 100) if ready else b""
    finally:
        os.close(read_end)
    if answer != b"ready\n":
        if child.poll() is None:
            child.terminate()
        raise ArtfsError(f"the mount did not start: {_last_error(store_path)}")


def _last_error(store_path: str) -> str:
    with open(log_path(store_path), errors="replace") as f:
        lines = [line.strip() for line in f if line.strip()]
    errors = [line for line in lines[-20:] if "error" in line.lower()]
    return (errors or lines or ["no log written"])[-1]


def serve(
    store_path: str,
    mountpoint: str,
    allow_other: bool,
    ready_fd: int | None,
    lineage: bool = True,
    nonempty: bool = False,
) -> None:
    """Run the mount in this process until it is unmounted or signalled."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )
    mountpoint = check_mountpoint(mountpoint, nonempty)
    store = Store.open(store_path)
    trio.run(_serve, store, mountpoint, allow_other, ready_fd, lineage)


async def _serve(
    store: Store, mountpoint: str, allow_other: bool, ready_fd: int | None, lineage: bool
):
    options = set(pyfuse3.default_options) | {"fsname=artfs", "subtype=artfs"}
    if allow_other:
        options.add("allow_other")
    async with trio.open_nursery() as nursery:
        ops = Operations(store, nursery, lineage=lineage, warm=True, push=True)
        pyfuse3.init(ops, mountpoint, options)
        try:
            sock_name = registry.register(store.path, mountpoint, time.time())
            listener = await _listen(store.path, sock_name)
            nursery.start_soon(trio.serve_listeners, lambda s: _answer(ops, s), [listener])
            nursery.start_soon(_watch_signals)
            nursery.start_soon(ops.record_reads_forever)
            nursery.start_soon(_announce_ready, store.path, mountpoint, ready_fd)
            if store.remote is not None:
                nursery.start_soon(_follow_remote, store)
            await pyfuse3.main()
        finally:
            pyfuse3.close(unmount=True)
            ops.close()
            try:
                ops.attribution.write_batch(*ops.attribution.take_batch())
            except (meta.METADATA_ERROR, OSError) as e:  # a full disk: nothing else can be done now
                log.warning("the last reads could not be stored (%s): lost", e)
            registry.unregister(store.path)
            log.info("unmounted %s", mountpoint)
            nursery.cancel_scope.cancel()


async def _follow_remote(store: Store) -> None:
    """Take in what other machines publish, every $ARTFS_REMOTE_INTERVAL seconds (2): a
    HEAD when nothing changed.  The views see the new versions as any local commit's."""
    interval = interval_seconds()
    while True:
        await trio.sleep(interval)
        problem = store.remote_problem
        await trio.to_thread.run_sync(store.refresh)
        if store.remote_problem != problem:
            log.warning("remote: %s", store.remote_problem or "reachable again")


async def _announce_ready(store_path: str, mountpoint: str, ready_fd: int | None) -> None:
    """Once the kernel has finished its handshake (a stat through the mount is answered),
    tune it and tell the waiting ``artfs mount`` that the mount is ready."""
    await trio.to_thread.run_sync(os.stat, mountpoint)
    _raise_read_ahead(mountpoint)
    log.info("mounted %s at %s", store_path, mountpoint)
    if ready_fd is not None:
        os.write(ready_fd, b"ready\n")
        os.close(ready_fd)


def _raise_read_ahead(mountpoint: str, kib: int = READ_AHEAD_KIB) -> None:
    """Let the kernel ask for up to ``kib`` per read instead of 128 KiB: fewer, larger
    requests.  Only root may; pyfuse3 cannot pass max_read, so this is the way."""
    device = registry.device_of(mountpoint)  # not os.stat: we are not serving yet
    knob = f"/sys/class/bdi/{device}/read_ahead_kb"
    try:
        with open(knob, "w") as f:
            f.write(str(kib))
    except OSError as e:
        log.info("kept the kernel's read-ahead (%s: %s)", knob, e.strerror)


async def _listen(store_path: str, sock_name: str) -> trio.SocketListener:
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    with registry.socket_path(store_path, sock_name) as path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        await sock.bind(path)
    sock.listen(16)
    return trio.SocketListener(sock)


async def _watch_signals() -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for signum in signals:
            log.info("signal %d: unmounting", signum)
            pyfuse3.terminate()
            return


async def _answer(ops: Operations, stream: trio.SocketStream) -> None:
    """One JSON request per connection, one JSON answer."""
    async with stream:
        data = b""
        while not data.endswith(b"\n"):
            chunk = await stream.receive_some(65536)
            if not chunk:
                return
            data += chunk
        try:
            reply = await _handle(ops, json.loads(data))
        except ArtfsError as e:
            reply = {"ok": False, "error": str(e), "usage": isinstance(e, UsageError)}
        except (OSError, *meta.FULL_ERRORS) as e:
            # a full disk, say: the commit failed and the staging is intact
            reply = {"ok": False, "error": _os_error(ops.store.path, e), "usage": False}
        except Exception as e:  # noqa: BLE001 - the client must get an answer; the log the trace
            log.exception("request failed")
            reply = {"ok": False, "error": f"internal error: {e}", "usage": False}
        await stream.send_all(json.dumps(reply).encode() + b"\n")


def _os_error(store_path: str, e: OSError | meta.METADATA_ERROR) -> str:
    if meta.is_disk_full(e) or not isinstance(e, OSError):  # LMDB's errors here: all "full"
        return str(disk_full(store_path))
    return f"{e.strerror or e}{f': {e.filename}' if e.filename else ''}"


async def _handle(ops: Operations, request: dict) -> dict:
    if request.get("op") == "commit":
        options = {
            k: request[k]
            for k in ("message", "aliases", "type", "metadata", "run_id", "pid", "skip_special")
            if k in request
        }
        warnings: list[str] = []
        version, created = await ops.commit(request["name"], warn=warnings.append, **options)
        return {"ok": True, "version": version.label, "created": created, "warnings": warnings}
    if request.get("op") == "flush":  # a run ends: its reads must be stored now
        await ops.record_reads()
        return {"ok": True}
    if request.get("op") == "held":  # gc asks what it must keep for this mount
        trees, files = ops.held_digests()
        return {"ok": True, "trees": [d.hex() for d in trees], "files": [d.hex() for d in files]}
    if request.get("op") == "stage":
        base = ops.store.resolve(parse_ref(request["base"])) if request.get("base") else None
        return {"ok": True, "replaced": await ops.restage(request["name"], base)}
    if request.get("op") == "unstage":
        await ops.unstage(request["name"], force=bool(request.get("force")))
        return {"ok": True}
    raise UsageError(f"unknown request {request.get('op')!r}")


def unmount(mountpoint: str) -> None:
    """Unmount, also when the daemon died and left a dead mount behind."""
    path = os.path.abspath(mountpoint)
    if path not in registry.mounted_paths() and not os.path.ismount(path):
        raise ArtfsError(f"{mountpoint} is not mounted")
    result = subprocess.run(["fusermount3", "-u", path], capture_output=True, text=True)
    if result.returncode != 0:
        lazy = subprocess.run(["fusermount3", "-u", "-z", path], capture_output=True, text=True)
        if lazy.returncode != 0:
            raise ArtfsError(f"cannot unmount {mountpoint}: {result.stderr.strip()}")
    _wait_unmounted(path)


def _wait_unmounted(path: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while path in registry.mounted_paths() and time.monotonic() < deadline:
        time.sleep(0.05)
