"""The mount as programs use it: staging against a plain directory, ordinary tools on
versions, refusals, copy-on-write, commits under load, freshness, restarts, damage, xattrs.

Every test runs a real ``artfs mount`` (the ``mount`` fixture) and checks real bytes,
modes and errno values.
"""

import contextlib
import ctypes
import errno
import gc
import hashlib
import itertools
import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import artfs
from artfs.fs import registry
from artfs.fs.ops import PUSH_BYTES
from artfs.store import gc as gc_mod
from artfs.store.staging import COW_XATTR
from tests.conftest import read, resident, unmount, write, write_sample_tree

# --- helpers ----------------------------------------------------------------------------


def snapshot(root, *, nlink: bool = False) -> dict:
    """Everything under ``root`` (not root itself): kind, mode, content or link target."""
    out = {}

    def walk(rel: str) -> None:
        for name in sorted(os.listdir(os.path.join(root, rel))):
            path_rel = os.path.join(rel, name)
            path = os.path.join(root, path_rel)
            st_ = os.lstat(path)
            mode = stat.S_IMODE(st_.st_mode)
            if stat.S_ISLNK(st_.st_mode):
                out[path_rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st_.st_mode):
                out[path_rel] = ("dir", oct(mode))
                walk(path_rel)
            elif stat.S_ISREG(st_.st_mode):
                out[path_rel] = ("file", oct(mode), read(path)) + ((st_.st_nlink,) if nlink else ())
            else:
                out[path_rel] = ("special", oct(st_.st_mode))

    walk("")
    return out


def committed(cli, name: str) -> str:
    """Commit staging ``name`` through the mount; returns the new version's label."""
    result = cli("commit", name)
    assert result.code == 0, result.err
    return result.out.strip()


def version_path(mount: str, label: str) -> str:
    name, version = label.split(":")
    return os.path.join(mount, "artifacts", name, version)


def put(cli, src, name: str, *args: str) -> str:
    result = cli("put", str(src), "--name", name, *args)
    assert result.code == 0, result.err
    return result.out.strip()


