"""The contract of artfs/store/backend.py, run against every backend (tests/backends.py
lists them; another module can add one), then the local backend against a store that
today's code made, and the chunk codec layer."""

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import blake3
import pytest

from artfs.errors import CorruptData, NotFound, StoreError, UsageError
from artfs.store import chunks as chunks_mod
from artfs.store import meta as meta_mod
from artfs.store.backend import DamagedKey, Ref, RefConflict, area_of
from artfs.store.chunks import ChunkFiles
from artfs.store.codec import Chunks, chunk_key
from artfs.store.local import LocalObjects, LocalRefs, LocalRefTxn, tag_of
from artfs.store.memory import MemoryObjects
from artfs.store.store import Store
from artfs.store.tree import DIR, FILE, decode_tree
from tests.backends import BACKENDS, Backend, params
from tests.conftest import write

THREADS = 8


@pytest.fixture(params=params())
def backend(request, tmp_path) -> Backend:
    with BACKENDS[request.param](request, tmp_path) as made:
        yield made


def digest_key(table: str, seed: str) -> str:
    return f"{table}/{blake3.blake3(seed.encode()).hexdigest()}"


def race(worker, n: int = THREADS) -> list:
    """Run ``worker(i)`` in n threads released at once; each one's result or exception."""
    start, results = threading.Barrier(n), [None] * n

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = worker(i)
        except Exception as e:  # noqa: BLE001 - the test inspects what each one raised
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# --- ObjectStore ---------------------------------------------------------------------


def test_object_round_trip(backend):
    key = digest_key("chunks", "a")
    assert not backend.objects.has(key)
    backend.objects.put(key, b"\x00hello")
    assert backend.objects.has(key)
    assert backend.objects.get(key) == b"\x00hello"


@pytest.mark.parametrize("table", ["chunks", "trees"])
def test_object_ranges(backend, table):
    key = digest_key(table, "ranges")
    data = bytes(range(256)) * 4
    backend.objects.put(key, data)
    assert backend.objects.get(key, 10, 5) == data[10:15]
    assert backend.objects.get(key, 1000) == data[1000:]
    assert backend.objects.get(key, 1020, 100) == data[1020:]  # fewer at the end
    assert backend.objects.get(key, 1024, 10) == b""
    assert backend.objects.get(key, 5000) == b""
    assert backend.objects.get(key, 0, 0) == b""


@pytest.mark.parametrize("table", ["chunks", "trees", "attrs", "filemaps", "chunk-index"])
def test_missing_object(backend, table):
    key = digest_key(table, "never written")
    assert not backend.objects.has(key)
    with pytest.raises(NotFound):
        backend.objects.get(key)
    with pytest.raises(NotFound):
        backend.objects.get(key, 3, 4)


def test_put_again_is_idempotent(backend):
    key = digest_key("trees", "twice")
    backend.objects.put(key, b"AT1\0\0\0\0")
    backend.objects.put(key, b"AT1\0\0\0\0")
    backend.objects.barrier()
    assert backend.objects.get(key) == b"AT1\0\0\0\0"
    assert list(backend.objects.list("trees/")) == [key]


def test_objects_list_in_order_by_prefix(backend):
    written = [digest_key(t, str(i)) for t in ("chunks", "trees", "attrs") for i in range(6)]
    for key in written:
        backend.objects.put(key, key.encode())
    assert list(backend.objects.list()) == sorted(written)
    assert list(backend.objects.list("chunks/")) == sorted(k for k in written if "chunks/" in k)
    some = written[0][: len("chunks/") + 1]  # one hex digit: about a sixteenth of them
    assert list(backend.objects.list(some)) == sorted(k for k in written if k.startswith(some))
    assert list(backend.objects.list(written[4])) == [written[4]]
    assert list(backend.objects.list("tr")) == sorted(k for k in written if "trees/" in k)
    assert list(backend.objects.list("filemaps/")) == []


def test_delete_object(backend):
    key, other = digest_key("chunks", "gone"), digest_key("chunks", "kept")
    backend.objects.put(key, b"x")
    backend.objects.put(other, b"y")
    backend.objects.delete(key)
    backend.objects.delete(key)  # absent: not an error
    backend.objects.delete(digest_key("trees", "never"))
    assert not backend.objects.has(key)
    with pytest.raises(NotFound):
        backend.objects.get(key)
    assert list(backend.objects.list("chunks/")) == [other]


