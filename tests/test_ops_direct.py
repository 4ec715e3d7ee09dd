"""The mount's Operations (artfs/fs/ops.py) driven directly, in-process, without FUSE:
each request is the call the kernel would make, and pyfuse3's readdir_reply is replaced
by a list that collects what the kernel would have been told."""

import errno
import json
import os
import stat
from types import SimpleNamespace

import pyfuse3
import pytest
import trio
from blake3 import blake3
from pyfuse3 import FUSEError

from artfs.fs.nodes import ARTIFACTS, META, ROOT, STAGINGS
from artfs.fs.ops import Operations
from artfs.store.commit import Commit
from artfs.store.staging import Staging
from tests.conftest import read, write, write_sample_tree

pytestmark = pytest.mark.fast

CTX = SimpleNamespace(pid=os.getpid(), uid=os.getuid(), gid=os.getgid(), umask=0o022)
BIG = 3 * 1024 * 1024  # several content-defined chunks (about 1.25 MiB each)


def commit_dir(store, name: str, src) -> str:
    with Commit(store) as c:
        version, _ = c.publish(name, c.scan_dir(str(src)))
        return version.label


def drive(store, requests, *, lineage: bool = False, warm: bool = False):
    """Run ``await requests(ops)`` against a fresh Operations inside trio; its result."""

    async def main():
        async with trio.open_nursery() as nursery:
            ops = Operations(store, nursery, lineage=lineage, warm=warm)
            try:
                return await requests(ops)
            finally:
                ops.close()
                nursery.cancel_scope.cancel()

    return trio.run(main)


@pytest.fixture
def kernel(monkeypatch):
    """What readdir replies: (name, inode, next offset) in order."""
    replies: list[tuple[bytes, int, int]] = []

    def reply(token, name, attr, next_id):
        replies.append((name, attr.st_ino, next_id))
        return True

    monkeypatch.setattr(pyfuse3, "readdir_reply", reply)
    return replies


@pytest.fixture
def dataset(store, tmp_path):
    """``ds`` with v0 (the sample tree plus a file of several chunks) and v1 (a.txt
    changed); returns the big file's bytes."""
    big = os.urandom(BIG)
    src = tmp_path / "src"
    write_sample_tree(src, text="alpha")
    write(src / "sub/big.bin", big)
    assert commit_dir(store, "ds", src) == "ds:v0"
    write(src / "a.txt", "beta")
    assert commit_dir(store, "ds", src) == "ds:v1"
    return big


async def walk(ops, *names: bytes) -> int:
    """The inode of ROOT/names..., looked up one name at a time as the kernel does."""
    inode = ROOT
    for name in names:
        inode = (await ops.lookup(inode, name, CTX)).st_ino
    return inode


async def read_all(ops, inode: int, chunk: int = 128 * 1024) -> bytes:
    info = await ops.open(inode, os.O_RDONLY, CTX)
    try:
        parts, offset = [], 0
        while data := await ops.read(info.fh, offset, chunk):
            parts.append(data)
            offset += len(data)
        return b"".join(parts)
    finally:
        await ops.release(info.fh)


async def listing(ops, inode: int, kernel) -> list[bytes]:
    fh = await ops.opendir(inode, CTX)
    kernel.clear()
    await ops.readdir(fh, 0, None)
    await ops.releasedir(fh)
    return [name for name, _, _ in kernel]


def test_lookup_and_read_a_committed_file(store, dataset):
    async def requests(ops):
        old = await walk(ops, b"artifacts", b"ds", b"v0", b"a.txt")
        new = await walk(ops, b"artifacts", b"ds", b"v1", b"a.txt")
        attr = await ops.getattr(old, CTX)
        return attr, await read_all(ops, old), await read_all(ops, new)

    attr, old, new = drive(store, requests)
    assert (old, new) == (b"alpha", b"beta")
    assert attr.st_size == 5
    assert stat.S_ISREG(attr.st_mode)