def show(cli, ref: str) -> dict:
    result = cli("show", ref, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def digests(cli, ref: str) -> dict[str, str]:
    return {f["path"]: f["digest"] for f in show(cli, ref)["contents"]}


def errno_of(fn) -> int | None:
    try:
        result = fn()
    except OSError as e:
        return e.errno
    if isinstance(result, int):
        os.close(result)
    return None


def run(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def mounted(path) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(path) for line in f)


# --- 1. differential: staging behaves like a plain directory --------------------------------

TOP = ["a", "b", "d", "e"]
TARGETS = ["a", "d", "d/a", "e/a", "nowhere"]
MODES = [0o600, 0o644, 0o755, 0o700, 0o444]


def selector(*kinds: str):
    """A path chosen when the operation runs: ("file", n) picks an existing regular file,
    ("old", n) any existing entry, ("new", n) a name that may not exist yet (fixed names,
    or a/x inside an existing directory)."""
    return st.tuples(st.sampled_from(kinds), st.integers(0, 10_000))


file_, old = selector("file", "file", "file", "old"), selector("old", "old", "old", "new")
new, any_ = selector("new"), selector("old", "new")
data = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=300),
    st.binary(min_size=1, max_size=64).map(lambda b: b * (250_000 // len(b))),
)
offsets = st.one_of(st.integers(0, 5000), st.just(400_000))
WEIGHTED = [
    (3, st.tuples(st.just("create"), any_, data)),
    (2, st.tuples(st.just("write_at"), file_, offsets, data.filter(len))),
    (2, st.tuples(st.just("append"), file_, data)),
    (2, st.tuples(st.just("truncate"), file_, offsets)),
    (3, st.tuples(st.just("rename"), old, any_)),
    (1, st.tuples(st.just("unlink"), old)),
    (2, st.tuples(st.just("mkdir"), new)),
    (1, st.tuples(st.just("rmdir"), old)),
    (1, st.tuples(st.just("symlink"), st.sampled_from(TARGETS), new)),
    (2, st.tuples(st.just("link"), file_, any_)),
    (2, st.tuples(st.just("chmod"), old, st.sampled_from(MODES))),
    (2, st.tuples(st.just("read"), file_)),
    (1, st.tuples(st.just("commit"))),  # mid-sequence: files turn into placeholders
]
operations = st.one_of(*[s for weight, s in WEIGHTED for _ in range(weight)])
# an empty staging gets a few entries first, so that most operations find something
SEED_OPS = [
    ("create", ("new", 0), b"alpha"),
    ("mkdir", ("new", 2)),
    ("create", ("new", 4), b"x" * 1000),
]
DIFF_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_examples = itertools.count()


def resolve(root: str, op: tuple) -> tuple:
    """The operation with its path selectors replaced by paths, as ``root`` is now."""
    entries, dirs, files = [], [], []
    for parent, dnames, fnames in os.walk(root):
        rel = os.path.relpath(parent, root)
        for name in sorted(dnames + fnames):
            path = name if rel == "." else os.path.join(rel, name)
            entries.append(path)
            if name in dnames and not os.path.islink(os.path.join(root, path)):
                dirs.append(path)
            elif os.path.isfile(os.path.join(root, path)):
                files.append(path)
    entries.sort()
    files.sort()
    names = TOP + [os.path.join(d, x) for d in sorted(dirs) for x in ("a", "x")]

    def pick(sel):
        kind, n = sel
        pool = {"file": files or entries, "old": entries}.get(kind) or names
        return pool[n % len(pool)]

    return tuple(pick(a) if isinstance(a, tuple) else a for a in op)


def apply_op(root: str, op: tuple) -> str:
    """Apply one operation under ``root``; 'ok' (or what was read) or the errno's name."""
    kind, *args = op

    def p(rel: str) -> str:
        return os.path.join(root, rel)

    try:
        if kind == "create":
            with open(p(args[0]), "wb") as f:
                f.write(args[1])
        elif kind in ("write_at", "append"):
            flags = os.O_WRONLY | (os.O_APPEND if kind == "append" else 0)
            fd = os.open(p(args[0]), flags)
            try:
                if kind == "append":
                    os.write(fd, args[1])
                else:
                    os.pwrite(fd, args[2], args[1])
            finally:
                os.close(fd)
        elif kind == "truncate":
            os.truncate(p(args[0]), args[1])
        elif kind == "rename":
            os.rename(p(args[0]), p(args[1]))
        elif kind == "unlink":
            os.unlink(p(args[0]))
        elif kind == "mkdir":
            os.mkdir(p(args[0]))
        elif kind == "rmdir":
            os.rmdir(p(args[0]))
        elif kind == "symlink":
            os.symlink(args[0], p(args[1]))
        elif kind == "link":
            os.link(p(args[0]), p(args[1]), follow_symlinks=False)
        elif kind == "chmod":
            os.chmod(p(args[0]), args[1])
        elif kind == "read":
            content = read(p(args[0]))
            return f"read {len(content)} {hashlib.sha256(content).hexdigest()[:16]}"
        else:
            raise AssertionError(kind)
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    return "ok"


def make_base(root) -> None:
    write(root / "a", b"alpha" * 10)
    write(root / "d/a", os.urandom(300_000))
    write(root / "d/b", b"#!/bin/sh\n")
    os.chmod(root / "d/b", 0o755)
    write(root / "d/e/a", b"deep")
    os.symlink("d/a", root / "b")
    os.mkdir(root / "e")


def check_differential(cli, mount, plain, name, ops) -> None:
    staging = os.path.join(mount, "staging", name)
    outcomes = []
    for op in ops:
        if op[0] == "commit":
            label = committed(cli, name)
            assert snapshot(version_path(mount, label)) == snapshot(plain)
            continue
        op = resolve(plain, op)
        outcomes.append((op[:2], apply_op(plain, op), apply_op(staging, op)))
    assert [o for o in outcomes if o[1] != o[2]] == []
    assert snapshot(staging, nlink=True) == snapshot(plain, nlink=True)
    label = committed(cli, name)
    assert snapshot(version_path(mount, label)) == snapshot(plain)
    # after the commit the staging is a clean view of the new version, same content
    assert snapshot(staging) == snapshot(plain)


class TestDifferential:
    @DIFF_SETTINGS
    @given(ops=st.lists(operations, min_size=5, max_size=40))
    def test_empty_staging_like_plain_dir(self, cli, mount, tmp_path, ops):
        n = next(_examples)
        name, plain = f"diff{n}", str(tmp_path / f"plain{n}")
        os.mkdir(plain)
        os.mkdir(os.path.join(mount, "staging", name))
        check_differential(cli, mount, plain, name, SEED_OPS + ops)

    @DIFF_SETTINGS
    @given(ops=st.lists(operations, min_size=5, max_size=40))
    def test_cow_staging_like_plain_dir(self, cli, mount, tmp_path, ops):
        n = next(_examples)
        name, plain = f"cow{n}", tmp_path / f"plain{n}"
        base = tmp_path / "base"
        if not base.exists():
            make_base(base)
        assert put(cli, base, name) == f"{name}:v0"
        assert cli("stage", name, "--from", "v0").code == 0
        shutil.copytree(base, plain, symlinks=True)
        assert snapshot(os.path.join(mount, "staging", name)) == snapshot(plain)
        check_differential(cli, mount, str(plain), name, ops)


def test_open_file_stays_usable_after_unlink(mount):
    """The temporary-file pattern (open, unlink, keep using the descriptor), as on disk."""
    staging = os.path.join(mount, "staging", "tmpf")
    os.mkdir(staging)
    with tempfile.TemporaryFile(dir=staging) as f:  # unlinked as soon as it is made
        f.write(b"scratch data")
        f.flush()
        assert os.fstat(f.fileno()).st_size == 12
        f.seek(0)
        assert f.read() == b"scratch data"
        os.ftruncate(f.fileno(), 7)
        f.seek(0)
        assert f.read() == b"scratch"
    assert os.listdir(staging) == []


def test_a_small_file_is_in_the_page_cache_once_opened(cli, mount, tmp_path):
    """A file of at most PUSH_BYTES goes to the kernel's page cache with its open (no
    READ follows); a larger one is read when the kernel asks."""
    small, large = os.urandom(100_000), os.urandom(PUSH_BYTES + 4096)
    write(tmp_path / "src/small.bin", small)
    write(tmp_path / "src/large.bin", large)
    version = version_path(mount, put(cli, tmp_path / "src", "pushed"))
    assert resident(os.path.join(version, "small.bin"))  # opened by resident, never read
    assert not resident(os.path.join(version, "large.bin"))
    assert read(os.path.join(version, "small.bin")) == small
    assert read(os.path.join(version, "large.bin")) == large


READ_ALL_SCRIPT = r"""
import hashlib, json, os, random, sys, threading
root, seed = sys.argv[1], int(sys.argv[2])
names = sorted(os.path.relpath(os.path.join(d, f), root)
               for d, _, fs in os.walk(root) for f in fs)
digests, lock = {}, threading.Lock()
def reader(k):
    order = names[:]
    for round in range(3):
        random.Random(seed * 100 + k * 10 + round).shuffle(order)
        for name in order:
            with open(os.path.join(root, name), "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            with lock:
                assert digests.setdefault(name, digest) == digest, name
threads = [threading.Thread(target=reader, args=(k,)) for k in range(6)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(digests))
"""


def test_many_readers_of_the_same_small_files_at_once(cli, mount, tmp_path):
    """Threads of two processes read the same files at once, over and over: a file
    opened while another handle of it reads is not pushed (storing into a page that a
    READ in flight holds locked would hang the mount), and every read is whole."""
    files = {f"d{i % 4}/f{i}.bin": os.urandom(2000 + 7919 * i) for i in range(48)}
    for name, data in files.items():
        write(tmp_path / "src" / name, data)
    version = version_path(mount, put(cli, tmp_path / "src", "shared"))
    script = tmp_path / "read_all.py"
    script.write_text(READ_ALL_SCRIPT)
    readers = [
        subprocess.Popen(
            [sys.executable, str(script), version, str(seed)], stdout=subprocess.PIPE, text=True
        )
        for seed in (1, 2)
    ]
    outputs = [reader.communicate(timeout=120)[0] for reader in readers]
    assert [reader.returncode for reader in readers] == [0, 0]
    expected = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    assert [json.loads(out) for out in outputs] == [expected, expected]


# --- 2. ordinary tools --------------------------------------------------------------------


def make_source(root) -> None:
    write(root / "README.txt", "hello\n")
    write(root / "data/big.bin", os.urandom(3_000_000))
    write(root / "data/zeros.bin", bytes(500_000))
    write(root / "empty.txt", b"")
    write(root / "bin/run.sh", "#!/bin/sh\necho hi\n")
    os.chmod(root / "bin/run.sh", 0o755)
    write(root / "deep/a/b/c/leaf.txt", "leaf")
    os.symlink("data/big.bin", root / "link")
    os.mkdir(root / "emptydir")


def test_cp_rsync_tar_of_a_version(cli, mount, tmp_path):
    src = tmp_path / "src"
    make_source(src)
    version = version_path(mount, put(cli, src, "tools"))
    expected = snapshot(src)
    assert snapshot(version) == expected
    run("cp", "-a", version, str(tmp_path / "cp"))
    run("rsync", "-a", version + "/", str(tmp_path / "rsync") + "/")
    run("tar", "cf", str(tmp_path / "v.tar"), "-C", version, ".")
    os.mkdir(tmp_path / "tar")
    run("tar", "xf", str(tmp_path / "v.tar"), "-C", str(tmp_path / "tar"))
    for copy in ("cp", "rsync", "tar"):
        run("diff", "-r", "--no-dereference", str(src), str(tmp_path / copy))
        assert snapshot(tmp_path / copy) == expected, copy


def test_version_reads_the_same_after_the_kernel_forgets_its_inodes(cli, mount, tmp_path):
    """Dropping the kernel's dentries sends FORGET for every name a listing numbered;
    the names must be numbered again and read the same (run as root, as CI does)."""
    src = tmp_path / "src"
    for i in range(300):
        write(src / f"d{i % 7}" / f"f{i:03d}.txt", f"file {i}\n" * (i % 5))
    version = version_path(mount, put(cli, src, "many"))
    expected = snapshot(src)
    assert snapshot(version) == expected
    inode_before = os.stat(os.path.join(version, "d3", "f003.txt")).st_ino
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")  # dentries and inodes: the kernel sends FORGET for them
    time.sleep(0.5)  # the daemon handles them before the next lookup, so numbers change
    assert snapshot(version) == expected
    find = run("find", version, "-printf", "%s %P\n").stdout.splitlines()
    assert len(find) == 1 + 7 + 300
    assert f"{len('file 3' + chr(10)) * 3} d3/f003.txt" in find
    assert os.stat(os.path.join(version, "d3", "f003.txt")).st_ino != inode_before


def test_cp_and_rsync_into_staging(cli, mount, tmp_path):
    src = tmp_path / "src"
    make_source(src)
    expected = snapshot(src)
    for tool, cmd in {
        "cpa": ["cp", "-a", str(src), None],
        "rsy": ["rsync", "-a", f"{src}/", None],
    }.items():
        staging = os.path.join(mount, "staging", tool)
        run(*[c or staging + ("/" if tool == "rsy" else "") for c in cmd])
        assert snapshot(staging) == expected
        run("diff", "-r", "--no-dereference", str(src), staging)
        version = version_path(mount, committed(cli, tool))
        assert snapshot(version) == expected
        run("diff", "-r", "--no-dereference", str(src), version)


def test_git_clone_into_staging_and_read_committed_repo(cli, mount, tmp_path):
    repo = tmp_path / "repo"
    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "safe.directory=*"]
    run(*git, "init", "-q", "-b", "main", str(repo))
    for i in range(3):
        write(repo / f"file{i}.txt", f"content {i}\n" * (i + 1))
        write(repo / "sub" / f"bin{i}.dat", os.urandom(20_000))
        run(*git, "add", "-A", cwd=repo)
        run(*git, "commit", "-q", "-m", f"commit {i}", cwd=repo)
    log = run(*git, "log", "--format=%H %s", cwd=repo).stdout
    staging = os.path.join(mount, "staging", "repo")
    run(*git, "clone", "-q", str(repo), staging)
    assert run(*git, "status", "--porcelain", cwd=staging).stdout == ""
    version = version_path(mount, committed(cli, "repo"))
    env = {"GIT_OPTIONAL_LOCKS": "0"}
    run(*git, "fsck", "--full", "--strict", cwd=version, env=env)
    assert run(*git, "log", "--format=%H %s", cwd=version, env=env).stdout == log
    assert run(*git, "status", "--porcelain", cwd=version, env=env).stdout == ""
    assert read(os.path.join(version, "sub/bin2.dat")) == read(repo / "sub/bin2.dat")


