"""Crash safety, concurrency and corruption detection of the store, end to end.

Every check compares real bytes (SHA-256 of every file, computed here, not by
artfs) and real exit codes.  ARTFS_FAULT_ROUNDS raises the number of SIGKILL
rounds for a long campaign (default 16, about 20 s).
"""

import errno
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import blake3
import pytest

import artfs
from artfs.errors import CorruptData, NotFound
from artfs.store import gc as gc_mod
from artfs.store import restore
from artfs.store import store as store_mod
from artfs.store.chunker import chunks_of_bytes
from artfs.store.commit import Commit, Node
from tests.conftest import write

MiB = 1024 * 1024
FAULT_ROUNDS = int(os.environ.get("ARTFS_FAULT_ROUNDS", "16"))


# --- helpers -------------------------------------------------------------------------


def artfs_cmd(store_dir: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "artfs", "--store", store_dir, *args]


def popen(store_dir: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        artfs_cmd(store_dir, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree_hashes(root) -> dict[str, str]:
    """Relative path -> SHA-256 of every file below ``root`` (only regular files allowed)."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            assert os.path.isfile(p) and not os.path.islink(p), p
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = sha(fh.read())
    return out


def write_tree(root, files: dict[str, bytes]) -> dict[str, str]:
    for rel, data in files.items():
        write(os.path.join(root, rel), data)
    return {rel: sha(data) for rel, data in files.items()}


def fetch(cli, ref: str, dest) -> dict[str, str]:
    """``artfs get REF DEST`` (must succeed) and the hashes of what it wrote."""
    r = cli("get", ref, str(dest))
    assert r.code == 0, f"get {ref}: {r.err}"
    hashes = tree_hashes(dest)
    shutil.rmtree(dest)
    return hashes


def listed_versions(cli, name: str) -> list[dict]:
    r = cli("ls", name, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


def verify_ok(cli) -> None:
    r = cli("verify")
    assert r.code == 0, f"verify failed:\n{r.out}\n{r.err}"
    assert "all intact" in r.out


def mixed_tree(rng: random.Random, tag: str) -> dict[str, bytes]:
    """Small random files, one text file, and three files > 4 MiB (several chunks each)."""
    files = {f"small/s{i:02d}.bin": rng.randbytes(rng.randrange(0, 200_000)) for i in range(12)}
    files["notes.txt"] = "".join(f"{tag} line {i} {rng.random()}\n" for i in range(3000)).encode()
    for i in range(3):
        files[f"{'deep/er/' if i else ''}big{i}.bin"] = rng.randbytes(
            rng.randrange(4 * MiB + 1, 6 * MiB)
        )
    return files


# --- 1. SIGKILL during put: a version exists entirely or not at all -------------------


def check_all_or_nothing(cli, tmp_path, sources: list[dict], seen: dict) -> None:
    """verify passes, and every listed version is exactly one source tree, each at most once.

    Versions already compared byte for byte are immutable: their root digest (a Merkle
    root over every file's digest) must be unchanged, and ``verify`` re-read their chunks.
    """
    verify_ok(cli)
    listed = listed_versions(cli, "ds")
    numbers = [int(v["version"][1:]) for v in listed]
    assert numbers == sorted(set(numbers)), numbers
    labels = {f"ds:{v['version']}": v for v in listed}
    assert set(seen) <= set(labels), f"versions disappeared: {set(seen) - set(labels)}"
    for label, v in labels.items():
        if label in seen:
            assert seen[label][0] == v["digest"], f"{label} changed its digest"
            continue
        got = fetch(cli, label, tmp_path / "check")
        matches = [i for i, src in enumerate(sources) if src == got]
        assert matches, (
            f"{label} is not any source tree: {len(got)} files, "
            f"{v['files']} recorded; partial or mixed version"
        )
        assert len(matches) == 1
        assert matches[0] not in {i for _, i in seen.values()}, f"{label} published twice"
        assert v["files"] == len(got)
        seen[label] = (v["digest"], matches[0])


def test_sigkill_during_put_never_leaves_a_partial_version(tmp_path, store_dir, cli):
    rng = random.Random(0xA27F5)
    sources: list[dict[str, str]] = []
    seen: dict[str, tuple[str, int]] = {}  # label -> (root digest, source index)

    def new_source(i: int) -> str:
        root = tmp_path / f"src{i}"
        sources.append(write_tree(root, mixed_tree(rng, f"round {i}")))
        return str(root)

    # A complete commit first: the artifact exists, and it times a whole put.
    first = new_source(0)
    start = time.monotonic()
    r = cli("put", first, "--name", "ds")
    whole = time.monotonic() - start
    assert r.code == 0 and r.out.strip() == "ds:v0", r.err
    check_all_or_nothing(cli, tmp_path, sources, seen)

    # Half the kills are spread from 0 to twice a whole put, one per stratum in random
    # order; the others aim at the moment of publication, which the campaign learns as
    # it goes: the latest kill that left no version and the earliest that left one.
    span = 2 * whole
    spread = FAULT_ROUNDS - FAULT_ROUNDS // 2
    strata = list(range(spread))
    rng.shuffle(strata)
    plan = [s for pair in zip(strata, [None] * spread, strict=True) for s in pair]
    plan = plan[:FAULT_ROUNDS]
    nothing_until, published_from = 0.5 * whole, 1.2 * whole  # first guesses
    killed_midway = 0
    for i, stratum in enumerate(plan, start=1):
        src = new_source(i)
        if stratum is not None:
            delay = 0.0 if stratum == 0 else span * (stratum + rng.random()) / spread
        else:
            low, high = sorted((nothing_until, published_from))
            delay = rng.uniform(max(0.0, low - 0.05 * whole), high + 0.05 * whole)
        proc = popen(store_dir, "put", src, "--name", "ds")
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)  # nothing happens to a put that has exited
        out, err = proc.communicate(timeout=60)
        # Asking first whether it runs would race: a put can end between the two.
        running = proc.returncode == -signal.SIGKILL
        if not running:
            assert proc.returncode == 0, err
        check_all_or_nothing(cli, tmp_path, sources, seen)
        published = i in {idx for _, idx in seen.values()}
        if not running:
            label = out.strip()
            assert published and seen[label][1] == i, f"{label} is not round {i}'s tree"
        if published:
            published_from = min(published_from, delay)
        elif running:
            killed_midway += 1
            nothing_until = max(nothing_until, delay)
    # The campaign hit both sides of the publication.
    assert killed_midway >= 1, "no kill landed before publication; the delays are too long"
    assert len(seen) >= 2, "no killed or finished round published; the delays are too short"

    # gc removes what the killed commits left behind, and nothing any version needs.
    r = cli("gc", "--dry-run", "--json")
    assert r.code == 0, r.err
    planned = json.loads(r.out)
    r = cli("gc", "--json")
    assert r.code == 0, r.err
    freed = json.loads(r.out)
    for key in ("chunks", "bytes", "trees", "strays"):
        assert freed[key] == planned[key], (key, planned, freed)
    r = cli("gc", "--dry-run", "--json")
    left = json.loads(r.out)
    assert (left["chunks"], left["trees"], left["strays"]) == (0, 0, 0), left
    leftovers = [
        f for _, _, fs in os.walk(os.path.join(store_dir, "chunks")) for f in fs if ".tmp" in f
    ]
    assert leftovers == []
    verify_ok(cli)
    listed = listed_versions(cli, "ds")
    assert {f"ds:{v['version']}" for v in listed} == set(seen)
    for v in listed:
        label = f"ds:{v['version']}"
        assert fetch(cli, label, tmp_path / "final") == sources[seen[label][1]], label


# --- 2. concurrent puts to one artifact ---------------------------------------------------


def test_concurrent_puts_get_distinct_versions(tmp_path, store_dir, cli):
    rng = random.Random(2)
    shared = rng.randbytes(5 * MiB)  # the same new chunks, written by every process at once
    n = 6
    sources, expected = [], []
    for i in range(n):
        root = tmp_path / f"in{i}"
        files = {
            "shared.bin": shared,
            "id.txt": f"input {i}\n".encode(),
            "own/big.bin": rng.randbytes(rng.randrange(4 * MiB + 1, 6 * MiB)),
            **{f"own/s{k}.bin": rng.randbytes(rng.randrange(1, 100_000)) for k in range(5)},
        }
        expected.append(write_tree(root, files))
        sources.append(str(root))
    assert not os.path.exists(store_dir)  # the first use of the store is concurrent too

    procs = [popen(store_dir, "put", src, "--name", "shared-art") for src in sources]
    results = [(p, *p.communicate(timeout=120)) for p in procs]
    for p, _out, err in results:
        assert p.returncode == 0, err
    labels = [out.strip() for _, out, _ in results]
    assert len(set(labels)) == n, labels
    assert all(re.fullmatch(r"shared-art:v\d+", label) for label in labels), labels

    listed = listed_versions(cli, "shared-art")
    assert len(listed) == n
    assert sorted(int(v["version"][1:]) for v in listed) == list(range(n))
    matched = []
    for v in listed:
        label = f"shared-art:{v['version']}"
        got = fetch(cli, label, tmp_path / "out")
        assert got in expected, f"{label} matches no input"
        i = expected.index(got)
        assert labels[i] == label, f"input {i} was reported as {labels[i]}, found as {label}"
        matched.append(i)
    assert sorted(matched) == list(range(n))  # each input exactly once
    verify_ok(cli)


# --- 3. a flipped byte is detected, named, and never exported --------------------------

TEXT = "".join(
    f"{i:06d} the quick brown fox jumps over the lazy dog\n" for i in range(4000)
).encode()


def check_dest(dest, files: dict[str, bytes], damaged: str) -> None:
    """DEST holds no bytes under the damaged name, and only right bytes elsewhere."""
    assert not os.path.lexists(os.path.join(dest, damaged))
    if os.path.isdir(dest):
        for rel, digest in tree_hashes(dest).items():
            assert rel in files, f"unexpected file {rel} in {dest}"
            assert digest == sha(files[rel]), f"{rel} has wrong bytes"


@pytest.mark.parametrize("kind", ["text", "random", "large"])
def test_flipped_byte_in_chunk_is_detected(kind, tmp_path, store_dir, store, cli):
    rng = random.Random(3)
    files = {
        "a/notes.txt": TEXT,
        "a/noise.bin": rng.randbytes(200_000),
        "b/big.bin": rng.randbytes(9 * MiB),
        "z.txt": b"intact\n",
    }
    src = tmp_path / "src"
    write_tree(src, files)
    assert cli("put", str(src), "--name", "victim").code == 0
    write(src / "extra.txt", "only in v1\n")  # v1 shares every chunk of v0
    assert cli("put", str(src), "--name", "victim").out.strip() == "victim:v1"

    target = {"text": "a/notes.txt", "random": "a/noise.bin", "large": "b/big.bin"}[kind]
    if kind == "large":
        entry = store.lookup(store.resolve("victim:v0").root, target.encode())
        chunk_list = store.file_chunks(entry)
        assert len(chunk_list) > 2
        digest = chunk_list[len(chunk_list) // 2][0]
    else:  # a small file is one chunk named by the file's own digest
        digest = blake3.blake3(files[target]).digest()
    path = os.path.join(store_dir, "chunks", digest.hex()[:2], digest.hex()[2:])
    with open(path, "rb") as f:
        blob = f.read()
    assert blob[0] == (1 if kind == "text" else 0)  # zstd for text, raw for random bytes
    pos = 1 + (len(blob) - 1) // 2
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(pos)
        f.write(bytes([blob[pos] ^ 0xFF]))

    # artfs get: exit 1, one error line naming the file, no wrong bytes in DEST
    dest = tmp_path / "dest"
    r = cli("get", "victim:v0", str(dest))
    assert r.code == 1, r.err
    assert "Traceback" not in r.err
    errors = [line for line in r.err.splitlines() if line.startswith("artfs: error:")]
    assert len(errors) == 1 and target in errors[0] and "victim:v0" in errors[0], r.err
    check_dest(dest, files, target)

    # the Python API raises CorruptData naming the file
    art = artfs.Api(store_dir).artifact("victim:v0")
    with pytest.raises(CorruptData, match=re.escape(target)):
        art.download(str(tmp_path / "api"))
    check_dest(tmp_path / "api", files, target)
    with pytest.raises(CorruptData, match=re.escape(target)):
        art.get_entry(target).download(str(tmp_path / "one"))
    check_dest(tmp_path / "one", files, target)

    # verify: exit 1, names exactly the damaged file in both versions that hold it
    r = cli("verify", "--json")
    assert r.code == 1
    damage = {(d["version"], d["path"]) for d in json.loads(r.out)["damage"]}
    assert damage == {("victim:v0", target), ("victim:v1", target)}
    r = cli("verify")
    assert r.code == 1
    assert f"DAMAGED victim:v0: {target}" in r.out and f"DAMAGED victim:v1: {target}" in r.out

    # the flip was the only damage: undone, everything reads back exact
    with open(path, "r+b") as f:
        f.seek(pos)
        f.write(blob[pos : pos + 1])
    verify_ok(cli)
    assert fetch(cli, "victim:v0", tmp_path / "again") == {k: sha(v) for k, v in files.items()}


# --- 4. gc racing commits never frees a chunk a commit then references ---------------


def test_gc_racing_commits_keeps_every_referenced_chunk(tmp_path, store_dir, store, cli):
    """`artfs gc` in a loop, plus gc.collect in a tight loop (it starts within
    milliseconds of the removal, so it hits the window between a commit's dedup
    check and its publication far more often than a freshly started process)."""
    rng = random.Random(4)
    stop = threading.Event()
    gc_runs: list[subprocess.CompletedProcess] = []
    gc_errors: list[BaseException] = []
    gc_freed: list[int] = []

    def cli_gc_loop():
        while not stop.is_set():
            run = subprocess.run(
                artfs_cmd(store_dir, "gc", "--json"), capture_output=True, text=True, timeout=120
            )
            gc_runs.append(run)
            if run.returncode == 0:
                gc_freed.append(json.loads(run.stdout)["chunks"])

    def api_gc_loop():
        try:
            while not stop.is_set():
                gc_freed.append(gc_mod.collect(store).chunks)
                time.sleep(0.005)  # let shared lockers in
        except BaseException as e:  # reported by the test, not lost in the thread
            gc_errors.append(e)

    expected: dict[str, dict[str, str]] = {}
    junk_only: list[bytes] = []
    workers = [threading.Thread(target=cli_gc_loop), threading.Thread(target=api_gc_loop)]
    for w in workers:
        w.start()
    try:
        for rnd in range(4):
            # a version whose chunks become garbage once removed, while gc keeps running;
            # commit k reuses only reuse<k>/, so no racing commit rewrites its chunks
            reuse = {
                k: {
                    "big.bin": rng.randbytes(rng.randrange(4 * MiB + 1, 5 * MiB)),
                    "small.bin": rng.randbytes(100_000),
                    "notes.txt": TEXT + f"round {rnd} commit {k}\n".encode(),
                }
                for k in range(3)
            }
            junk_only.append(rng.randbytes(150_000))
            write_tree(
                tmp_path / f"junk{rnd}",
                {
                    **{f"reuse{k}/{n}": d for k, fs in reuse.items() for n, d in fs.items()},
                    "only-junk.bin": junk_only[-1],
                },
            )
            r = cli("put", str(tmp_path / f"junk{rnd}"), "--name", "junk")
            assert r.code == 0, r.err
            launches = [("rm", r.out.strip())]
            for k in range(3):
                src = tmp_path / f"data{rnd}-{k}"
                hashes = write_tree(
                    src,
                    {
                        **{f"reused/{n}": d for n, d in reuse[k].items()},
                        "own.bin": rng.randbytes(rng.randrange(2 * MiB, 8 * MiB)),
                    },
                )
                launches.append((hashes, ("put", str(src), "--name", "data")))
            # the removal lands before, during or after the commits' dedup checks
            rng.shuffle(launches)
            procs = []
            for what, args in launches:
                if what == "rm":
                    procs.append((what, popen(store_dir, "rm", args)))
                else:
                    procs.append((what, popen(store_dir, *args)))
                time.sleep(rng.uniform(0, 0.1))
            for what, p in procs:
                out, err = p.communicate(timeout=120)
                assert p.returncode == 0, err
                if what != "rm":
                    expected[out.strip()] = what
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert gc_errors == []
    for p in gc_runs:
        assert p.returncode == 0, p.stderr
    # the loops ran, and freed at least the junk-only chunks of rounds 0-2
    assert len(gc_runs) >= 4 and sum(gc_freed) >= 3

    assert cli("gc").code == 0
    verify_ok(cli)
    assert listed_versions(cli, "junk") == []
    listed = listed_versions(cli, "data")
    assert {f"data:{v['version']}" for v in listed} == set(expected)
    for label, hashes in expected.items():
        assert fetch(cli, label, tmp_path / "out") == hashes, label
    for data in junk_only:  # gc did free what only removed versions used
        d = blake3.blake3(data).hexdigest()
        assert not os.path.exists(os.path.join(store_dir, "chunks", d[:2], d[2:]))


def test_gc_blocks_while_a_commit_is_open(tmp_path, store):
    rng = random.Random(5)
    shared = {b"big.bin": rng.randbytes(6 * MiB), b"small.bin": rng.randbytes(50_000)}
    junk_only = rng.randbytes(100_000)
    with Commit(store) as c:
        node = Node()
        for name, data in {**shared, b"junk.bin": junk_only}.items():
            node[name] = c.bytes_entry(name, data)
        junk, _ = c.publish("junk", node)
    store.remove_version(junk.label)  # every chunk of it is now garbage

    src = tmp_path / "src"
    files = {
        "big.bin": shared[b"big.bin"],
        "small.bin": shared[b"small.bin"],
        "own.bin": rng.randbytes(300_000),
    }
    write_tree(src, files)
    finished = threading.Event()
    outcome: dict = {}

    def run_gc():
        try:
            outcome["report"] = gc_mod.collect(store)
        except BaseException as e:  # reported below, not lost in the thread
            outcome["error"] = e
        finally:
            finished.set()

    thread = threading.Thread(target=run_gc)
    with Commit(store) as commit:
        node = commit.scan_dir(str(src))
        thread.start()
        assert not finished.wait(1.0), "gc ran while a commit held the gc lock"
        version, created = commit.publish("data", node)
        assert created
        assert not finished.wait(0.3), "gc ran before the commit released the gc lock"
        # the dangerous case: the commit reused the garbage chunks instead of writing them
        assert blake3.blake3(shared[b"small.bin"]).digest() not in commit.new_chunks
    thread.join(60)
    assert finished.is_set() and "error" not in outcome, outcome
    assert outcome["report"].chunks >= 1

    seen = {}
    for path, entry in store.walk(version.root):
        chunks = [store.chunks.get(d) for d, _ in store.file_chunks(entry)]
        seen[path.decode()] = sha(b"".join(chunks))
    assert seen == {k: sha(v) for k, v in files.items()}
    gone = blake3.blake3(junk_only).hexdigest()
    assert not os.path.exists(os.path.join(store.path, "chunks", gone[:2], gone[2:]))


@pytest.mark.fast
def test_read_file_decodes_ahead_but_yields_in_order_and_stops_at_damage(store):
    """read_file decodes chunks ahead in threads: the bytes still come in file order,
    a damaged chunk raises where it sits (after the good chunks before it), and a reader
    that stops early leaves nothing running."""
    data = random.Random(8).randbytes(12 * MiB)
    with Commit(store) as c:
        node = Node()
        node[b"big.bin"] = c.bytes_entry(b"big.bin", data)
        version, _ = c.publish("rf", node)
    entry = store.lookup(version.root, b"big.bin")
    chunk_list = store.file_chunks(entry)
    assert len(chunk_list) > store_mod.READ_AHEAD_CHUNKS + 2
    assert b"".join(map(bytes, store.read_file(entry))) == data
    blocks = store.read_file(entry)
    assert data.startswith(bytes(next(blocks)))
    blocks.close()  # cancels what was decoded ahead

    damaged = 2
    path = store.chunks.path(chunk_list[damaged][0])
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 1]))
    good = []
    with pytest.raises(CorruptData, match="does not match"):
        for block in store.read_file(entry):
            good.append(bytes(block))
    assert b"".join(good) == data[: sum(size for _, size in chunk_list[:damaged])]


def test_gc_waits_for_an_export_of_a_version_removed_meanwhile(tmp_path, store):
    rng = random.Random(6)
    files = {"a.bin": rng.randbytes(5 * MiB), "b.bin": rng.randbytes(5 * MiB)}
    write_tree(tmp_path / "src", files)
    with Commit(store) as c:
        version, _ = c.publish("ds", c.scan_dir(str(tmp_path / "src")))
    finished = threading.Event()
    outcome: dict = {}

    def remove_and_collect():
        store.remove_version(version.label, force=True)
        outcome["report"] = gc_mod.collect(store)
        finished.set()

    def progress(_):  # called once per block written: start the race on the first one
        if "thread" not in outcome:
            outcome["thread"] = threading.Thread(target=remove_and_collect)
            outcome["thread"].start()
            assert not finished.wait(1.0), "gc freed chunks while an export read them"

    restore.export(store, version, str(tmp_path / "out"), progress)
    outcome["thread"].join(60)
    assert finished.is_set() and outcome["report"].bytes >= 10 * MiB  # all of it, after
    assert {p: sha((tmp_path / "out" / p).read_bytes()) for p in files} == {
        p: sha(data) for p, data in files.items()
    }
    with pytest.raises(NotFound, match="was removed"):
        restore.export(store, version, str(tmp_path / "again"))


@pytest.mark.fast
def test_export_from_a_store_that_cannot_be_written(tmp_path, store, monkeypatch):
    """On a read-only file system nobody can gc the store: an export needs no lock, and
    gc itself fails with the system's error."""
    write_tree(tmp_path / "src", {"a.txt": b"read only\n"})
    with Commit(store) as c:
        version, _ = c.publish("ro", c.scan_dir(str(tmp_path / "src")))
    real_open = os.open

    def read_only_open(path, flags, *args, **kwargs):
        in_store = "dir_fd" not in kwargs and os.fsdecode(path).startswith(store.path)
        if in_store and flags & (os.O_RDWR | os.O_WRONLY | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_open)
    os.unlink(os.path.join(store.path, "gc.lock"))  # not even the lock file exists
    restore.export(store, version, str(tmp_path / "out"))
    monkeypatch.undo()
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"read only\n"
    monkeypatch.setattr(os, "open", read_only_open)
    with pytest.raises(OSError) as caught:
        gc_mod.collect(store)
    assert caught.value.errno == errno.EROFS


def test_commit_replaces_chunk_files_half_written_by_a_dead_writer(tmp_path, store, cli):
    """A writer creates a chunk file under its final name and writes it in place; if it
    dies half-way, the next commit of the same bytes must leave the file whole."""
    data = random.Random(7).randbytes(3 * MiB)
    digests = [blake3.blake3(c).digest() for c in chunks_of_bytes(data)]
    assert len(digests) >= 2
    for digest in digests:
        path = store.chunks.path(digest)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(b"\x00" + data[:1000])  # a raw chunk's codec byte, then a prefix
    write_tree(tmp_path / "src", {"big.bin": data})
    with Commit(store) as c:
        version, _ = c.publish("ds", c.scan_dir(str(tmp_path / "src")))
    verify_ok(cli)
    restore.export(store, version, str(tmp_path / "out"))
    assert sha((tmp_path / "out" / "big.bin").read_bytes()) == sha(data)
    leftovers = [
        f for _, _, fs in os.walk(os.path.join(store.path, "chunks")) for f in fs if ".tmp" in f
    ]
    assert leftovers == []