def test_delete_lmdb_object_then_barrier(backend):
    key = digest_key("trees", "deleted")
    backend.objects.put(key, b"t")
    backend.objects.barrier()
    backend.objects.delete(key)
    backend.objects.barrier()
    again = backend.reopen()
    assert not again.objects.has(key)
    assert list(again.objects.list("trees/")) == []


def test_barrier_makes_puts_visible_to_another_handle(backend):
    keys = [digest_key(t, "seen") for t in ("chunks", "trees", "filemaps", "chunk-index")]
    for key in keys:
        backend.objects.put(key, key.encode() * 3)
    backend.objects.barrier()
    other = backend.reopen()
    assert [other.objects.get(k) for k in keys] == [k.encode() * 3 for k in keys]
    assert list(other.objects.list()) == sorted(keys)


@pytest.mark.parametrize("table", ["chunks", "trees"])
def test_large_object(backend, table):
    key = digest_key(table, "large")
    data = os.urandom(32 << 20)
    backend.objects.put(key, data)
    backend.objects.barrier()
    got = backend.reopen().objects.get(key)
    assert len(got) == len(data) and blake3.blake3(got).digest() == blake3.blake3(data).digest()
    assert backend.objects.get(key, (31 << 20) + 7, 1 << 20) == data[(31 << 20) + 7 :]


def test_concurrent_puts_of_one_object(backend):
    key = digest_key("chunks", "contended")
    data = os.urandom(1 << 20)
    assert race(lambda i: backend.objects.put(key, data)) == [None] * THREADS
    assert backend.objects.get(key) == data
    assert list(backend.objects.list("chunks/")) == [key]


# --- RefStore ------------------------------------------------------------------------

V7, V10 = "refs/versions/ds/7", "refs/versions/ds/10"
ALIAS = "refs/aliases/ds/best"


def test_missing_ref(backend):
    assert backend.refs.get(V7) is None
    assert list(backend.refs.list("refs/versions/")) == []


def test_put_and_get_ref(backend):
    tag = backend.refs.put(V7, b'{"root":"ab"}')
    assert backend.refs.get(V7) == Ref(b'{"root":"ab"}', tag)
    changed = backend.refs.put(V7, b'{"root":"cd"}')
    assert changed != tag
    assert backend.refs.get(V7) == Ref(b'{"root":"cd"}', changed)
    assert backend.reopen().refs.get(V7) == Ref(b'{"root":"cd"}', changed)


def test_create_if_absent(backend):
    tag = backend.refs.put(V7, b"first", expect=None)
    with pytest.raises(RefConflict):
        backend.refs.put(V7, b"second", expect=None)
    assert backend.refs.get(V7) == Ref(b"first", tag)


def test_replace_if_unchanged(backend):
    old = backend.refs.put(ALIAS, b"\0\0\0\1")
    new = backend.refs.put(ALIAS, b"\0\0\0\2", expect=old)
    with pytest.raises(RefConflict):
        backend.refs.put(ALIAS, b"\0\0\0\3", expect=old)  # a stale tag
    assert backend.refs.get(ALIAS) == Ref(b"\0\0\0\2", new)
    with pytest.raises(RefConflict):
        backend.refs.put(V7, b"x", expect=new)  # a tag of a key that does not exist
    assert backend.refs.get(V7) is None


def test_delete_ref(backend):
    """Deletes are unconditional (backend.RefStore.delete says why)."""
    backend.refs.delete(V7)  # absent: not an error
    old = backend.refs.put(V7, b"a")
    backend.refs.put(V7, b"b", expect=old)
    backend.refs.delete(V7)
    assert backend.refs.get(V7) is None
    assert backend.reopen().refs.get(V7) is None
    backend.refs.put(V10, b"c")
    backend.refs.delete(V10)
    assert list(backend.refs.list("refs/versions/")) == []