def test_sqlite_reads_a_database_in_a_version(cli, mount, tmp_path):
    db = tmp_path / "src" / "data.db"
    os.makedirs(db.parent)
    con = sqlite3.connect(db)
    con.execute("create table t (id integer primary key, name text, blob blob)")
    con.executemany(
        "insert into t values (?, ?, ?)", [(i, f"row {i}", os.urandom(1000)) for i in range(2000)]
    )
    con.commit()
    query = "select count(*), sum(id), group_concat(name), sum(length(blob)) from t"
    expected = con.execute(query).fetchone()
    rows = con.execute("select blob from t order by id").fetchall()
    con.close()
    version = version_path(mount, put(cli, db.parent, "sq"))
    ro = sqlite3.connect(f"file:{version}/data.db?mode=ro&immutable=1", uri=True)
    try:
        assert ro.execute("pragma integrity_check").fetchone() == ("ok",)
        assert ro.execute(query).fetchone() == expected
        assert ro.execute("select blob from t order by id").fetchall() == rows
    finally:
        ro.close()


def test_numpy_memmap_of_a_version_file(cli, mount, tmp_path):
    src = tmp_path / "src"
    os.makedirs(src)
    array = np.random.default_rng(7).standard_normal(700_000)
    array.tofile(src / "array.f64")
    np.save(src / "array.npy", array.reshape(700, 1000))
    version = version_path(mount, put(cli, src, "arr"))
    raw = np.memmap(os.path.join(version, "array.f64"), dtype=np.float64, mode="r")
    npy = np.load(os.path.join(version, "array.npy"), mmap_mode="r")
    try:
        assert raw.shape == array.shape and np.array_equal(raw, array)
        assert np.array_equal(npy, array.reshape(700, 1000))
        assert float(raw[-1]) == float(array[-1])
    finally:
        del raw, npy
        gc.collect()


