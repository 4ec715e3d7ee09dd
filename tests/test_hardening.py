"""What a hostile destination or a hostile store must never achieve: bytes written
outside the destination, names that leave a version, a traceback instead of an error."""

import json
import os
import struct
import subprocess
import sys
import time

import pytest

from artfs.errors import Conflict, CorruptData
from artfs.store import meta, restore
from artfs.store.commit import Commit
from artfs.store.staging import Staging
from artfs.store.tree import DIR, FILE, MAGIC, tree_digest
from artfs.store.verify import verify
from tests.conftest import read, write


def publish(store, src, name="ds"):
    with Commit(store) as c:
        return c.publish(name, c.scan_dir(str(src)))[0]


def snapshot_outside(root) -> dict:
    return {
        os.path.join(d, n): read(os.path.join(d, n)) if os.path.isfile(os.path.join(d, n)) else None
        for d, dirs, files in os.walk(root)
        for n in dirs + files
    }


@pytest.fixture
def version(store, tmp_path):
    write(tmp_path / "src" / "sub" / "inner.txt", b"secret bytes")
    write(tmp_path / "src" / "top.txt", b"top")
    return publish(store, tmp_path / "src")


@pytest.fixture
def outside(tmp_path):
    root = tmp_path / "outside"
    write(root / "victim.txt", b"untouched")
    os.makedirs(root / "dir")
    return root


@pytest.mark.fast
def test_links_planted_at_file_names_are_replaced_not_followed(store, version, tmp_path, outside):
    dest = tmp_path / "dest"
    os.makedirs(dest / "sub")
    os.symlink(outside / "victim.txt", dest / "sub" / "inner.txt")
    os.symlink(outside / "victim.txt", dest / "top.txt")
    os.symlink(outside / "victim.txt", dest / "sub" / "inner.txt.artfs-tmp")  # the old name
    before = snapshot_outside(outside)
    restore.export(store, version, str(dest))
    assert snapshot_outside(outside) == before
    assert read(dest / "sub" / "inner.txt") == b"secret bytes"
    assert not os.path.islink(dest / "sub" / "inner.txt")
    assert [n for n in os.listdir(dest / "sub") if n.startswith(".artfs-")] == []


@pytest.mark.fast
def test_a_link_planted_at_a_directory_name_is_refused(store, version, tmp_path, outside):
    dest = tmp_path / "dest"
    os.makedirs(dest)
    os.symlink(outside / "dir", dest / "sub")
    before = snapshot_outside(outside)
    with pytest.raises(Conflict, match="in the way of a directory"):
        restore.export(store, version, str(dest))
    with pytest.raises(Conflict):
        restore.export(store, version, str(dest), only=b"sub/inner.txt")
    assert snapshot_outside(outside) == before


@pytest.mark.fast
def test_download_to_a_root_holding_links_writes_nothing_outside(
    store, version, tmp_path, outside, store_dir
):
    import artfs

    dest = tmp_path / "dl"
    os.makedirs(dest / "sub")
    os.symlink(outside / "victim.txt", dest / "sub" / "inner.txt")
    before = snapshot_outside(outside)
    art = artfs.Api().artifact("ds:v0")
    art.get_entry("sub/inner.txt").download(str(dest))
    art.download(str(dest))
    assert snapshot_outside(outside) == before
    assert read(dest / "sub" / "inner.txt") == b"secret bytes"


def hostile_version(store, src, name: bytes):
    """A version whose root lists ``name`` (a file), written straight into the metadata,
    as a damaged or hostile store would hold it."""
    good = publish(store, src)
    data = store.tree(good.root)[0]  # reuse a stored file's digest
    blob = (
        MAGIC
        + struct.pack("<I", 1)
        + struct.pack("<BHH", FILE, 0o644, len(name))
        + name
        + struct.pack("<Q32s", data.size, data.digest)
    )
    digest = tree_digest(blob)
    record = dict(good.record, root=digest.hex())
    record.pop("attrs")
    with store.meta.write() as txn:
        txn.put(digest, blob, db=store.meta.db["trees"])
        txn.put(
            meta.version_key("ds", good.number), meta.dumps(record), db=store.meta.db["versions"]
        )
    store.tree.cache_clear()
    return store.resolve("ds:latest")


@pytest.mark.fast
@pytest.mark.parametrize("bad", [b"..", b".", b"../escape", b"/abs", b"a\0b", b""])
def test_names_that_leave_a_version_are_refused_everywhere(store, tmp_path, bad):
    write(tmp_path / "src" / "f.txt", b"payload")
    version = hostile_version(store, tmp_path / "src", bad)
    with pytest.raises(CorruptData, match="ds:v0"):
        restore.export(store, version, str(tmp_path / "dest" / "deeper"))
    assert not os.path.exists(tmp_path / "dest" / "escape")
    assert os.listdir(tmp_path / "dest" / "deeper") == []
    damage = verify(store, [version]).damage
    assert len(damage) == 1 and "invalid name" in damage[0].problem
    staging = Staging(store, "ds")
    with pytest.raises(CorruptData):
        staging.create(version)
    assert not os.path.exists(tmp_path / "escape")