def test_refs_list_in_string_order_with_tags(backend):
    keys = [
        V7,
        V10,
        "refs/versions/ds/1",
        "refs/versions/ds-b/0",
        "refs/versions/d/3",
        ALIAS,
        "refs/artifacts/ds",
        "refs/runs/3f2a9c0d1e2f",
    ]
    tags = {key: backend.refs.put(key, key.encode()) for key in keys}
    everything = list(backend.refs.list())  # the local store also has refs/info/ keys
    assert everything == sorted(everything) and set(tags.items()) <= set(everything)
    assert list(backend.refs.list("refs/versions/ds/")) == sorted(
        (k, t) for k, t in tags.items() if k.startswith("refs/versions/ds/")
    )
    assert [k for k, _ in backend.refs.list("refs/versions/ds/1")] == ["refs/versions/ds/1", V10]
    assert [k for k, _ in backend.refs.list("refs/versions/d")] == sorted(
        k for k in keys if k.startswith("refs/versions/d")
    )
    assert [k for k, _ in backend.refs.list("refs/a")] == [ALIAS, "refs/artifacts/ds"]
    assert list(backend.refs.list("refs/runs/3f2a9c0d1e2f")) == [
        ("refs/runs/3f2a9c0d1e2f", tags["refs/runs/3f2a9c0d1e2f"])
    ]


def test_racing_creates_one_wins(backend):
    results = race(lambda i: backend.refs.put(V7, f"writer {i}".encode(), expect=None))
    won = [i for i, r in enumerate(results) if isinstance(r, str)]
    assert len(won) == 1
    assert all(isinstance(r, RefConflict) for i, r in enumerate(results) if i != won[0])
    assert backend.refs.get(V7) == Ref(f"writer {won[0]}".encode(), results[won[0]])


def test_racing_replaces_one_wins(backend):
    read = backend.refs.put(ALIAS, b"start")
    results = race(lambda i: backend.refs.put(ALIAS, f"writer {i}".encode(), expect=read))
    won = [i for i, r in enumerate(results) if isinstance(r, str)]
    assert len(won) == 1
    assert sum(isinstance(r, RefConflict) for r in results) == THREADS - 1
    assert backend.refs.get(ALIAS) == Ref(f"writer {won[0]}".encode(), results[won[0]])


def test_compare_and_swap_loses_no_update(backend):
    """A next_version counter, incremented by read-then-conditional-put with retries:
    every increment lands exactly once."""
    backend.refs.put("refs/artifacts/ds", b"0")
    rounds = 15

    def increment(_: int) -> int:
        conflicts = 0
        for _ in range(rounds):
            while True:
                ref = backend.refs.get("refs/artifacts/ds")
                try:
                    backend.refs.put(
                        "refs/artifacts/ds", b"%d" % (int(ref.value) + 1), expect=ref.tag
                    )
                    break
                except RefConflict:
                    conflicts += 1
        return conflicts

    results = race(increment)
    assert all(isinstance(r, int) for r in results), results
    assert backend.refs.get("refs/artifacts/ds").value == b"%d" % (THREADS * rounds)


def test_token_changes_after_every_change(backend):
    refs = backend.refs
    seen = [refs.token()]

    def changed() -> None:
        token = refs.token()
        assert token != seen[-1]
        assert backend.reopen().refs.token() != seen[-1]
        seen.append(token)

    tag = refs.put(V7, b"a", expect=None)
    changed()
    tag = refs.put(V7, b"b", expect=tag)
    changed()
    refs.put(V7, b"c")
    changed()
    refs.delete(V7)
    changed()
    refs.put(ALIAS, b"x")
    changed()
    refs.delete(ALIAS)
    changed()
    assert len(set(seen)) == len(seen)


def test_a_write_changes_the_token_of_an_area_that_holds_it(backend):
    refs = backend.refs
    run = "refs/runs/3f9ac1d2e4b5"
    refs.put(V7, b"a")
    before = refs.tokens()
    refs.put(run, b"{}")
    after = backend.reopen().refs.tokens()
    moved = {area for area, token in after.items() if before.get(area) != token}
    # areas are prefixes: the run's changed one names it; the version's areas did not
    # change unless they hold the run too (a backend's areas may be coarse)
    assert any(run.startswith(area) for area in moved)
    assert all(run.startswith(area) for area in moved)
    assert area_of(V7) != area_of(run) == "refs/runs/3f"


def test_refs_items_give_values_in_key_order(backend):
    keys = [V7, V10, "refs/versions/ds/1", "refs/versions/ds-b/0", ALIAS, "refs/artifacts/ds"]
    for key in keys:
        backend.refs.put(key, b"value of " + key.encode())
    assert list(backend.refs.items("refs/versions/ds/")) == [
        (k, b"value of " + k.encode()) for k in sorted(keys) if k.startswith("refs/versions/ds/")
    ]
    assert [k for k, _ in backend.refs.items("refs/versions/d")] == sorted(
        k for k in keys if k.startswith("refs/versions/d")
    )
    everything = list(backend.refs.items())
    assert everything == sorted(everything)
    assert {(k, b"value of " + k.encode()) for k in keys} <= set(everything)
    assert [k for k, _ in backend.refs.items()] == [k for k, _ in backend.refs.list()]
    assert list(backend.refs.items("refs/versions/none/")) == []