# --- 3. versions refuse every change --------------------------------------------------------


def test_every_mutation_of_a_version_is_erofs(cli, mount, tmp_path):
    src = tmp_path / "src"
    write(src / "f.txt", "frozen")
    write(src / "sub/inner.txt", "inner")
    os.mkdir(src / "empty")
    os.symlink("f.txt", src / "ln")
    label = put(cli, src, "ro")
    art = os.path.join(mount, "artifacts", "ro")
    v = version_path(mount, label)
    staging = os.path.join(mount, "staging", "ro")
    os.mkdir(staging)

    def p(rel):
        return os.path.join(v, rel)

    before = snapshot(v)
    xattrs_before = {
        rel: {n: os.getxattr(p(rel), n) for n in os.listxattr(p(rel))}
        for rel in ("f.txt", "sub", "")
    }
    attempts = {
        "open r+": lambda: os.open(p("f.txt"), os.O_RDWR),
        "open w": lambda: os.open(p("f.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        "open a": lambda: os.open(p("f.txt"), os.O_WRONLY | os.O_APPEND),
        "open O_WRONLY": lambda: os.open(p("f.txt"), os.O_WRONLY),
        "open O_RDONLY|O_TRUNC": lambda: os.open(p("f.txt"), os.O_RDONLY | os.O_TRUNC),
        "create": lambda: os.open(p("new.txt"), os.O_WRONLY | os.O_CREAT | os.O_EXCL),
        "create in subdir": lambda: os.open(p("sub/new"), os.O_CREAT | os.O_WRONLY, 0o644),
        "mkdir": lambda: os.mkdir(p("newdir")),
        "rmdir": lambda: os.rmdir(p("empty")),
        "unlink": lambda: os.unlink(p("f.txt")),
        "unlink symlink": lambda: os.unlink(p("ln")),
        "rename": lambda: os.rename(p("f.txt"), p("g.txt")),
        "rename dir": lambda: os.rename(p("sub"), p("sub2")),
        "rename to staging": lambda: os.rename(p("f.txt"), os.path.join(staging, "f.txt")),
        "symlink": lambda: os.symlink("f.txt", p("ln2")),
        "link": lambda: os.link(p("f.txt"), p("f2.txt")),
        "link to staging": lambda: os.link(p("f.txt"), os.path.join(staging, "f.txt")),
        "chmod": lambda: os.chmod(p("f.txt"), 0o600),
        "chmod dir": lambda: os.chmod(v, 0o700),
        "chown": lambda: os.chown(p("f.txt"), 1234, 1234),
        "truncate": lambda: os.truncate(p("f.txt"), 0),
        "truncate grow": lambda: os.truncate(p("f.txt"), 100),
        "utime": lambda: os.utime(p("f.txt"), (0, 0)),
        "utime now": lambda: os.utime(p("sub")),
        "setxattr": lambda: os.setxattr(p("f.txt"), "user.test", b"1"),
        "setxattr artfs": lambda: os.setxattr(p("f.txt"), "user.artfs.digest", b"00"),
        "removexattr": lambda: os.removexattr(p("f.txt"), "user.artfs.digest"),
        "mknod regular": lambda: os.mknod(p("node"), 0o644 | stat.S_IFREG),
        "mkfifo": lambda: os.mkfifo(p("fifo")),
        "rmdir version": lambda: os.rmdir(os.path.join(art, "v0")),
        "rename version": lambda: os.rename(os.path.join(art, "v0"), os.path.join(art, "v9")),
        "unlink alias": lambda: os.unlink(os.path.join(art, "latest")),
        "mkdir in artifacts": lambda: os.mkdir(os.path.join(mount, "artifacts", "new")),
        "mkdir at root": lambda: os.mkdir(os.path.join(mount, "new")),
        "write meta": lambda: os.open(os.path.join(mount, "meta", "ro", "v0.json"), os.O_WRONLY),
    }
    got = {what: errno_of(fn) for what, fn in attempts.items()}
    assert snapshot(v) == before
    assert {
        rel: {n: os.getxattr(p(rel), n) for n in os.listxattr(p(rel))}
        for rel in ("f.txt", "sub", "")
    } == xattrs_before
    assert os.listdir(staging) == []
    assert read(p("f.txt")) == b"frozen"
    assert {w: errno.errorcode.get(e, e) for w, e in got.items() if e != errno.EROFS} == {}


# --- 4. copy-on-write staging ------------------------------------------------------------


def test_cow_staging_keeps_placeholders_for_untouched_files(cli, mount, store_dir, tmp_path):
    src = tmp_path / "src"
    files = {
        "keep.bin": os.urandom(2_500_000),
        "edit.txt": b"edit me\n",
        "del.txt": b"delete me",
        "mv.txt": b"move me",
        "mode.sh": b"#!/bin/sh\n",
        "sub/deep.txt": b"deep",
        "sub/keep2.txt": b"keep too",
    }
    for rel, content in files.items():
        write(src / rel, content)
    assert put(cli, src, "cow") == "cow:v0"
    base = digests(cli, "cow:v0")
    assert cli("stage", "cow", "--from", "v0").code == 0
    staging = os.path.join(mount, "staging", "cow")
    under = os.path.join(store_dir, "staging", "cow", "tree")

    def assert_placeholder(rel, digest_hex, size):
        path = os.path.join(under, rel)
        assert os.getxattr(path, COW_XATTR).hex() == digest_hex, rel
        st_ = os.lstat(path)
        assert (st_.st_blocks, st_.st_size) == (0, size), rel

    for rel, content in files.items():
        assert_placeholder(rel, base[rel], len(content))
        assert read(os.path.join(staging, rel)) == content
        assert_placeholder(rel, base[rel], len(content))  # reading copies nothing in

    with open(os.path.join(staging, "edit.txt"), "ab") as f:
        f.write(b"edited\n")
    os.unlink(os.path.join(staging, "del.txt"))
    os.rename(os.path.join(staging, "mv.txt"), os.path.join(staging, "sub/moved.txt"))
    os.chmod(os.path.join(staging, "mode.sh"), 0o755)
    with open(os.path.join(staging, "new.txt"), "wb") as f:
        f.write(b"brand new")

    assert COW_XATTR not in os.listxattr(os.path.join(under, "edit.txt"))
    assert_placeholder("sub/moved.txt", base["mv.txt"], len(files["mv.txt"]))
    assert_placeholder("mode.sh", base["mode.sh"], len(files["mode.sh"]))
    assert_placeholder("keep.bin", base["keep.bin"], len(files["keep.bin"]))
    assert stat.S_IMODE(os.stat(os.path.join(staging, "mode.sh")).st_mode) == 0o755
    expected = {
        "keep.bin": files["keep.bin"],
        "edit.txt": b"edit me\nedited\n",
        "mode.sh": files["mode.sh"],
        "sub/deep.txt": b"deep",
        "sub/keep2.txt": b"keep too",
        "sub/moved.txt": b"move me",
        "new.txt": b"brand new",
    }
    assert {r: c[2] for r, c in snapshot(staging).items() if c[0] == "file"} == expected

    assert committed(cli, "cow") == "cow:v1"
    after = show(cli, "cow:v1")
    new = {f["path"]: f["digest"] for f in after["contents"]}
    modes = {f["path"]: f["mode"] for f in after["contents"]}
    assert set(new) == set(expected)
    for rel in ("keep.bin", "sub/deep.txt", "sub/keep2.txt", "mode.sh"):
        assert new[rel] == base[rel], rel
    assert new["sub/moved.txt"] == base["mv.txt"]
    assert new["edit.txt"] != base["edit.txt"]
    assert modes["mode.sh"] == oct(0o755)
    v1 = version_path(mount, "cow:v1")
    assert {r: c[2] for r, c in snapshot(v1).items() if c[0] == "file"} == expected
    # the committed files are placeholders of v1 now, untouched ones still of v0
    assert_placeholder("edit.txt", new["edit.txt"], len(expected["edit.txt"]))
    assert_placeholder("keep.bin", base["keep.bin"], len(files["keep.bin"]))
    assert read(os.path.join(staging, "edit.txt")) == expected["edit.txt"]


def test_a_reader_of_a_placeholder_follows_copy_up_and_commit(cli, mount, tmp_path):
    """One descriptor keeps reading a staged file while another copies it in and a
    commit turns it into a placeholder of the new version: every read has the bytes
    the file holds at that moment (the kernel's cached pages are dropped before each)."""
    data = os.urandom(3 << 20)  # several chunks
    write(tmp_path / "src" / "big.bin", data)
    put(cli, tmp_path / "src", "follow")
    assert cli("stage", "follow", "--from", "v0").code == 0
    path = os.path.join(mount, "staging", "follow", "big.bin")

    def read_all(fd) -> bytes:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return os.pread(fd, len(data) + 1, 0)

    fd = os.open(path, os.O_RDONLY)
    try:
        assert read_all(fd) == data  # from the store
        with open(path, "r+b") as w:  # copies the file in
            w.seek(2 << 20)
            w.write(b"X" * 10)
        edited = data[: 2 << 20] + b"X" * 10 + data[(2 << 20) + 10 :]
        assert read_all(fd) == edited  # from the real file
        assert committed(cli, "follow") == "follow:v1"  # a placeholder of v1 again
        assert read_all(fd) == edited
    finally:
        os.close(fd)


# --- 5. commits while a writer appends ------------------------------------------------------

RECORD = 4096


def record(i: int) -> bytes:
    return f"{i:08d} ".encode().ljust(RECORD - 1, b"x") + b"\n"


def test_commit_is_atomic_while_a_writer_appends(cli, mount):
    staging = os.path.join(mount, "staging", "log")
    os.mkdir(staging)
    path = os.path.join(staging, "log.txt")
    stop, written, failure = threading.Event(), [], []

    def writer():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                i = 0
                while not stop.is_set() and i < 20_000:
                    assert os.write(fd, record(i)) == RECORD
                    os.fsync(fd)
                    written.append(i)
                    i += 1
            finally:
                os.close(fd)
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            failure.append(e)

    thread = threading.Thread(target=writer)
    thread.start()
    labels = []
    try:
        while len(written) < 5:
            time.sleep(0.01)
        for _ in range(6):
            labels.append(committed(cli, "log"))
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(60)
    assert failure == [] and not thread.is_alive()
    sizes = []
    for label in labels:
        content = read(os.path.join(version_path(mount, label), "log.txt"))
        assert len(content) % RECORD == 0, (label, len(content))
        count = len(content) // RECORD
        assert content == b"".join(record(i) for i in range(count)), label
        sizes.append(count)
    assert sizes == sorted(sizes) and sizes[-1] > 0
    assert len(set(labels)) > 1
    final = read(path)
    assert len(final) == len(written) * RECORD
    assert final == b"".join(record(i) for i in written)


def test_write_that_copies_a_placeholder_in_during_a_commit_is_kept(
    cli, mount, store_dir, tmp_path
):
    """A descriptor kept open across commits: its next write first copies the (now clean)
    file back in from the store; a commit asked for meanwhile must not lose that write."""
    src = tmp_path / "src"
    base_records = 16_000  # 64 MiB: copying it back in takes a while
    write(src / "log.txt", b"".join(record(i) for i in range(base_records)))
    put(cli, src, "race")
    assert cli("stage", "race", "--from", "v0").code == 0
    path = os.path.join(mount, "staging", "race", "log.txt")
    (info,) = registry.mounts(store_dir)
    request = {"op": "commit", "name": "race"}  # what 'artfs commit' sends
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    count = base_records
    try:
        for delay in (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08):
            assert registry.request(store_dir, info, request)["ok"]  # the file is clean now
            writer = threading.Thread(target=os.write, args=(fd, record(count)))
            writer.start()  # copies the file in, then appends
            time.sleep(delay)
            assert registry.request(store_dir, info, request)["ok"]
            writer.join(30)
            count += 1
    finally:
        os.close(fd)
    content = read(path)
    assert len(content) == count * RECORD
    assert content == b"".join(record(i) for i in range(count))
    version = version_path(mount, committed(cli, "race"))
    assert read(os.path.join(version, "log.txt")) == content


def test_write_through_a_descriptor_after_rename_and_commit(cli, mount, store_dir):
    """A descriptor follows its file through a rename; a commit in between makes the file
    a placeholder again, so the write must copy the content in under the new name."""
    staging = os.path.join(mount, "staging", "mv")
    os.mkdir(staging)
    fd = os.open(os.path.join(staging, "f.txt"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"hello world\n")
        assert committed(cli, "mv") == "mv:v0"
        os.rename(os.path.join(staging, "f.txt"), os.path.join(staging, "g.txt"))
        os.pwrite(fd, b"HELLO", 0)
        os.fsync(fd)
        assert os.pread(fd, 100, 0) == b"HELLO world\n"
    finally:
        os.close(fd)
    assert read(os.path.join(staging, "g.txt")) == b"HELLO world\n"
    assert COW_XATTR not in os.listxattr(os.path.join(store_dir, "staging", "mv", "tree", "g.txt"))
    version = version_path(mount, committed(cli, "mv"))
    assert read(os.path.join(version, "g.txt")) == b"HELLO world\n"


# --- 6. versions made elsewhere appear ------------------------------------------------------


def test_put_from_another_process_appears_within_a_second(cli, mount, tmp_path):
    src = tmp_path / "src"
    write(src / "x.txt", "one")
    put(cli, src, "fresh")
    art = os.path.join(mount, "artifacts", "fresh")
    assert sorted(os.listdir(art)) == ["latest", "v0"]
    assert os.readlink(os.path.join(art, "latest")) == "v0"
    assert not os.path.exists(os.path.join(mount, "artifacts", "other"))

    write(src / "x.txt", "two")
    put(cli, src, "fresh")
    put(cli, src, "other")
    start = time.monotonic()
    while time.monotonic() - start < 1.0:
        if (
            "v1" in os.listdir(art)
            and os.readlink(os.path.join(art, "latest")) == "v1"
            and "other" in os.listdir(os.path.join(mount, "artifacts"))
        ):
            break
        time.sleep(0.02)
    assert sorted(os.listdir(art)) == ["latest", "v0", "v1"]
    assert os.readlink(os.path.join(art, "latest")) == "v1"
    assert read(os.path.join(art, "latest", "x.txt")) == b"two"
    assert read(os.path.join(art, "v0", "x.txt")) == b"one"
    assert read(os.path.join(mount, "artifacts", "other", "v0", "x.txt")) == b"two"
    assert "v1.json" in os.listdir(os.path.join(mount, "meta", "fresh"))
    meta = json.loads(read(os.path.join(mount, "meta", "fresh", "v1.json")))
    assert (meta["version"], meta["aliases"]) == ("v1", ["latest"])


# --- 7. restarts ---------------------------------------------------------------------------


def write_synced(path: str, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)


PR_SET_CHILD_SUBREAPER = 36


def daemon_pid(cli) -> int:
    result = cli("status", "--json")
    assert result.code == 0, result.err
    mounts = json.loads(result.out)
    assert len(mounts) == 1, mounts
    return mounts[0]["pid"]


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def reap(pid: int, timeout: float = 10) -> None:
    """Wait for our (adopted) child ``pid`` to end and reap it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not end")


@contextlib.contextmanager
def adopting_orphans():
    """Make this process the reaper of its orphaned descendants, as the init of a container
    that reaps late (or never): a killed daemon then stays a zombie until reaped."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def test_staged_files_survive_umount_and_a_killed_daemon(cli, mount, store_dir):
    staging = os.path.join(mount, "staging", "keep")
    os.mkdir(staging)
    os.mkdir(os.path.join(staging, "sub"))
    contents = {"a.txt": b"first", "sub/b.bin": os.urandom(1_000_000)}
    for rel, content in contents.items():
        write_synced(os.path.join(staging, rel), content)

    result = cli("umount", mount)
    assert result.code == 0, result.err
    assert not mounted(mount)
    daemons = []
    with adopting_orphans():
        try:
            assert cli("mount", mount).code == 0
            daemons.append(daemon_pid(cli))
            for rel, content in contents.items():
                assert read(os.path.join(staging, rel)) == content

            write_synced(os.path.join(staging, "c.txt"), b"after restart")
            contents["c.txt"] = b"after restart"
            os.kill(daemons[0], signal.SIGKILL)
            deadline = time.monotonic() + 10
            while not gone(daemons[0]) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert gone(daemons[0])  # a zombie until reaped
            with pytest.raises(OSError) as e:
                os.listdir(staging)
            assert e.value.errno in (errno.ENOTCONN, errno.ECONNABORTED)
            result = cli("umount", mount)
            assert result.code == 0, result.err
            assert not mounted(mount)
            started = cli("mount", mount)
            assert started.code == 0, started.err
            daemons.append(daemon_pid(cli))  # the new daemon only, not the dead one
            for rel, content in contents.items():
                assert read(os.path.join(staging, rel)) == content
            assert committed(cli, "keep") == "keep:v0"
            assert read(os.path.join(mount, "artifacts", "keep", "v0", "c.txt")) == b"after restart"
        finally:
            if mounted(mount):
                cli("umount", mount)
            run_dir = os.path.join(store_dir, "run")
            daemons += [int(f.split(".")[0]) for f in os.listdir(run_dir) if f.endswith(".json")]
            for pid in set(daemons):
                reap(pid)


def test_gc_keeps_what_a_mount_serves_of_a_removed_version(cli, mount, tmp_path):
    """A file open through the mount reads to its end although its version was removed
    and gc ran; once the kernel lets go, the next gc frees it."""
    src = tmp_path / "src"
    data = os.urandom(3 << 20)  # several chunks, none shared with anything else
    write(src / "sub" / "big.bin", data)
    write(src / "other.txt", "other")
    version = version_path(mount, put(cli, src, "gone"))
    listed_only = os.path.join(version, "other.txt")  # the kernel knows it, nothing opened it
    assert os.path.exists(listed_only)
    with open(os.path.join(version, "sub", "big.bin"), "rb", buffering=0) as f:
        head = f.read(1 << 20)
        assert cli("rm", "gone:v0").code == 0
        result = cli("gc", "--json")
        assert result.code == 0, result.err
        assert json.loads(result.out)["chunks"] == 0
        assert head + f.read() == data
    assert read(listed_only) == b"other"
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")  # the kernel forgets the removed version's inodes
    deadline = time.monotonic() + 10
    while json.loads(cli("gc", "--json").out)["chunks"] == 0:
        assert time.monotonic() < deadline, "gc never freed the removed version"
        time.sleep(0.2)
    assert json.loads(cli("stats", "--json").out)["chunks"] == 0  # nothing else used them


def test_gc_frees_nothing_when_a_mount_does_not_answer(cli, mount, store, store_dir, tmp_path):
    src = tmp_path / "src"
    write(src / "a.bin", os.urandom(100_000))
    put(cli, src, "junk")
    assert cli("rm", "junk:v0").code == 0
    (info,) = registry.mounts(store_dir)
    os.kill(info.pid, signal.SIGSTOP)
    try:
        with pytest.raises(artfs.errors.ArtfsError, match="does not answer"):
            gc_mod.collect(store, held=lambda: registry.held_by_mounts(store_dir, timeout=0.5))
    finally:
        os.kill(info.pid, signal.SIGCONT)
    assert json.loads(cli("stats", "--json").out)["chunks"] == 1
    result = cli("gc", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["chunks"] == 1


# --- 8. bad input ------------------------------------------------------------------------


def test_bad_staging_name_is_refused(mount):
    with pytest.raises(OSError) as e:
        os.mkdir(os.path.join(mount, "staging", "bad:name"))
    assert e.value.errno == errno.EINVAL
    assert os.listdir(os.path.join(mount, "staging")) == []


def test_corrupt_chunk_gives_eio_and_is_logged(cli, mount, store_dir, tmp_path):
    src = tmp_path / "src"
    write(src / "good.txt", "good")
    write(src / "bad.bin", os.urandom(100_000))  # one raw chunk, named by the file digest
    put(cli, src, "dmg")
    digest = digests(cli, "dmg:v0")["bad.bin"]
    chunk = os.path.join(store_dir, "chunks", digest[:2], digest[2:])
    fd = os.open(chunk, os.O_RDWR)
    try:
        byte = os.pread(fd, 1, 5000)
        os.pwrite(fd, bytes([byte[0] ^ 0xFF]), 5000)
    finally:
        os.close(fd)
    version = version_path(mount, "dmg:v0")
    with pytest.raises(OSError) as e:
        read(os.path.join(version, "bad.bin"))
    assert e.value.errno == errno.EIO
    assert read(os.path.join(version, "good.txt")) == b"good"
    log_file = os.path.join(store_dir, "logs", "mount.log")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [line for line in read(log_file).decode().splitlines() if "bad.bin" in line]
        if lines:
            break
        time.sleep(0.05)
    assert any("dmg" in line and "v0" in line for line in lines), lines


# --- 9. extended attributes ----------------------------------------------------------------


def test_xattrs_of_versions_and_staging(cli, mount, store_dir, tmp_path):
    src = tmp_path / "src"
    write(src / "f.txt", "x")
    write(src / "sub/g.txt", "y")
    put(cli, src, "xa", "--type", "model")
    info = show(cli, "xa:v0")
    v = version_path(mount, "xa:v0")
    f = os.path.join(v, "f.txt")
    assert os.getxattr(f, "user.artfs.digest").decode() == digests(cli, "xa:v0")["f.txt"]
    assert os.getxattr(f, "user.artfs.version") == b"xa:v0"
    assert os.getxattr(f, "user.artfs.type") == b"model"
    assert {"user.artfs.digest", "user.artfs.version", "user.artfs.type"} <= set(os.listxattr(f))
    assert os.getxattr(v, "user.artfs.digest").decode() == info["digest"]
    assert os.getxattr(v, "user.artfs.version") == b"xa:v0"
    assert os.getxattr(os.path.join(v, "sub"), "user.artfs.type") == b"model"
    with pytest.raises(OSError) as e:
        os.getxattr(f, "user.nothing")
    assert e.value.errno == errno.ENODATA

    assert cli("stage", "xa", "--from", "v0").code == 0
    staging = os.path.join(mount, "staging", "xa")
    under = os.path.join(store_dir, "staging", "xa", "tree")
    sf, sdir = os.path.join(staging, "f.txt"), os.path.join(staging, "sub")
    assert COW_XATTR in os.listxattr(os.path.join(under, "f.txt"))  # a placeholder
    assert COW_XATTR not in os.listxattr(sf)
    with pytest.raises(OSError):
        os.setxattr(sf, COW_XATTR, b"\0" * 32)
    with pytest.raises(OSError):
        os.removexattr(sf, COW_XATTR)
    assert (
        os.getxattr(os.path.join(under, "f.txt"), COW_XATTR).hex() == digests(cli, "xa:v0")["f.txt"]
    )

    os.setxattr(sf, "user.test", b"on a placeholder")
    os.setxattr(sdir, "user.test", b"on a dir")
    assert read(sf) == b"x"
    assert committed(cli, "xa") == "xa:v0"  # same content: no new version
    with open(os.path.join(staging, "sub/g.txt"), "ab") as fh:
        fh.write(b"z")
    assert committed(cli, "xa") == "xa:v1"
    assert cli("umount", mount).code == 0
    assert cli("mount", mount).code == 0
    assert os.getxattr(sf, "user.test") == b"on a placeholder"
    assert os.getxattr(sdir, "user.test") == b"on a dir"
    assert set(os.listxattr(sf)) == {"user.test"}
    os.removexattr(sf, "user.test")
    os.removexattr(sdir, "user.test")
    for path in (sf, sdir):
        with pytest.raises(OSError) as e:
            os.getxattr(path, "user.test")
        assert e.value.errno == errno.ENODATA
    assert os.listxattr(sf) == [] and read(sf) == b"x"
    with pytest.raises(OSError) as e:  # invisible: as absent as any other name
        os.getxattr(sf, COW_XATTR)
    assert e.value.errno == errno.ENODATA


# --- 10. the Python API with a mount -------------------------------------------------------


def test_download_returns_the_mounted_version(cli, mount, tmp_path, monkeypatch):
    src = tmp_path / "src"
    write(src / "w.txt", "weights")
    put(cli, src, "api")
    work = tmp_path / "work"
    os.makedirs(work)
    monkeypatch.chdir(work)
    artifact = artfs.Api().artifact("api:latest")
    where = artifact.download()
    assert os.path.realpath(where) == os.path.realpath(version_path(mount, "api:v0"))
    assert read(os.path.join(where, "w.txt")) == b"weights"
    assert os.listdir(work) == []  # nothing copied
    copied = artifact.download(root=str(tmp_path / "copy"))
    assert copied == str(tmp_path / "copy")
    assert read(os.path.join(copied, "w.txt")) == b"weights"
    assert not os.path.ismount(copied)


# --- big sparse files ---------------------------------------------------------------------


def test_sparse_file_over_4gib_commits_and_reads_back(cli, mount, store_dir, tmp_path):
    """And stays sparse: holes are neither read at commit nor written by get or a copy-up."""
    staging = os.path.join(mount, "staging", "big")
    os.mkdir(staging)
    offset = 5 * 1024**3
    fd = os.open(os.path.join(staging, "sparse.bin"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, b"Z", offset)
    finally:
        os.close(fd)
    version = version_path(mount, committed(cli, "big"))
    for path in (os.path.join(version, "sparse.bin"), os.path.join(staging, "sparse.bin")):
        assert os.stat(path).st_size == offset + 1
        with open(path, "rb") as f:
            f.seek(offset - 3)
            assert f.read() == b"\0\0\0Z"
            f.seek(4 * 1024**3 + 12345)
            assert f.read(10) == bytes(10)
    dest = tmp_path / "dest"
    assert cli("get", "big:v0", str(dest)).code == 0
    exported = dest / "sparse.bin"
    assert exported.stat().st_size == offset + 1 and exported.stat().st_blocks * 512 < 1 << 20
    with open(exported, "rb") as f:
        f.seek(offset - 3)
        assert f.read() == b"\0\0\0Z"
    with open(os.path.join(staging, "sparse.bin"), "ab") as f:  # copies the file up
        f.write(b"!")
    on_disk = os.path.join(store_dir, "staging", "big", "tree", "sparse.bin")
    assert os.stat(on_disk).st_blocks * 512 < 1 << 20
    version = version_path(mount, committed(cli, "big"))
    with open(os.path.join(version, "sparse.bin"), "rb") as f:
        f.seek(offset - 1)
        assert f.read() == b"\0Z!"


# --- stage, re-stage, unstage through the mount ----------------------------------------------


def test_stage_starts_from_latest_and_a_commit_keeps_untouched_files(cli, mount, tmp_path):
    src = tmp_path / "src"
    write_sample_tree(src, text="alpha\n", binary_size=200_000)
    assert put(cli, src, "ds") == "ds:v0"
    result = cli("stage", "ds")
    assert result.code == 0, result.err
    staging = os.path.join(mount, "staging", "ds")
    assert f"from ds:v0, the latest version (--empty starts empty): {staging}" in result.err
    assert snapshot(staging) == snapshot(src)
    for tree in (staging, src):  # one edited file
        with open(os.path.join(tree, "a.txt"), "a") as f:
            f.write("edited\n")
    assert committed(cli, "ds") == "ds:v1"
    assert snapshot(version_path(mount, "ds:v1")) == snapshot(src)
    with open(os.path.join(mount, "meta", "ds", "v1.json")) as f:
        assert json.load(f)["base"] == "ds:v0"
    with open(os.path.join(mount, "meta", "ds", "v0.json")) as f:
        assert json.load(f)["base"] is None
    assert show(cli, "ds:v1")["base"] == "ds:v0"


def test_restage_and_unstage_through_the_mount(cli, mount, tmp_path):
    write(tmp_path / "src/a.txt", "zero")
    put(cli, tmp_path / "src", "ds")
    staging = os.path.join(mount, "staging", "ds")
    assert cli("stage", "ds").code == 0
    write(os.path.join(staging, "b.txt"), "one")
    assert committed(cli, "ds") == "ds:v1"

    # clean after the commit: replaced at once, and the kernel sees the new tree at once
    again = cli("stage", "ds", "--from", "v0")
    assert again.code == 0 and "replacing one with no uncommitted changes" in again.err
    assert os.listdir(staging) == ["a.txt"] and read(os.path.join(staging, "a.txt")) == b"zero"

    write(os.path.join(staging, "c.txt"), "uncommitted")
    for args in (("stage", "ds", "--from", "v1"), ("unstage", "ds")):
        refused = cli(*args)
        assert refused.code == 1 and len(refused.err.splitlines()) == 1, refused.err
        assert "uncommitted changes (c.txt)" in refused.err
    assert read(os.path.join(staging, "c.txt")) == b"uncommitted"
    os.unlink(os.path.join(staging, "c.txt"))

    # only the mount knows a file is open for writing: it refuses, the CLI alone could not
    with open(os.path.join(staging, "a.txt"), "ab"):
        refused = cli("unstage", "ds")
        assert refused.code == 1 and "open for writing (a.txt)" in refused.err, refused.err
    assert cli("unstage", "ds").code == 0
    assert not os.path.exists(staging) and os.listdir(os.path.join(mount, "staging")) == []

    assert cli("stage", "ds").code == 0
    with open(os.path.join(staging, "d.txt"), "wb") as f:
        forced = cli("unstage", "ds", "--force")
        assert forced.code == 0, forced.err
        f.write(b"late")  # into the discarded file: no error, and the mount carries on
        f.flush()
    assert not os.path.exists(staging)
    os.mkdir(staging)  # the name is free for a new staging, through the mount too
    write(os.path.join(staging, "e.txt"), "e")
    assert committed(cli, "ds") == "ds:v2"
    assert digests(cli, "ds:v2").keys() == {"e.txt"}


# --- the mount point ---------------------------------------------------------------------


def test_mount_refuses_a_non_empty_directory_unless_nonempty(cli, store_dir, tmp_path):
    path = tmp_path / "busy"
    write(path / "mine.txt", "mine")
    refused = cli("mount", str(path))
    assert refused.code == 1 and len(refused.err.splitlines()) == 1
    assert "not empty" in refused.err and "--nonempty" in refused.err
    assert not mounted(path) and read(path / "mine.txt") == b"mine"
    started = cli("mount", str(path), "--nonempty")
    try:
        assert started.code == 0, started.err
        assert mounted(path) and sorted(os.listdir(path)) == ["artifacts", "meta", "staging"]
    finally:
        unmount(str(path))
    assert read(path / "mine.txt") == b"mine"