@pytest.mark.fast
def test_a_tree_that_names_a_directory_dot_dot_is_corrupt(store, tmp_path):
    write(tmp_path / "src" / "f.txt", b"payload")
    publish(store, tmp_path / "src")
    blob = MAGIC + struct.pack("<I", 1) + struct.pack("<BHH", DIR, 0o755, 2) + b".." + b"\1" * 32
    from artfs.store.tree import decode_tree

    with pytest.raises(CorruptData, match="invalid name"):
        decode_tree(blob)


@pytest.mark.fast
def test_a_store_is_private_to_its_owner_whatever_the_umask(tmp_path, capfd):
    from artfs.store import store as store_mod

    old = os.umask(0)
    try:
        path = str(tmp_path / "new")
        store = store_mod.Store(path, create=True)
        write(tmp_path / "src" / "secret.txt", b"secret")
        os.chmod(tmp_path / "src" / "secret.txt", 0o600)
        publish(store, tmp_path / "src")
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == 0o700
    assert os.stat(os.path.join(path, "meta", "data.mdb")).st_mode & 0o077 == 0
    chunk_files = [
        os.path.join(d, f) for d, _, fs in os.walk(os.path.join(path, "chunks")) for f in fs
    ]
    assert chunk_files and all(os.stat(f).st_mode & 0o077 == 0 for f in chunk_files)
    os.chmod(path, 0o755)  # as stores made before were
    store.meta.close()
    store_mod.Store(path, create=False).meta.close()
    assert os.stat(path).st_mode & 0o777 == 0o700
    assert "private now" in capfd.readouterr().err


def test_secrets_on_a_run_command_line_are_not_shown_through_the_mount(cli, mount, tmp_path):
    write(tmp_path / "src" / "f.txt", b"f")
    done = cli(
        "run",
        "--job-type",
        "train",
        "--config",
        '{"api_key": "k-123", "lr": 0.1}',
        "--",
        "sh",
        "-c",
        f"{sys.executable} -m artfs put {tmp_path / 'src'} --name ds",
        "--token=t-456",
        "--password",
        "p-789",
        "AWS_SECRET_ACCESS_KEY=s-000",
        "https://user:u-111@example.com/data",
        "--epochs",
        "3",
    )
    assert done.code == 0, done.err
    shown = read(os.path.join(mount, "meta", "ds", "v0.json")).decode()
    for secret in ("k-123", "t-456", "p-789", "s-000", "u-111"):
        assert secret not in shown
    producer = json.loads(shown)["producer"]
    assert producer["command"][-2:] == ["--epochs", "3"]  # the rest is kept
    assert producer["config"] == {"api_key": "REDACTED", "lr": 0.1}
    assert "--token=REDACTED" in producer["command"]


def test_another_users_process_cannot_join_a_run_and_implicit_runs_name_their_user(
    cli, store_dir, tmp_path
):
    """A process of nobody's that sets ARTFS_RUN_ID to root's running run is recorded as
    an implicit run of nobody's own, and root's run gets no input from it."""
    from tests.conftest import unmount

    write(tmp_path / "src" / "f.txt", b"data")
    assert cli("put", str(tmp_path / "src"), "--name", "ds").code == 0
    mnt = str(tmp_path / "mnt")
    os.makedirs(mnt)
    assert cli("mount", mnt, "--allow-other").code == 0
    try:
        target = os.path.join(mnt, "artifacts", "ds", "v0", "f.txt")
        fd = os.open(os.path.dirname(target), os.O_RDONLY | os.O_DIRECTORY)
        holder = subprocess.Popen(  # root's run, running while the other user reads
            [
                sys.executable,
                "-m",
                "artfs",
                "--store",
                store_dir,
                "run",
                "--job-type",
                "mine",
                "--",
                "sleep",
                "5",
            ]
        )
        try:
            deadline = time.monotonic() + 10
            while not (
                running := [
                    r
                    for r in json.loads(cli("runs", "ls", "--json").out)
                    if r["job_type"] == "mine"
                ]
            ):
                assert time.monotonic() < deadline
                time.sleep(0.1)
            if fd != 3:
                os.dup2(fd, 3)
            spoof = subprocess.run(
                [
                    "setpriv",
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    "sh",
                    "-c",
                    "cat /proc/self/fd/3/f.txt",
                ],
                pass_fds=(3,),
                capture_output=True,
                env={**os.environ, "ARTFS_RUN_ID": running[0]["id"]},
                timeout=30,
            )
            assert spoof.stdout == b"data", spoof.stderr
        finally:
            holder.wait(timeout=30)
            os.close(fd)
        time.sleep(1.5)  # reads are written within a second
        runs = json.loads(cli("runs", "ls", "--all", "--json").out)
        mine = next(r for r in runs if r["job_type"] == "mine")
        assert json.loads(cli("runs", "show", mine["id"], "--json").out)["inputs"] == []
        (implicit,) = [r for r in runs if r["implicit"]]
        shown = json.loads(cli("runs", "show", implicit["id"], "--json").out)
        assert (shown["user"], shown["uid"]) == ("nobody", 65534)
        assert [e["version"] for e in shown["inputs"]] == ["ds:v0"]
    finally:
        unmount(mnt)