@pytest.fixture(params=params(transactional=True))
def txn_backend(request, tmp_path) -> Iterator[Backend]:
    """A backend whose references can change several keys at once."""
    with BACKENDS[request.param](request, tmp_path) as made:
        yield made


@pytest.fixture
def txn_refs(txn_backend):
    return txn_backend.refs


def test_write_transaction_is_atomic(txn_backend, txn_refs):
    old = txn_refs.put(ALIAS, b"\0\0\0\1")
    with txn_refs.transaction(write=True) as txn:
        txn.put("refs/artifacts/ds", b"next 8")
        tag = txn.put(V7, b"record", expect=None)
        txn.put(ALIAS, b"\0\0\0\7", expect=old)
        txn.delete(V10)
        assert txn.get(V7) == Ref(b"record", tag)  # its own writes, inside it
        assert [k for k, _ in txn.items("refs/versions/ds/")] == [V7]
    for refs in (txn_refs, txn_backend.reopen().refs):
        assert refs.get(V7) == Ref(b"record", tag)
        assert refs.get("refs/artifacts/ds").value == b"next 8"
        assert refs.get(ALIAS).value == b"\0\0\0\7"


def test_transaction_is_isolated_until_it_ends(txn_backend, txn_refs):
    txn_refs.put(V10, b"before")
    seen = {}
    with txn_refs.transaction(write=True) as txn:
        txn.put(V7, b"new")
        txn.delete(V10)

        def look() -> None:  # another thread (of another handle) reads meanwhile
            refs = txn_backend.reopen().refs
            seen["v7"], seen["v10"] = refs.get(V7), refs.get(V10)

        reader = threading.Thread(target=look)
        reader.start()
        reader.join(timeout=0.5)  # a backend may make it wait for the end instead
    reader.join()
    assert seen["v7"] is None or seen["v7"].value == b"new"
    assert (seen["v7"] is None) == (seen["v10"] is not None)  # all of it or none of it
    assert txn_refs.get(V7).value == b"new" and txn_refs.get(V10) is None


def test_read_transaction_is_a_snapshot(txn_backend, txn_refs):
    txn_refs.put(V7, b"one")
    with txn_refs.transaction() as txn:
        first = txn.get(V7)

        def write() -> None:
            txn_backend.reopen().refs.put(V10, b"two")

        writer = threading.Thread(target=write)
        writer.start()
        writer.join(timeout=0.5)  # the in-memory one waits for the end
        assert txn.get(V7) == first and txn.get(V10) is None
        assert [k for k, _ in txn.items("refs/versions/")] == [V7]
    writer.join()
    assert txn_refs.get(V10).value == b"two"


def test_conflict_in_a_transaction_leaves_nothing(txn_backend, txn_refs):
    txn_refs.put(V7, b"taken")
    before = txn_refs.token()
    with pytest.raises(RefConflict), txn_refs.transaction(write=True) as txn:
        txn.put("refs/artifacts/ds", b"next 8")
        txn.put(V7, b"mine", expect=None)
    assert txn_refs.get("refs/artifacts/ds") is None
    assert txn_refs.get(V7).value == b"taken"
    assert list(txn_refs.items("refs/artifacts/")) == []
    assert txn_refs.token() == before or txn_refs.get(V7).value == b"taken"


def test_exception_rolls_a_transaction_back(txn_backend, txn_refs):
    txn_refs.put(V7, b"kept")
    with pytest.raises(ZeroDivisionError), txn_refs.transaction(write=True) as txn:
        txn.put(V10, b"gone")
        txn.delete(V7)
        _ = 1 / 0
    assert txn_refs.get(V10) is None and txn_refs.get(V7).value == b"kept"
    assert txn_backend.reopen().refs.get(V10) is None