def test_read_across_chunk_boundaries(store, dataset):
    """A file of several chunks reads back whole, and at an offset inside a chunk."""
    assert len(store.file_chunks(store.lookup(store.resolve("ds:v0").root, b"sub/big.bin"))) > 1

    async def requests(ops):
        inode = await walk(ops, b"artifacts", b"ds", b"v0", b"sub", b"big.bin")
        whole = await read_all(ops, inode, chunk=1024 * 1024)
        info = await ops.open(inode, os.O_RDONLY, CTX)
        middle = await ops.read(info.fh, BIG // 2 - 7, 1000)
        past_end = await ops.read(info.fh, BIG, 10)
        await ops.release(info.fh)
        return whole, middle, past_end

    whole, middle, past_end = drive(store, requests)
    assert blake3(whole).digest() == blake3(dataset).digest()
    assert middle == dataset[BIG // 2 - 7 : BIG // 2 + 993]
    assert past_end == b""


def test_readdir_of_a_version_and_of_an_artifact(store, dataset, kernel):
    async def requests(ops):
        version = await walk(ops, b"artifacts", b"ds", b"v0")
        artifact = await walk(ops, b"artifacts", b"ds")
        return await listing(ops, version, kernel), await listing(ops, artifact, kernel)

    in_version, in_artifact = drive(store, requests)
    assert in_version == [b".", b"..", b"a.txt", b"link", b"run.sh", b"sub"]
    assert in_artifact[:2] == [b".", b".."]
    assert set(in_artifact[2:]) == {b"v0", b"v1", b"latest"}


def test_readdir_offsets_resume_where_the_kernel_stopped(store, dataset, kernel):
    """The kernel's buffer fills: the next readdir starts at the offset last replied."""

    async def requests(ops):
        inode = await walk(ops, b"artifacts", b"ds", b"v0")
        fh = await ops.opendir(inode, CTX)
        await ops.readdir(fh, 0, None)
        first = list(kernel)
        kernel.clear()
        await ops.readdir(fh, first[3][2], None)  # as if the buffer held only four
        await ops.releasedir(fh)
        return first, list(kernel)

    first, resumed = drive(store, requests)
    assert [name for name, _, _ in resumed] == [name for name, _, _ in first[4:]]
    assert [offset for _, _, offset in first] == list(range(1, len(first) + 1))


def test_symlinks_aliases_and_xattrs(store, dataset):
    async def requests(ops):
        link = await walk(ops, b"artifacts", b"ds", b"v0", b"link")
        latest = await walk(ops, b"artifacts", b"ds", b"latest")
        file = await walk(ops, b"artifacts", b"ds", b"v1", b"a.txt")
        return (
            await ops.readlink(link, CTX),
            await ops.readlink(latest, CTX),
            await ops.getxattr(file, b"user.artfs.version", CTX),
            await ops.getxattr(file, b"user.artfs.digest", CTX),
        )

    link, latest, version, digest = drive(store, requests)
    assert (link, latest, version) == (b"a.txt", b"v1", b"ds:v1")
    assert digest == blake3(b"beta").hexdigest().encode()


def test_meta_json_describes_the_version(store, dataset):
    async def requests(ops):
        inode = await walk(ops, b"meta", b"ds", b"v1.json")
        return json.loads(await read_all(ops, inode))

    meta = drive(store, requests)
    assert (meta["name"], meta["version"], meta["aliases"]) == ("ds", "v1", ["latest"])
    assert meta["base"] is None and meta["producer"] is None
    assert meta["digest"] == store.resolve("ds:v1").digest


def test_versions_are_read_only(store, dataset):
    async def requests(ops):
        version = await walk(ops, b"artifacts", b"ds", b"v0")
        file = await walk(ops, b"artifacts", b"ds", b"v0", b"a.txt")
        refused = {}
        for what, call in {
            "open for writing": ops.open(file, os.O_WRONLY, CTX),
            "mkdir": ops.mkdir(version, b"new", 0o755, CTX),
            "create": ops.create(version, b"new", 0o644, os.O_WRONLY, CTX),
            "unlink": ops.unlink(version, b"a.txt", CTX),
        }.items():
            with pytest.raises(FUSEError) as e:
                await call
            refused[what] = e.value.errno
        return refused

    assert drive(store, requests) == dict.fromkeys(
        ("open for writing", "mkdir", "create", "unlink"), errno.EROFS
    )


def test_missing_names_are_enoent(store, dataset):
    async def requests(ops):
        found = []
        for parent, name in [
            (ROOT, b"nothing"),
            (ARTIFACTS, b"no-such-artifact"),
            (await walk(ops, b"artifacts", b"ds"), b"v9"),
            (await walk(ops, b"artifacts", b"ds", b"v0"), b"absent.txt"),
            (META, b"no-such-artifact"),
        ]:
            with pytest.raises(FUSEError) as e:
                await ops.lookup(parent, name, CTX)
            found.append(e.value.errno)
        return found

    assert drive(store, requests) == [errno.ENOENT] * 5


def test_a_staging_file_written_through_operations_is_on_disk(store, dataset):
    async def requests(ops):
        staging = (await ops.mkdir(STAGINGS, b"fresh", 0o755, CTX)).st_ino
        info, attr = await ops.create(staging, b"new.txt", 0o644, os.O_WRONLY, CTX)
        written = await ops.write(info.fh, 0, b"hello staging")
        await ops.release(info.fh)
        return written, attr.st_mode, await read_all(ops, attr.st_ino)

    written, mode, content = drive(store, requests)
    assert (written, content) == (13, b"hello staging")
    assert stat.S_IMODE(mode) == 0o644
    assert read(os.path.join(Staging(store, "fresh").tree, "new.txt")) == b"hello staging"
