"""Small files that must survive a crash whole: written aside, synced, renamed in."""

import json
import os


def replace_json(path: str, value) -> None:
    """Make ``path`` hold ``value`` as JSON, all or nothing: a temporary file beside it,
    fsync, rename over it, then fsync of the directory so that the rename lasts too."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    sync_dir(os.path.dirname(path) or ".")


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write every byte: a write may take only part of them (a signal, a nearly full
    disk), and a short write left unnoticed is data lost."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def sync_dir(path: str) -> None:
    """Make a directory's entries (a rename, an unlink) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