def test_racing_transactions_lose_no_update(txn_backend, txn_refs):
    """Read-modify-write of two keys in one transaction: writers are serialised."""
    txn_refs.put("refs/artifacts/ds", b"0")
    rounds = 10

    def increment(_: int) -> None:
        for _ in range(rounds):
            with txn_refs.transaction(write=True) as txn:
                n = int(txn.get("refs/artifacts/ds").value)
                txn.put("refs/artifacts/ds", b"%d" % (n + 1))
                txn.put(f"refs/versions/ds/{n}", b"%d" % n, expect=None)

    assert race(increment) == [None] * THREADS
    assert txn_refs.get("refs/artifacts/ds").value == b"%d" % (THREADS * rounds)
    assert len(list(txn_refs.items("refs/versions/ds/"))) == THREADS * rounds


# --- The local backend and a store made by today's code -------------------------------


def local(store: Store) -> tuple[LocalObjects, LocalRefs]:
    return LocalObjects(store.path, store.meta), LocalRefs(store.path, store.meta)


def file_bytes(objects: LocalObjects, codec: Chunks, size: int, digest: bytes) -> bytes:
    """A file's content through the interfaces only (docs/format.md section 6)."""
    if size == 0:
        return b""
    key = f"filemaps/{digest.hex()}"
    parts = meta_mod.unpack_filemap(objects.get(key)) if objects.has(key) else [(digest, size)]
    return b"".join(bytes(codec.get_chunk(d)) for d, _ in parts)


def files_of(objects: LocalObjects, codec: Chunks, root: bytes, prefix: str = "") -> dict:
    out = {}
    for entry in decode_tree(objects.get(f"trees/{root.hex()}")):
        path = prefix + entry.name.decode()
        if entry.kind == FILE:
            out[path] = file_bytes(objects, codec, entry.size, entry.digest)
        elif entry.kind == DIR:
            out.update(files_of(objects, codec, entry.digest, path + "/"))
    return out


def test_reads_a_store_made_by_artfs_put(tmp_path, store_dir, cli):
    src = tmp_path / "src"
    big = os.urandom(9 << 20)  # over twice MAX_CHUNK: several chunks whatever the bytes
    write(src / "a.txt", "alpha\n" * 1000)  # compressed
    write(src / "sub/big.bin", big)
    write(src / "sub/empty", b"")
    put = cli("put", str(src), "--name", "ds", "--alias", "best")
    assert put.code == 0, put.err
    objects, refs = local(Store.open(store_dir))
    codec = Chunks(objects)

    assert [k for k, _ in refs.list("refs/versions/")] == ["refs/versions/ds/0"]
    record = json.loads(refs.get("refs/versions/ds/0").value)
    assert refs.get(ALIAS).value == meta_mod.pack_version(0)
    assert json.loads(refs.get("refs/artifacts/ds").value)["next_version"] == 1
    assert refs.get("refs/info/format").value == str(meta_mod.FORMAT_VERSION).encode()
    files = files_of(objects, codec, bytes.fromhex(record["root"]))
    assert files == {"a.txt": b"alpha\n" * 1000, "sub/big.bin": big, "sub/empty": b""}

    chunk_files = [k.split("/")[1] for k in objects.list("chunks/")]
    indexed = [k.split("/")[1] for k in objects.list("chunk-index/")]
    assert chunk_files == indexed and len(chunk_files) >= 3
    sizes = [meta_mod.unpack_chunk(objects.get(f"chunk-index/{h}"), b"") for h in indexed]
    assert [stored for _, stored in sizes] == [len(objects.get(f"chunks/{h}")) for h in indexed]
    assert objects.get(f"trees/{record['root']}") == store_tree(store_dir, record["root"])


def store_tree(store_dir: str, hex_root: str) -> bytes:
    store = Store.open(store_dir)
    with store.meta.read() as txn:
        return txn.get(bytes.fromhex(hex_root), db=store.meta.db["trees"])


def test_token_sees_another_process_commit(store_dir, tmp_path, cli):
    write(tmp_path / "src/f", "one")
    assert cli("put", str(tmp_path / "src"), "--name", "ds").code == 0
    _, refs = local(Store.open(store_dir))
    before, tag = refs.token(), refs.get("refs/versions/ds/0").tag
    assert cli("alias", "ds:v0", "best").code == 0
    assert refs.token() != before
    assert refs.get(ALIAS).value == meta_mod.pack_version(0)
    version = refs.get("refs/versions/ds/0")
    # Moving an alias notes the edit in the version's record, so its tag moved too.
    assert "aliases" in json.loads(version.value)["edits"][-1]["fields"]
    assert version.tag == tag_of(version.value) != tag


