"""Staging behaves like a local disk, and a version keeps what tools wrote.

Every test runs a real mount (with --allow-other, so that other users reach it,
as on a shared machine) and compares with what ext4 gives: file types,
owners, modes after the caller's umask, errno values, path lengths, times,
link counts, ``.`` and ``..``.  Other users are real: a subprocess under
``setpriv``.
"""

import errno
import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from artfs.store import meta
from artfs.store.store import Store
from tests.conftest import read, unmount, write

NOBODY = 65534
GROUP = 4242  # a group nobody is not in


@pytest.fixture
def mount(store_dir, tmp_path, cli):
    """A running mount that other users may enter; always unmounted afterwards."""
    path = str(tmp_path / "mnt")
    os.makedirs(path)
    started = cli("mount", path, "--allow-other")
    try:
        assert started.code == 0, started.err
        yield path
    finally:
        unmount(path)


@pytest.fixture
def staging(mount):
    path = os.path.join(mount, "staging", "ds")
    os.mkdir(path)
    os.chmod(path, 0o777)
    return path


def as_user(
    cwd: str,
    code: str,
    uid: int = NOBODY,
    gid: int = NOBODY,
    umask: int = 0o022,
    groups: tuple[int, ...] = (),
) -> dict:
    """Run Python ``code`` as another user in the directory ``cwd`` (handed over open:
    the test's temporary directory is root's alone); it sets ``out`` (JSON) to report
    back."""
    group_args = ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
    fd = os.open(cwd, os.O_RDONLY | os.O_DIRECTORY)  # its own number: never dup2 over one
    program = (
        f"import errno, json, os, stat\nos.fchdir({fd})\nos.umask({umask})\n"
        "out = None\n" + textwrap.dedent(code) + "\nprint(json.dumps(out))"
    )
    try:
        done = subprocess.run(
            [
                "setpriv",
                f"--reuid={uid}",
                f"--regid={gid}",
                *group_args,
                sys.executable,
                "-c",
                program,
            ],
            pass_fds=(fd,),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.close(fd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def errno_of(fn) -> int | None:
    try:
        fn()
    except OSError as e:
        return e.errno
    return None


def commit(cli, name: str = "ds", *args: str):
    return cli("commit", name, *args)


def listing(root: str) -> dict:
    """type, mode, size, mtime (ns), link target and content digest of everything below."""
    import hashlib

    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            item = [stat.S_IFMT(st.st_mode), oct(stat.S_IMODE(st.st_mode)), st.st_mtime_ns]
            if stat.S_ISLNK(st.st_mode):
                item.append(os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                item += [st.st_size, hashlib.sha256(read(path)).hexdigest()]
            out[rel] = item
    return out


# --- file types -------------------------------------------------------------------------


def test_every_file_type_can_be_made_in_staging(staging):
    fifo, sock, chr_, blk = (os.path.join(staging, n) for n in ("fifo", "sock", "chr", "blk"))
    os.mkfifo(fifo, 0o640)
    import socket

    with socket.socket(socket.AF_UNIX) as server:
        server.bind(sock)
        server.listen(1)
        with socket.socket(socket.AF_UNIX) as client:  # a socket in staging works
            client.connect(sock)
            conn, _ = server.accept()
            client.sendall(b"ping")
            assert conn.recv(4) == b"ping"
            conn.close()
    os.mknod(chr_, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    os.mknod(blk, stat.S_IFBLK | 0o600, os.makedev(7, 0))
    kinds = {
        n: stat.S_IFMT(os.lstat(os.path.join(staging, n)).st_mode) for n in os.listdir(staging)
    }
    assert kinds == {
        "fifo": stat.S_IFIFO,
        "sock": stat.S_IFSOCK,
        "chr": stat.S_IFCHR,
        "blk": stat.S_IFBLK,
    }
    assert os.lstat(chr_).st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(os.lstat(fifo).st_mode) == 0o640
    # (opening a device gives EACCES: FUSE mounts are nodev, as user-mounted disks are)
    # EEXIST before anything else, as on ext4
    assert errno_of(lambda: os.mkfifo(fifo)) == errno.EEXIST
    assert errno_of(lambda: os.mknod(os.path.join(staging, "sock"), stat.S_IFIFO)) == errno.EEXIST
    assert errno_of(lambda: os.mkfifo(os.path.join(staging, "nodir", "f"))) == errno.ENOENT
    write(os.path.join(staging, "file"), b"x")
    assert errno_of(lambda: os.mkfifo(os.path.join(staging, "file", "f"))) == errno.ENOTDIR
    for name in ("fifo", "sock", "chr", "blk"):
        os.unlink(os.path.join(staging, name))
    assert os.listdir(staging) == ["file"]


def test_a_commit_with_special_files_refuses_naming_them_and_changes_nothing(
    cli, staging, store_dir
):
    write(os.path.join(staging, "data.txt"), b"data")
    os.mkfifo(os.path.join(staging, "fifo"))
    os.makedirs(os.path.join(staging, "sub"))
    os.mkfifo(os.path.join(staging, "sub", "pipe"))
    refused = commit(cli)
    assert refused.code == 2  # bad input, like a special file given to put
    assert refused.err.count("\n") == 1 and "fifo" in refused.err and "sub/pipe" in refused.err
    assert "--skip-special" in refused.err
    assert cli("ls", "ds").code == 1  # no version, not even an artifact
    assert sorted(os.listdir(staging)) == ["data.txt", "fifo", "sub"]
    skipped = commit(cli, "ds", "--skip-special")
    assert skipped.code == 0, skipped.err
    assert skipped.out.strip() == "ds:v0"
    assert "fifo" in skipped.err and "sub/pipe" in skipped.err
    files = [f["path"] for f in json.loads(cli("show", "ds:v0", "--json").out)["contents"]]
    assert files == ["data.txt"]
    assert stat.S_ISFIFO(os.lstat(os.path.join(staging, "fifo")).st_mode)  # left in place


def test_rename_inside_a_staging_never_gives_exdev_and_honours_flags(staging):
    os.makedirs(os.path.join(staging, "a", "b"))
    write(os.path.join(staging, "a", "b", "f"), b"f")
    write(os.path.join(staging, "g"), b"g")
    os.rename(os.path.join(staging, "a", "b", "f"), os.path.join(staging, "f"))
    os.rename(os.path.join(staging, "a"), os.path.join(staging, "z"))
    assert read(os.path.join(staging, "f")) == b"f"
    assert os.listdir(os.path.join(staging, "z")) == ["b"]
    os.rmdir(os.path.join(staging, "z", "b"))
    os.mkdir(os.path.join(staging, "full"))
    write(os.path.join(staging, "full", "x"), b"x")
    assert (
        errno_of(lambda: os.rename(os.path.join(staging, "z"), os.path.join(staging, "full")))
        == errno.ENOTEMPTY
    )
    assert errno_of(lambda: os.rmdir(os.path.join(staging, "full"))) == errno.ENOTEMPTY
    # renameat2 flags, as the disk does them
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def renameat2(old: str, new: str, flags: int) -> int:
        if libc.renameat2(-100, os.fsencode(old), -100, os.fsencode(new), flags) != 0:
            return ctypes.get_errno()
        return 0

    f, g = os.path.join(staging, "f"), os.path.join(staging, "g")
    assert renameat2(f, g, 1) == errno.EEXIST  # RENAME_NOREPLACE
    assert renameat2(f, g, 2) == 0  # RENAME_EXCHANGE
    assert (read(f), read(g)) == (b"g", b"f")


# --- owners and modes -------------------------------------------------------------------


def test_new_entries_belong_to_the_calling_user(staging):
    found = as_user(
        staging,
        """
        d = "."
        with open(d + "/file", "w") as f: f.write("x")
        os.mkdir(d + "/dir")
        os.mkfifo(d + "/fifo")
        os.symlink("file", d + "/link")
        os.chmod(d + "/file", 0o600)          # the owner may
        os.chown(d + "/file", -1, 65534)   # to a group of its own
        os.truncate(d + "/file", 0)
        out = {n: list(os.lstat(d + "/" + n)[4:6]) for n in os.listdir(d)}
    """,
    )
    assert found == {n: [NOBODY, NOBODY] for n in ("file", "dir", "fifo", "link")}
    assert stat.S_IMODE(os.stat(os.path.join(staging, "file")).st_mode) == 0o600
    # what the kernel refuses, as on ext4
    os.mkdir(os.path.join(staging, "roots"), 0o755)
    write(os.path.join(staging, "roots", "r"), b"r")
    refused = as_user(
        staging,
        """
        d = "roots"
        out = []
        for call in (lambda: os.chmod(d + "/r", 0o777), lambda: os.chown(d + "/r", 0, 0),
                     lambda: open(d + "/new", "w"), lambda: os.chown("file", 0, -1)):
            try:
                call()
                out.append(0)
            except OSError as e:
                out.append(e.errno)
    """,
    )
    assert refused == [errno.EPERM, errno.EPERM, errno.EACCES, errno.EPERM]


def test_a_setgid_directory_gives_its_group(staging):
    shared = os.path.join(staging, "shared")
    os.mkdir(shared)
    os.chown(shared, 0, GROUP)
    os.chmod(shared, 0o2777)
    found = as_user(
        shared,
        """
        fd = os.open("file", os.O_CREAT | os.O_WRONLY, 0o2755)  # not in the group
        os.close(fd)
        os.mkdir("sub")
        out = {n: [os.stat(n).st_gid, oct(os.stat(n).st_mode & 0o7777)] for n in ("file", "sub")}
    """,
        umask=0,
    )
    assert found == {"file": [GROUP, "0o755"], "sub": [GROUP, "0o2777"]}
    member = as_user(
        shared,
        """
        fd = os.open("own", os.O_CREAT | os.O_WRONLY, 0o2755)
        os.close(fd)
        out = oct(os.stat("own").st_mode & 0o7777)
    """,
        umask=0,
        groups=(GROUP,),
    )
    assert member == "0o2755"  # a member keeps the setgid bit


def test_writes_and_chown_clear_setuid_as_ext4_does(staging):
    path = os.path.join(staging, "tool")
    write(path, b"#!/bin/sh\n")
    os.chown(path, NOBODY, NOBODY)
    os.chmod(path, 0o6777)
    as_user(
        staging,
        """
        with open("tool", "a") as f: f.write("echo")
    """,
        uid=1000,
        gid=1000,
    )
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o0777
    os.chmod(path, 0o4755)
    os.chown(path, 1000, 1000)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o0755


def test_the_callers_umask_applies_not_the_daemons(staging):
    modes = as_user(
        staging,
        """
        d = "."
        os.mkdir(d + "/d777", 0o777)
        os.close(os.open(d + "/f666", os.O_CREAT | os.O_WRONLY, 0o666))
        os.mkfifo(d + "/p666", 0o666)
        os.close(os.open(d + "/f620", os.O_CREAT | os.O_WRONLY, 0o620))
        os.umask(0o027)
        os.close(os.open(d + "/f640", os.O_CREAT | os.O_WRONLY, 0o666))
        out = {n: oct(stat.S_IMODE(os.lstat(d + "/" + n).st_mode)) for n in os.listdir(d)}
    """,
        umask=0,
    )
    assert modes == {
        "d777": "0o777",
        "f666": "0o666",
        "p666": "0o666",
        "f640": "0o640",
        "f620": "0o620",
    }


# --- long paths -------------------------------------------------------------------------


def test_paths_as_long_as_the_kernel_allows_wherever_the_store_lives(cli, staging, mount):
    """Names of NAME_MAX bytes, and paths inside the mount of almost PATH_MAX: the
    store's own location (a long tmp path here) must not count."""
    name = "n" * 255
    assert len(os.path.join(staging, name)) < 4095
    write(os.path.join(staging, name), b"longest name")
    assert errno_of(lambda: os.mkdir(os.path.join(staging, "n" * 256))) == errno.ENAMETOOLONG
    here = os.getcwd()
    os.chdir(staging)  # one level at a time, as pjdfstest does: no call takes the whole path
    try:
        depth = 0
        while len(os.getcwd()) < 4096 + 512:
            os.mkdir("d" * 200)
            os.chdir("d" * 200)
            depth += 1
        with open("file", "wb") as f:
            f.write(b"deep")
        os.rename("file", "moved")
        assert read("moved") == b"deep"
        os.symlink("moved", "link")
        os.setxattr("moved", "user.k", b"v")
        assert os.getxattr("moved", "user.k") == b"v"
        assert sorted(os.listdir(".")) == ["link", "moved"]
    finally:
        os.chdir(here)
    rel = "/".join(["d" * 200] * depth)
    done = commit(cli)
    assert done.code == 0, done.err
    contents = json.loads(cli("show", "ds:v0", "--json").out)["contents"]
    assert sorted(f["path"] for f in contents) == sorted(
        [name, os.path.join(rel, "link"), os.path.join(rel, "moved")]
    )
    # the staging, now placeholders, still reads back through the mount
    os.chdir(staging)
    try:
        for _ in range(depth):
            os.chdir("d" * 200)
        assert read("moved") == b"deep"
    finally:
        os.chdir(here)


# --- times ------------------------------------------------------------------------------


def make_tree(root: str) -> None:
    """Files, a link and directories, each with its own nanosecond mtime."""
    write(os.path.join(root, "a.txt"), b"alpha")
    write(os.path.join(root, "sub", "b.bin"), os.urandom(300_000))
    write(os.path.join(root, "sub", "deeper", "c.txt"), b"c")
    os.symlink("a.txt", os.path.join(root, "link"))
    for i, rel in enumerate(
        ["a.txt", "sub/b.bin", "sub/deeper/c.txt", "link", "sub/deeper", "sub"]
    ):
        when = 1_600_000_000_123_456_789 + i * 1_000_000_007
        os.utime(os.path.join(root, rel), ns=(when, when), follow_symlinks=False)


def test_a_version_keeps_the_mtimes_committed_and_the_staging_keeps_its_own(
    cli, staging, mount, tmp_path, store_dir
):
    make_tree(staging)
    before = listing(staging)
    done = commit(cli)
    assert done.code == 0, done.err
    version = os.path.join(mount, "artifacts", "ds", "v0")
    assert listing(version) == before
    assert listing(staging) == before  # a commit never changes the working files
    on_disk = os.path.join(store_dir, "staging", "ds", "tree")  # placeholders: no content
    assert {k: v[:3] for k, v in listing(on_disk).items()} == {k: v[:3] for k, v in before.items()}
    for rel in ("a.txt", "sub"):  # atime and ctime as on a read-only disk
        st = os.lstat(os.path.join(version, rel))
        assert st.st_atime_ns == st.st_ctime_ns == st.st_mtime_ns
    # times alone are not a change of content
    os.utime(os.path.join(staging, "a.txt"), ns=(1, 1))
    again = commit(cli)
    assert again.code == 0 and again.out.strip() == "ds:v0", again.err
    # get restores them; a restart shows them
    assert cli("get", "ds:v0", str(tmp_path / "out")).code == 0
    assert listing(tmp_path / "out") == before
    unmount(mount)
    assert cli("mount", mount, "--allow-other").code == 0
    assert listing(version) == before


def test_put_log_artifact_and_copy_ups_keep_mtimes(cli, mount, tmp_path):
    src = tmp_path / "src"
    make_tree(str(src))
    before = listing(str(src))
    assert cli("put", str(src), "--name", "ds").code == 0
    assert listing(str(src)) == before  # the source is not touched
    version = os.path.join(mount, "artifacts", "ds", "v0")
    assert listing(version) == before
    assert cli("stage", "ds", "--from", "v0").code == 0
    staged = os.path.join(mount, "staging", "ds")
    assert listing(staged) == before
    os.close(os.open(os.path.join(staged, "a.txt"), os.O_RDWR))  # copied up, not changed
    os.close(os.open(os.path.join(staged, "sub", "b.bin"), os.O_WRONLY | os.O_APPEND))
    assert listing(staged) == before
    code = textwrap.dedent(f"""
        import artfs as wandb
        run = wandb.init(job_type="log")
        art = wandb.Artifact("logged", type="dataset")
        art.add_dir({str(src)!r})
        run.log_artifact(art)
        draft = wandb.Api().artifact("logged:v0").new_draft()
        with draft.new_file("extra.txt") as f:
            f.write("extra")
        run.log_artifact(draft)
        run.finish()
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert listing(os.path.join(mount, "artifacts", "logged", "v0")) == before
    derived = listing(os.path.join(mount, "artifacts", "logged", "v1"))
    assert {k: v for k, v in derived.items() if k != "extra.txt"} == before  # inherited


def test_a_format_2_store_is_upgraded_and_shows_creation_times(store_dir, cli, mount, tmp_path):
    src = tmp_path / "src"
    write(src / "sub" / "f.txt", b"f")
    assert cli("put", str(src), "--name", "old").code == 0
    unmount(mount)
    store = Store.open(store_dir)
    with store.meta.write() as txn:  # what format 2 wrote: no times
        key = meta.version_key("old", 0)
        record = meta.loads(txn.get(key, db=store.meta.db["versions"]))
        del record["attrs"], record["mtime_ns"]
        txn.put(key, meta.dumps(record), db=store.meta.db["versions"])
        txn.put(b"format", b"2", db=store.meta.db["info"])
    store.meta.close()
    from artfs.store import store as store_mod

    store_mod._open_stores.clear()
    assert cli("mount", mount, "--allow-other").code == 0
    with Store.open(store_dir).meta.read() as txn:
        assert (
            txn.get(b"format", db=Store.open(store_dir).meta.db["info"])
            == str(meta.FORMAT_VERSION).encode()
        )
    created = int(record["created"] * 1e9)
    version = os.path.join(mount, "artifacts", "old", "v0")
    assert os.stat(os.path.join(version, "sub", "f.txt")).st_mtime_ns == created
    assert os.stat(version).st_nlink == 3
    assert cli("verify").code == 0


# --- directories: . and .., link counts -----------------------------------------------


def dot_entries(path: str) -> list[str]:
    out = subprocess.run(["ls", "-a1", path], capture_output=True, text=True, check=True).stdout
    return [n for n in out.splitlines() if n in (".", "..")]


def test_every_directory_lists_dot_entries_and_counts_its_subdirectories(
    cli, staging, mount, tmp_path
):
    for sub in ("x", "y", "z/inner"):
        os.makedirs(os.path.join(staging, sub))
    write(os.path.join(staging, "x", "f"), b"f")
    assert commit(cli).code == 0
    version = os.path.join(mount, "artifacts", "ds", "v0")
    for path in (
        mount,
        os.path.join(mount, "artifacts"),
        os.path.join(mount, "staging"),
        os.path.join(mount, "artifacts", "ds"),
        version,
        os.path.join(version, "z"),
        staging,
        os.path.join(mount, "meta"),
    ):
        assert dot_entries(path) == [".", ".."], path
    assert os.stat(version).st_nlink == 5
    assert os.stat(os.path.join(version, "z")).st_nlink == 3
    assert os.stat(os.path.join(version, "x")).st_nlink == 2
    assert os.stat(staging).st_nlink == 5
    assert os.stat(mount).st_nlink == 5
    assert os.stat(os.path.join(mount, "artifacts")).st_nlink == 3
    # GNU find trusts link counts to skip work: it must still see every name
    found = subprocess.run(["find", version], capture_output=True, text=True, check=True)
    assert sorted(os.path.relpath(p, version) for p in found.stdout.split()) == sorted(
        [".", "x", "x/f", "y", "z", "z/inner"]
    )


# --- real tools -------------------------------------------------------------------------


def test_rsync_and_tar_of_a_committed_tree_match_the_source(cli, staging, mount, tmp_path):
    src = tmp_path / "src"
    make_tree(str(src))
    os.chmod(src / "sub" / "deeper" / "c.txt", 0o600)
    os.link(src / "a.txt", src / "hard")
    subprocess.run(["rsync", "-aH", f"{src}/", f"{staging}/"], check=True)
    assert commit(cli).code == 0
    version = os.path.join(mount, "artifacts", "ds", "v0")
    expected = listing(str(src))
    out = tmp_path / "out"
    subprocess.run(["rsync", "-a", f"{version}/", f"{out}/"], check=True)
    assert listing(str(out)) == expected
    dry = subprocess.run(
        ["rsync", "-ainc", f"{version}/", f"{src}/"], capture_output=True, text=True, check=True
    )
    assert [line for line in dry.stdout.splitlines() if not line.startswith(".d")] == []
    # POSIX (pax) archives keep nanoseconds; GNU tar's default format keeps seconds
    subprocess.run(
        ["tar", "--format=posix", "-cf", str(tmp_path / "v.tar"), "-C", version, "."], check=True
    )
    untarred = tmp_path / "untarred"
    os.makedirs(untarred)
    subprocess.run(["tar", "-xf", str(tmp_path / "v.tar"), "-C", str(untarred)], check=True)
    assert listing(str(untarred)) == expected
    assert listing(staging) == expected
