"""Shared fixtures: a fresh store per test and a way to run the real CLI."""

import ctypes
import mmap
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from artfs.store import store as store_mod
from artfs.store.store import Store


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def store_dir(tmp_path, monkeypatch) -> str:
    """An empty store directory, also set as ARTFS_HOME for the API and the CLI."""
    path = str(tmp_path / "store")
    monkeypatch.setenv("ARTFS_HOME", path)
    monkeypatch.delenv("ARTFS_RUN_ID", raising=False)
    return path


@pytest.fixture
def store(store_dir) -> Store:
    return Store.open(store_dir)


@pytest.fixture
def cli(store_dir):
    """Run ``python -m artfs --store STORE ARGS...`` in a subprocess."""

    def run(
        *args: str, cwd: str | None = None, env: dict | None = None, input: str | None = None
    ) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "artfs", "--store", store_dir, *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            input=input,
            env={**os.environ, **(env or {})},
            timeout=300,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


def write(path, data: bytes | str) -> None:
    """Create a file (and its parent directories)."""
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def write_sample_tree(src, *, text: str = "alpha", binary_size: int = 3000) -> None:
    """What a version usually holds: a text file, a binary in a subdirectory, an
    executable script and a symlink."""
    write(src / "a.txt", text)
    write(src / "sub/b.bin", os.urandom(binary_size))
    write(src / "run.sh", "#!/bin/sh\n")
    os.chmod(src / "run.sh", 0o755)
    os.symlink("a.txt", src / "link")


_libc = ctypes.CDLL(None, use_errno=True)


def resident(path: str) -> bool:
    """Whether every page of the file is in the page cache (mincore(2) of a mapping of
    it; a read, even with RWF_NOWAIT, would start reading what is missing)."""
    size = os.path.getsize(path)
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    with open(path, "rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) as mm:
        vector = (ctypes.c_ubyte * pages)()
        # The address alone: the ctypes view of the buffer goes at once, before the close.
        address = ctypes.addressof(ctypes.c_char.from_buffer(mm))
        if _libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(size), vector) != 0:
            raise OSError(ctypes.get_errno(), "mincore failed")
        return all(byte & 1 for byte in vector)


def read(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """(path, state) of a seeded store (see test_names); each test works on its own copy."""
    from tests.test_names import make_template, store_state

    store = make_template(tmp_path_factory.mktemp("template"))
    return store, store_state(store)


@pytest.fixture
def seeded(template, store_dir):
    """The seeded store copied to store_dir (the ``cli`` fixture's store); its state."""
    from tests.test_names import copy_store

    copy_store(template[0], store_dir)
    return template[1]


def _mounted(path: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def unmount(path: str) -> None:
    """Unmount for sure: a dead mount left behind breaks every later test."""
    subprocess.run(["fusermount3", "-u", path], capture_output=True)
    if _mounted(path):
        subprocess.run(["fusermount3", "-u", "-z", path], capture_output=True)


@pytest.fixture(autouse=True)
def closes_stores():
    """Each test's stores are closed after it: an open one holds 1 TiB of address space."""
    yield
    store_mod.close_all()


@pytest.fixture(autouse=True)
def fast_tests_stay_in_process(request, monkeypatch):
    """A test marked ``fast`` starts no process (no CLI, mount or server): one that does
    fails here rather than quietly slowing the fast tier down."""
    if request.node.get_closest_marker("fast") is None:
        return

    def refuse(*args, **kwargs):
        raise AssertionError(f"{request.node.nodeid} is marked fast but starts a process")

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)
    monkeypatch.setattr(os, "fork", refuse)
    monkeypatch.setattr(os, "posix_spawn", refuse)


@pytest.fixture(autouse=True)
def no_mount_left(tmp_path):
    """Every test leaves no mount of its own behind: a dead one breaks the next tests."""
    yield
    with open("/proc/self/mountinfo") as f:
        left = [line.split()[4] for line in f if str(tmp_path) in line.split()[4]]
    assert left == []


@pytest.fixture
def mount(store_dir, tmp_path, cli):
    """A running ``artfs mount`` of the test's store; always unmounted afterwards."""
    path = str(tmp_path / "mnt")
    os.makedirs(path)
    started = cli("mount", path)
    try:
        assert started.code == 0, started.err
        yield path
    finally:
        unmount(path)


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on a free loopback port for the whole session (tests/s3server.py);
    ``s3_server.location()`` is a fresh bucket."""
    from tests.s3server import S3Server

    server = S3Server().start()  # a free port: suites may run side by side
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_target(request):
    """Where the contract suite makes its S3 buckets (``location()``): the server that
    ARTFS_TEST_S3_ENDPOINT names if it is set (tests/s3server.py's ExternalS3; the
    buckets made are removed at the end), else the session's moto server."""
    from tests.s3server import ExternalS3

    external = ExternalS3.from_env()
    if external is None:
        yield request.getfixturevalue("s3_server")
        return
    yield external
    external.remove_buckets()