@pytest.mark.fast
def test_refs_written_through_the_backend_are_todays_records(store):
    objects, refs = local(store)
    record = {"type": "dataset", "description": "", "created": 1.0, "next_version": 1}
    refs.put("refs/artifacts/ds", meta_mod.dumps(record), expect=None)
    tree = b"AT1\0\0\0\0"
    objects.put(f"trees/{blake3.blake3(tree).hexdigest()}", tree)
    objects.barrier()
    version = {
        "root": blake3.blake3(tree).hexdigest(),
        "size": 0,
        "files": 0,
        "created": 2.0,
        "type": "dataset",
        "description": "",
        "metadata": {},
        "message": "",
        "run": None,
    }
    refs.put("refs/versions/ds/0", meta_mod.dumps(version), expect=None)
    refs.put(ALIAS, meta_mod.pack_version(0), expect=None)
    assert [(v.label, v.aliases) for v in store.versions("ds")] == [("ds:v0", ["latest", "best"])]
    assert store.resolve("ds:best").root == blake3.blake3(tree).digest()


@pytest.mark.fast
def test_codec_writes_todays_chunk_files(store):
    objects = LocalObjects(store.path, store.meta)
    codec = Chunks(objects)
    for raw in (b"text " * 50_000, os.urandom(300_000), b"x"):
        put = codec.put_chunk(raw)
        digest = blake3.blake3(raw).digest()
        assert put == (digest, len(raw), os.path.getsize(store.chunks.path(digest)))
        assert bytes(store.chunks.get(digest)) == raw  # today's reader
        with open(store.chunks.path(digest), "rb") as f:
            assert f.read() == b"".join(chunks_mod.encode(raw))
    legacy = os.urandom(1000)
    digest = blake3.blake3(legacy).digest()
    ChunkFiles(store.chunks.root).put(digest, *chunks_mod.encode(legacy))
    assert bytes(codec.get_chunk(digest)) == legacy


@pytest.mark.fast
def test_local_keys_outside_the_layout_are_refused(store):
    objects, refs = local(store)
    for key in ("chunks/abc", "packs/" + "0" * 64, "trees/" + "A" * 64, "trees"):
        with pytest.raises(UsageError):
            objects.put(key, b"x")
    for key in (
        "versions/ds/1",
        "refs/versions/ds/01",
        "refs/versions/ds",
        "refs/nope/x",
        "refs/aliases/d s/best",
        f"refs/versions/ds/{1 << 32}",
    ):
        with pytest.raises(UsageError):
            refs.put(key, b"x")


@pytest.mark.fast
def test_a_damaged_lmdb_key_is_named(store):
    _, refs = local(store)
    with store.meta.write() as txn:
        txn.put(b"ds\0\0\0", b"{}", db=store.meta.db["versions"])  # a number cut short
    with pytest.raises(CorruptData, match="versions"):
        list(refs.list("refs/versions/"))


@pytest.mark.fast
def test_items_yield_a_damaged_lmdb_key_for_the_caller_to_report(store):
    _, refs = local(store)
    refs.put("refs/versions/ds/1", b"{}")
    with store.meta.write() as txn:
        txn.put(b"ds\0\0\0", b"cut", db=store.meta.db["versions"])  # a number cut short
    found = list(refs.items("refs/versions/ds/"))
    assert [k for k, _ in found] == ["refs/versions/ds/", "refs/versions/ds/1"]
    damaged, value = found[0]
    assert isinstance(damaged, DamagedKey) and damaged.raw == b"ds\0\0\0" and value == b"cut"
    assert "versions" in damaged.problem
    with refs.transaction() as txn:
        listed = list(txn.items("refs/versions/"))
    assert listed[0][0] == "refs/versions/"  # a damaged key's text: the prefix asked for
    assert [(getattr(k, "raw", k), v) for k, v in listed] == [
        (b"ds\0\0\0", b"cut"),
        ("refs/versions/ds/1", b"{}"),
    ]


@pytest.mark.fast
def test_counted_items_name_entries_a_damaged_page_hides(store):
    _, refs = local(store)
    refs.put("refs/versions/ds/1", b"{}")

    class Miscounted:  # an LMDB transaction whose count is one more than a cursor finds
        def __init__(self, txn):
            self.txn = txn

        def __getattr__(self, name):
            return getattr(self.txn, name)

        def stat(self, db):
            return {**self.txn.stat(db), "entries": self.txn.stat(db)["entries"] + 1}

    with refs.transaction() as txn:
        assert len(list(txn.items("refs/versions/", counted=True))) == 1
        assert len(list(txn.items("refs/versions/ds/", counted=True))) == 1  # not whole
        damaged, listed = LocalRefTxn(refs, Miscounted(txn.lmdb)), []
        with pytest.raises(CorruptData, match="its pages are damaged"):
            listed.extend(damaged.items("refs/versions/", counted=True))
        assert [k for k, _ in listed] == ["refs/versions/ds/1"]