@pytest.mark.fast
def test_a_run_is_never_credited_more_bytes_of_a_file_than_it_holds(store):
    from artfs.fs.attribution import Attribution

    attribution = Attribution(store)
    attribution._outputs[("r", "ds", 0)] = False
    for _ in range(3):  # read ahead through this run's handle for another's
        attribution.read("r", "ds", 0, "f.bin", 3_145_728, 1_310_720)
    _, edges = attribution.take_batch()
    assert edges[("r", "ds", 0)].files == {"f.bin": 3_145_728}


def test_two_runs_reading_one_file_at_once_are_marked_and_never_over_credited(
    cli, mount, tmp_path, store_dir
):
    data = os.urandom(3_145_728)
    write(tmp_path / "src" / "f.bin", data)
    assert cli("put", str(tmp_path / "src"), "--name", "ds").code == 0
    target = os.path.join(mount, "artifacts", "ds", "v0", "f.bin")
    barrier = tmp_path / "opened"  # both hold the file open before either reads it
    barrier.mkdir()
    reader = (
        f"import os, sys, time\nf = open({target!r}, 'rb')\n"
        f"open(os.path.join({str(barrier)!r}, sys.argv[1]), 'w').close()\n"
        f"while len(os.listdir({str(barrier)!r})) < 2: time.sleep(0.01)\n"
        f"assert f.read() == open({target!r}, 'rb').read()\n"
    )
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "artfs",
                "--store",
                store_dir,
                "run",
                "--job-type",
                job,
                "--",
                sys.executable,
                "-c",
                reader,
                job,
            ]
        )
        for job in ("a", "b")
    ]
    assert [r.wait(timeout=60) for r in runs] == [0, 0]
    time.sleep(1.5)
    credited = []
    for run in json.loads(cli("runs", "ls", "--json").out):
        shown = json.loads(cli("runs", "show", run["id"], "--json").out)
        (edge,) = shown["inputs"]
        assert edge["shared"] == ["f.bin"], run["job_type"]
        credited.append(edge["files"]["f.bin"])  # one may have read it all from the cache
        assert "at least" in cli("runs", "show", run["id"]).out
    # every page came from the mount once, to one of them; neither more than the file
    assert len(credited) == 2 and all(n <= len(data) for n in credited)
    assert sum(credited) >= len(data)


def test_runs_show_and_lineage_go_on_past_a_damaged_lineage_record(cli, store, tmp_path):
    from artfs.store import runs as runs_mod

    write(tmp_path / "a" / "f.txt", b"a")
    write(tmp_path / "b" / "f.txt", b"b")
    first, second = publish(store, tmp_path / "a", "one"), publish(store, tmp_path / "b", "two")
    run = runs_mod.start_run(store, job_type="reader")
    runs_mod.record_input(store, run["id"], first, {"f.txt": 1})
    runs_mod.record_input(store, run["id"], second, {"f.txt": 1})
    with store.meta.write() as txn:  # the edge from two:v0 is garbage now
        txn.put(meta.run_version_key(run["id"], "two", 0), b"\xff{", db=store.meta.db["inputs"])
    shown = cli("runs", "show", run["id"], "--json")
    assert shown.code == 0, shown.err
    assert [e["version"] for e in json.loads(shown.out)["inputs"]] == ["one:v0"]
    assert shown.err.count("\n") == 1 and "left out" in shown.err and "two:v0" in shown.err
    graph = cli("lineage", "one:v0", "--format", "json")
    assert graph.code == 0, graph.err
    assert any(e["to"] == f"run:{run['id']}" for e in json.loads(graph.out)["edges"])
    around = cli("lineage", "two:v0", "--format", "json")
    assert around.code == 0 and "left out of the graph" in around.err, around.err
