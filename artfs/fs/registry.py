"""Which mounts of a store are running, and how to talk to them.

Each daemon writes ``STORE/run/PID.json`` ({pid, mountpoint, started}) and
listens on ``STORE/run/PID.sock`` for JSON-line requests (commit, stage,
unstage, flush, held).
Unix socket paths are limited to 108 bytes and store paths can be longer,
so both sides reach the socket through ``/proc/self/fd/N/`` of the run
directory.  No FUSE import here: the CLI uses it without pyfuse3.
"""

import json
import os
import socket
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from artfs.errors import ArtfsError, MountLost


@dataclass
class MountInfo:
    pid: int
    mountpoint: str
    started: float


def run_dir(store_path: str) -> str:
    path = os.path.join(store_path, "run")
    os.makedirs(path, exist_ok=True)
    return path


def _artfs_mounts() -> dict[str, str]:
    """Mount point -> "major:minor" of every artfs file system, from the kernel's table."""
    found = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype.startswith("fuse") and "artfs" in line:
                found[fields[4].replace("\\040", " ")] = fields[2]
    return found


def mounted_paths() -> set[str]:
    return set(_artfs_mounts())


def device_of(mountpoint: str) -> str | None:
    return _artfs_mounts().get(mountpoint)


def _alive(pid: int) -> bool:
    """Running, not a zombie: a killed daemon nobody has reaped yet is dead."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mounts(store_path: str) -> list[MountInfo]:
    """Running mounts of this store (records of dead daemons are dropped)."""
    directory, live = run_dir(store_path), []
    kernel = mounted_paths()
    for fname in sorted(os.listdir(directory)):
        if not fname.endswith(".json"):
            continue
        try:
            with open(os.path.join(directory, fname)) as f:
                info = MountInfo(**json.load(f))
        except (OSError, ValueError, TypeError):
            continue
        if _alive(info.pid) and info.mountpoint in kernel:
            live.append(info)
    return live


def register(store_path: str, mountpoint: str, started: float) -> str:
    """Write this daemon's record; returns the socket's file name in the run directory."""
    directory, pid = run_dir(store_path), os.getpid()
    for fname in os.listdir(directory):  # records of dead daemons (killed, crashed)
        stem = fname.split(".")[0]
        if stem.isdigit() and int(stem) != pid and not _alive(int(stem)):
            with suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, fname))
    tmp = os.path.join(directory, f"{pid}.json.tmp")
    with open(tmp, "w") as f:
        json.dump({"pid": pid, "mountpoint": mountpoint, "started": started}, f)
    os.replace(tmp, os.path.join(directory, f"{pid}.json"))
    return f"{pid}.sock"


def unregister(store_path: str) -> None:
    directory, pid = run_dir(store_path), os.getpid()
    for fname in (f"{pid}.json", f"{pid}.sock"):
        with suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, fname))


@contextmanager
def socket_path(store_path: str, fname: str):
    """A short path to ``STORE/run/fname``, valid while the context is open."""
    fd = os.open(run_dir(store_path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{fname}"
    finally:
        os.close(fd)


def request(store_path: str, info: MountInfo, message: dict, timeout: float = 3600) -> dict:
    """Send one request to a running daemon and wait for its answer."""
    with (
        socket_path(store_path, f"{info.pid}.sock") as path,
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock,
    ):
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError as e:
            raise ArtfsError(
                f"the mount at {info.mountpoint} does not answer ({e.strerror}); "
                f"'artfs umount {info.mountpoint}' and mount again"
            ) from None
        try:
            sock.sendall(json.dumps(message).encode() + b"\n")
            reply = sock.makefile("rb").readline()
        except TimeoutError:
            raise MountLost(
                f"the mount at {info.mountpoint} does not answer (timed out); "
                f"'artfs umount {info.mountpoint}' and mount again"
            ) from None
        except OSError:
            reply = b""
    if not reply:
        raise MountLost(
            f"the mount at {info.mountpoint} stopped before answering; see its "
            f"log, 'artfs umount {info.mountpoint}' and mount again"
        )
    return json.loads(reply)


def flush_reads(store_path: str, timeout: float = 10) -> None:
    """Have every mount of the store write the reads it holds in memory now, so that a
    run that ends has all its inputs stored.  A mount that does not answer is skipped:
    its reads still arrive within a second."""
    with suppress(OSError):
        for info in mounts(store_path):
            with suppress(ArtfsError):
                request(store_path, info, {"op": "flush"}, timeout=timeout)


def held_by_mounts(store_path: str, timeout: float = 30) -> tuple[set[bytes], set[bytes]]:
    """(tree digests, file digests) that running mounts still serve, also of versions
    removed since: gc keeps them.  ArtfsError when a mount cannot say."""
    trees: set[bytes] = set()
    files: set[bytes] = set()
    for info in mounts(store_path):
        try:
            reply = request(store_path, info, {"op": "held"}, timeout=timeout)
        except ArtfsError as e:
            raise ArtfsError(f"nothing was freed: {e}") from None
        if not reply.get("ok"):
            raise ArtfsError(
                f"nothing was freed: the mount at {info.mountpoint} cannot tell "
                f"what it serves ({reply.get('error')}); 'artfs umount "
                f"{info.mountpoint}' and mount again"
            )
        trees.update(bytes.fromhex(d) for d in reply["trees"])
        files.update(bytes.fromhex(d) for d in reply["files"])
    return trees, files