@pytest.mark.fast
def test_unpublished_lmdb_objects_are_listed_and_read_by_their_writer(store):
    objects = LocalObjects(store.path, store.meta)
    flushed, pending = digest_key("trees", "flushed"), digest_key("trees", "pending")
    objects.put(flushed, b"1")
    objects.barrier()
    objects.put(pending, b"2")
    objects.delete(flushed)
    assert list(objects.list("trees/")) == [pending]
    assert objects.get(pending) == b"2" and not objects.has(flushed)


# --- The codec over any backend -------------------------------------------------------


def test_codec_round_trip_and_compression(backend):
    codec = Chunks(backend.objects)
    text, noise = b"column,value\n" * 20_000, os.urandom(200_000)
    t, n = codec.put_chunk(text), codec.put_chunk(noise, blake3.blake3(noise).digest())
    assert t.stored < len(text) // 5 and n.stored == len(noise) + 1
    assert bytes(codec.get_chunk(t.digest)) == text
    assert bytes(codec.get_chunk(n.digest)) == noise
    assert codec.has_chunk(t.digest)
    codec.delete_chunk(t.digest)
    assert not codec.has_chunk(t.digest)
    with pytest.raises(NotFound):
        codec.get_chunk(t.digest)


@pytest.mark.fast
def test_codec_refuses_damaged_chunks():
    objects = MemoryObjects()
    codec = Chunks(objects)
    put = codec.put_chunk(b"payload " * 1000)
    blob = bytearray(objects.get(chunk_key(put.digest)))
    for damage in (lambda b: b.__setitem__(-1, b[-1] ^ 1), lambda b: b.__setitem__(0, 7)):
        damaged = bytearray(blob)
        damage(damaged)
        objects.put(chunk_key(put.digest), bytes(damaged))
        with pytest.raises(CorruptData, match=put.digest.hex()):
            codec.get_chunk(put.digest)
    objects.put(chunk_key(put.digest), b"\x00" + b"payload " * 1000)  # raw codec, good bytes
    assert bytes(codec.get_chunk(put.digest)) == b"payload " * 1000


@pytest.mark.fast
def test_local_file_errors_are_store_errors(store):
    objects = LocalObjects(store.path, store.meta)
    os.rmdir(os.path.join(store.path, "chunks"))
    write(os.path.join(store.path, "chunks"), "not a directory")
    with pytest.raises(StoreError, match="cannot write a chunk file"):
        objects.put(digest_key("chunks", "x"), b"x")
    with pytest.raises(StoreError, match="cannot list the chunk files"):
        list(objects.list("chunks/"))


RUN = "3f2a9c0d1e2f"
PATH16 = bytes(range(16))


@pytest.mark.fast
@pytest.mark.parametrize(
    ("key", "db", "raw"),
    [
        ("refs/versions/ds/7", "versions", b"ds\0\0\0\0\7"),
        ("refs/aliases/ds/best", "aliases", b"ds\0best"),
        ("refs/artifacts/my.data-set_2", "artifacts", b"my.data-set_2"),
        ("refs/collections/wandb-registry-model/prod", "collections", b"wandb-registry-model/prod"),
        (f"refs/runs/{RUN}", "runs", RUN.encode()),
        (f"refs/running/{RUN}", "running", RUN.encode()),
        (f"refs/inputs/{RUN}/ds/258", "inputs", RUN.encode() + b"\0ds\0\0\0\1\2"),
        (f"refs/outputs/{RUN}/ds/0", "outputs", RUN.encode() + b"\0ds\0\0\0\0\0"),
        (
            f"refs/input_files/{RUN}/ds/1/{PATH16.hex()}",
            "input_files",
            RUN.encode() + b"\0ds\0\0\0\0\1" + PATH16,
        ),
        (f"refs/consumers/ds/1/{RUN}", "consumers", b"ds\0\0\0\0\1\0" + RUN.encode()),
        ("refs/info/format", "info", b"format"),
    ],
)
def test_local_reference_keys_are_todays_lmdb_keys(store, key, db, raw):
    refs = LocalRefs(store.path, store.meta)
    refs.put(key, b"value of " + raw)
    with store.meta.read() as txn:
        assert txn.get(raw, db=store.meta.db[db]) == b"value of " + raw
    table_prefix = "/".join(key.split("/")[:2]) + "/"
    assert key in [k for k, _ in refs.list(table_prefix)]


CAS_CHILD = """
import sys
from artfs.store.local import LocalRefs
from artfs.store.backend import RefConflict
from artfs.store.store import Store
store = Store.open(sys.argv[1])
refs = LocalRefs(store.path, store.meta)
for _ in range(int(sys.argv[2])):
    while True:
        ref = refs.get("refs/artifacts/ds")
        try:
            refs.put("refs/artifacts/ds", b"%d" % (int(ref.value) + 1), expect=ref.tag)
            break
        except RefConflict:
            pass
"""


def test_local_compare_and_swap_across_processes(store):
    """Processes, not threads: each has its own LMDB environment, as machines sharing a
    store directory would not, but as the CLI, the mount and a training job do."""
    LocalRefs(store.path, store.meta).put("refs/artifacts/ds", b"0")
    children = [
        subprocess.Popen([sys.executable, "-c", CAS_CHILD, store.path, "20"]) for _ in range(4)
    ]
    assert [child.wait(timeout=120) for child in children] == [0] * 4
    assert LocalRefs(store.path, store.meta).get("refs/artifacts/ds").value == b"80"


@pytest.mark.fast
def test_local_object_transactions(store):
    objects, _ = local(store)
    trees = [digest_key("trees", str(i)) for i in range(3)]
    for key in trees[:2]:
        objects.put(key, b"tree " + key.encode())
    objects.barrier()
    objects.put(trees[2], b"pending")  # not yet written: its writer sees it in transactions
    with objects.transaction() as txn:
        assert txn.get(trees[0]) == b"tree " + trees[0].encode()
        assert txn.get(digest_key("attrs", "none")) is None
        assert [k for k, _ in txn.items("trees/")] == sorted(trees)
        assert list(txn.items("attrs/")) == []
        with pytest.raises(UsageError):
            txn.get(digest_key("chunks", "a"))
    with store.meta.write() as raw:
        raw.put(b"short", b"x", db=store.meta.db["trees"])  # a damaged key
    with objects.transaction(write=True) as txn:
        listed = list(txn.items("trees/", counted=True))
        damaged = listed[0][0]
        assert isinstance(damaged, DamagedKey) and damaged == "trees/" and damaged.raw == b"short"
        for key, _ in listed:
            txn.delete(key)
        assert list(txn.items("trees/")) == []
    objects.barrier()  # the pending put was deleted with the rest: nothing comes back
    for handle in (objects, LocalObjects(store.path, store.meta)):
        with handle.transaction() as txn:
            assert list(txn.items("trees/", counted=True)) == []
    with pytest.raises(ZeroDivisionError), objects.transaction(write=True) as txn:
        txn.put(trees[0], b"rolled back")
        _ = 1 / 0
    assert not objects.has(trees[0])


@pytest.mark.fast
def test_local_counts_and_key_listings(store):
    _, refs = local(store)
    for key in ["refs/versions/ds/1", "refs/versions/ds/10", "refs/versions/ds-b/0", V7]:
        refs.put(key, b"x")
    refs.put("refs/input_files/r1/ds/7/" + "ab" * 16, b"y")
    assert refs.count("refs/versions/ds/") == 3
    assert refs.count("refs/versions/ds/1") == 2  # not at a field's end: decoded
    assert refs.count("refs/versions/") == 4
    assert refs.count("refs/input_files/r1/ds/7/") == 1
    assert refs.count("refs/input_files/r1/ds/8/") == 0
    assert refs.count("refs/nothing/") == 0
    with store.meta.write() as txn:
        txn.put(b"ds\0\0\0", b"cut", db=store.meta.db["versions"])  # damaged: counted
    assert refs.count("refs/versions/ds/") == 4
    with refs.transaction() as txn:
        assert txn.count("refs/versions/ds/") == 4
        assert [v for _, v in txn.items("refs/versions/ds/", values=False)] == [b""] * 4
    assert [k for k, _ in refs.items("refs/versions/", values=False)][1:] == [
        "refs/versions/ds-b/0",
        "refs/versions/ds/1",
        "refs/versions/ds/10",
        V7,
    ]
