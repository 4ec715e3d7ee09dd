"""Input that breaks the store, and a store that is broken: bounded metadata at input,
readers that survive a record they cannot parse, a damaged or truncated data.mdb
refused at open, verify checking the metadata's own invariants, one name validator.

Damaged stores are made the way damage happens: raw bytes written into LMDB with the
``lmdb`` module (as an older artfs or a hostile store would hold them), or bytes
flipped and cut in a copy of ``meta/data.mdb``.  Every command runs as a subprocess
and must answer with its exit code and one line, never a traceback or a signal.
"""

import errno
import json
import os
import random
import struct

import lmdb
import pytest

import artfs
from artfs.errors import CorruptData, InvalidName, UsageError
from artfs.store import meta
from artfs.store import runs as runs_mod
from artfs.store import store as store_mod
from artfs.store.store import Store
from artfs.store.tree import FILE, MAGIC, decode_tree, tree_digest
from tests.conftest import read, write
from tests.test_names import assert_refused, chunk_files, dump_meta, ok

DEPTH, KEYS, BYTES = 64, 10_000, 1 << 20  # the documented bounds (README, docs/format.md)

# --- helpers ----------------------------------------------------------------------------


def env_of(store_dir: str) -> lmdb.Environment:
    return lmdb.open(os.path.join(store_dir, "meta"), max_dbs=len(meta.DBS), subdir=True)


def put_raw(store_dir: str, db: str, key: bytes, value: bytes, *, delete: bytes = b"") -> None:
    """Write one record straight into the metadata (and delete another, if given)."""
    env = env_of(store_dir)
    try:
        handle = env.open_db(db.encode())
        with env.begin(write=True) as txn:
            if delete:
                assert txn.delete(delete, db=handle)
            txn.put(key, value, db=handle)
    finally:
        env.close()


def close_stores() -> None:
    """Close what this process opened: LMDB must not have one environment open twice in a
    process (closing the second would drop the first's locks)."""
    store_mod.close_all()


def get_raw(store_dir: str, db: str, key: bytes) -> bytes | None:
    return dump_meta(store_dir)[db].get(key)


def record_of(store_dir: str, name: str, number: int) -> dict:
    return json.loads(get_raw(store_dir, "versions", meta.version_key(name, number)))


def put_record(store_dir: str, name: str, number: int, record: dict | bytes) -> None:
    raw = record if isinstance(record, bytes) else json.dumps(record).encode()
    put_raw(store_dir, "versions", meta.version_key(name, number), raw)


def no_traceback(result) -> None:
    """Exit 0, 1 or 2 (no signal), no traceback, and on failure only artfs's own lines."""
    assert result.code in (0, 1, 2), result
    assert "Traceback" not in result.err, result.err
    if result.code:
        assert all(line.startswith("artfs: ") for line in result.err.splitlines()), result.err


def one_line(result, code: int = 1) -> str:
    no_traceback(result)
    return assert_refused(result, codes=(code,))


def deep(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


def deep_text(levels: int) -> str:
    return '{"k":' * (levels - 1) + "{}" + "}" * (levels - 1)


def unchanged_chunks(store_dir: str, before) -> None:
    assert chunk_files(store_dir) == before, "chunk files were deleted or changed"


# --- 1. metadata and config are bounded at input ------------------------------------------


@pytest.mark.fast
def test_the_bounds_are_the_documented_ones():
    assert (meta.MAX_DEPTH, meta.MAX_KEYS, meta.MAX_BYTES) == (DEPTH, KEYS, BYTES)


@pytest.mark.fast
@pytest.mark.parametrize("levels", [65, 986, 5000])
def test_deep_metadata_is_refused_by_log_artifact(store_dir, tmp_path, levels):
    write(tmp_path / "a.txt", "a")
    with artfs.init() as run:
        with pytest.raises(UsageError, match="nested more than 64 levels"):  # as W&B: at once
            artfs.Artifact("ds", "dataset", metadata=deep(levels))
        assert chunk_files(store_dir) == []
        art = artfs.Artifact("ds", "dataset")
        art.add_file(str(tmp_path / "a.txt"))  # stored now: a draft snapshots what it adds
        art.metadata = deep(levels)
        with pytest.raises(UsageError, match="nested more than 64 levels"):
            run.log_artifact(art)
        assert Store.open(store_dir).all_versions() == []
        del art  # a draft that is never logged: gc frees what it stored
    from artfs.store.gc import collect

    collect(Store.open(store_dir))
    assert chunk_files(store_dir) == []


@pytest.mark.fast
def test_the_limits_themselves_are_accepted(store_dir, tmp_path):
    write(tmp_path / "a.txt", "a")
    metadata = {"deep": deep(DEPTH - 1), **{f"k{i}": i for i in range(9_000)}}
    with artfs.init() as run:
        art = artfs.Artifact("ds", "dataset", metadata=metadata)
        art.add_file(str(tmp_path / "a.txt"))
        run.log_artifact(art)
    assert artfs.Api().artifact("ds:v0").metadata == metadata


@pytest.mark.fast
@pytest.mark.parametrize(
    "metadata, says",
    [
        ({f"k{i}": i for i in range(KEYS + 1)}, "more than 10,000 keys"),
        ({"a": [{f"k{i}": i} for i in range(KEYS + 1)]}, "more than 10,000 keys"),
        ({"blob": "x" * (BYTES + 1)}, "over the limit of 1,048,576"),
        ({"a": [[[[1]]]] * 10} | {"b": deep(70)}, "nested more than 64"),
    ],
    ids=["keys", "keys-in-lists", "size", "deep-beside-flat"],
)
def test_big_metadata_is_refused_before_anything_is_stored(store_dir, tmp_path, metadata, says):
    write(tmp_path / "a.txt", "a")
    with pytest.raises(UsageError, match=says):  # W&B validates metadata in the constructor
        artfs.Artifact("ds", "dataset", metadata=metadata)
    art = artfs.Artifact("ds", "dataset")
    art.metadata = metadata  # set later: refused when a file is added, before it is stored
    with pytest.raises(UsageError, match=says):
        art.add_file(str(tmp_path / "a.txt"))
    assert Store.open(store_dir).all_versions() == [] and chunk_files(store_dir) == []


@pytest.mark.fast
def test_a_cycle_in_metadata_is_refused(store_dir, tmp_path):
    cycle: dict = {}
    cycle["self"] = cycle
    write(tmp_path / "a.txt", "a")
    with pytest.raises(UsageError, match="nested more than 64"):
        artfs.Artifact("ds", "dataset", metadata=cycle)


@pytest.mark.parametrize(
    "text, says",
    [
        (deep_text(20_000), "nested more than 64"),
        (deep_text(65), "nested more than 64"),
        ("[" * 30_000 + "]" * 30_000, "nested more than 64"),
        (json.dumps({f"k{i}": 0 for i in range(KEYS + 1)}), "10,000 keys"),
    ],
    ids=["20000-levels", "65-levels", "deep-list", "keys"],
)  # one argument is < 128 KiB
def test_put_refuses_metadata_it_could_not_read_back(cli, store_dir, tmp_path, text, says):
    write(tmp_path / "src" / "a.txt", "a")
    line = one_line(cli("put", str(tmp_path / "src"), "--name", "ds", "--metadata", text), code=2)
    assert "--metadata" in line and says in line
    assert not os.path.exists(os.path.join(store_dir, "chunks")) or chunk_files(store_dir) == []


def test_commit_refuses_deep_metadata_before_reading_the_staging(cli, store_dir):
    line = one_line(cli("commit", "ds", "--metadata", deep_text(20_000)), code=2)
    assert "nested more than 64" in line


def test_run_config_is_bounded(cli, store_dir):
    with pytest.raises(UsageError, match="config is nested more than 64"):
        artfs.init(config=deep(5000))
    assert runs_mod.list_runs(Store.open(store_dir), include_implicit=True) == []
    line = one_line(cli("run", "--config", deep_text(20_000), "--", "true"), code=2)
    assert "--config is nested more than 64" in line
    assert runs_mod.list_runs(Store.open(store_dir), include_implicit=True) == []


# --- 1. readers survive a version record they cannot parse -------------------------------


def damaged_record(kind: str, good: dict) -> bytes:
    if kind == "deep":  # what an artfs without bounds stored
        return json.dumps(good).replace('"metadata": {}', f'"metadata": {deep_text(5000)}').encode()
    if kind == "not-utf8":
        return json.dumps(good).encode().replace(b'"root"', b'"r\xffot"')
    if kind == "not-json":
        return json.dumps(good).encode()[:-7]
    if kind == "no-root":
        return json.dumps({k: v for k, v in good.items() if k != "root"}).encode()
    if kind == "bad-root":
        return json.dumps(good | {"root": "zz" * 32}).encode()
    if kind == "a-list":
        return b"[1, 2, 3]"
    raise AssertionError(kind)


KINDS = ["deep", "not-utf8", "not-json", "no-root", "bad-root", "a-list"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_version_record_is_named_and_the_rest_goes_on(
    cli, store_dir, seeded, tmp_path, kind
):
    put_record(store_dir, "ds", 1, damaged_record(kind, record_of(store_dir, "ds", 1)))
    before = chunk_files(store_dir)

    listing = cli("ls")  # every artifact listed, the damage named on stderr
    no_traceback(listing)
    assert listing.code == 0
    assert [line.split()[0] for line in listing.out.splitlines()] == ["ds", "model"]
    assert "ds:v1" in listing.err and len(listing.err.splitlines()) == 1

    versions = cli("ls", "ds")
    no_traceback(versions)
    rows = versions.out.splitlines()
    assert rows[0].startswith("ds:v0") and "DAMAGED" not in rows[0]
    assert rows[1].startswith("ds:v1") and "DAMAGED" in rows[1] and "best" in rows[1]
    assert rows[2].startswith("ds:v2") and "latest" in rows[2]
    as_json = json.loads(cli("ls", "ds", "--json").out)
    assert [("damaged" in r, r["version"]) for r in as_json] == [
        (False, "v0"),
        (True, "v1"),
        (False, "v2"),
    ]

    for ref in ("ds:v1", "ds:best"):
        line = one_line(cli("show", ref))
        assert "ds:v1" in line and "artfs rm ds:v1" in line
    assert ok(cli("show", "ds:v2")).out.startswith("ds:v2")
    one_line(cli("get", "ds:v1", str(tmp_path / "d1")))
    ok(cli("get", "ds:v2", str(tmp_path / "d2")))
    assert read(tmp_path / "d2" / "sub" / "c.txt") == b"third"

    checked = cli("verify")
    no_traceback(checked)
    assert checked.code == 1
    damaged = [line for line in checked.out.splitlines() if line.startswith("DAMAGED")]
    assert len(damaged) == 1 and damaged[0].startswith("DAMAGED ds:v1: the record of ds:v1")
    assert "in 4 versions" in checked.out  # the three others read and checked too
    assert ok(cli("verify", "ds:v2")).out.endswith("all intact\n")

    for args in (["gc"], ["gc", "--dry-run"]):
        line = one_line(cli(*args))
        assert line.startswith("artfs: error: nothing was freed: the record of ds:v1")
    unchanged_chunks(store_dir, before)
    no_traceback(cli("stats"))


def test_a_damaged_version_can_be_removed_then_gc_runs(cli, store_dir, seeded):
    put_record(store_dir, "ds", 2, damaged_record("not-json", record_of(store_dir, "ds", 2)))
    one_line(cli("gc"))
    ok(cli("rm", "ds:v2"))  # the user's choice: no backup to restore
    assert "freed" in ok(cli("gc")).out
    assert ok(cli("verify")).out.endswith("all intact\n")
    assert ok(cli("show", "ds")).out.startswith("ds:v1")


def test_a_new_version_is_made_after_a_damaged_latest(cli, store_dir, seeded, tmp_path):
    put_record(store_dir, "ds", 2, damaged_record("no-root", record_of(store_dir, "ds", 2)))
    write(tmp_path / "src" / "n.txt", "new")
    assert ok(cli("put", str(tmp_path / "src"), "--name", "ds")).out == "ds:v3\n"
    assert ok(cli("show", "ds")).out.startswith("ds:v3")


@pytest.mark.fast
def test_the_api_skips_a_damaged_version_with_a_warning(store_dir, seeded):
    put_record(store_dir, "ds", 0, b"\xff\xfe")
    with pytest.warns(UserWarning, match="ds:v0"):
        found = artfs.Api().artifact_versions("ds")
    assert [a.version for a in found] == ["v1", "v2"]
    with pytest.raises(CorruptData, match="ds:v0"):
        artfs.Api().artifact("ds:v0")


def test_a_damaged_artifact_record_or_key(cli, store_dir, seeded):
    put_raw(store_dir, "artifacts", b"model", b'{"type": "mo')
    put_raw(store_dir, "artifacts", b"\xffbad", b"{}")
    listing = cli("ls")
    no_traceback(listing)
    assert listing.code == 0 and "ds " in listing.out and "model" in listing.out
    assert len(listing.err.splitlines()) == 2
    assert "artifact 'model'" in listing.err and "\\xffbad" in listing.err
    assert ok(cli("show", "model:v0")).out.startswith("model:v0")  # its version is intact
    checked = cli("verify")
    assert checked.code == 1 and "artifact 'model'" in checked.out and "\\xffbad" in checked.out


def test_damaged_run_records(cli, store_dir):
    good = artfs.init(job_type="good")
    good.finish()
    bad = artfs.init(job_type="bad")
    bad.finish()
    close_stores()
    put_raw(store_dir, "runs", bad.id.encode(), b'{"id": "x", "config": {' + b"[" * 5000)
    listing = cli("runs", "ls")
    no_traceback(listing)
    assert listing.code == 0 and good.id in listing.out and bad.id not in listing.out
    assert f"run {bad.id}" in listing.err
    assert f"run {bad.id}" in one_line(cli("runs", "show", bad.id))
    assert ok(cli("runs", "show", good.id)).out.startswith(f"run {good.id}")


def test_a_damaged_staging_base_stops_gc(cli, store_dir, seeded):
    ok(cli("stage", "ds"))
    with open(os.path.join(store_dir, "staging", "ds", "base.json"), "w") as f:
        f.write('{"version": "ds:v2", "ro')
    before = chunk_files(store_dir)
    line = one_line(cli("gc"))
    assert "nothing was freed" in line and "staging 'ds'" in line
    unchanged_chunks(store_dir, before)


# --- 2. a damaged data.mdb ------------------------------------------------------------


COMMANDS = [
    ["ls"],
    ["ls", "ds"],
    ["show", "ds"],
    ["verify"],
    ["get", "ds", "{dest}"],
    ["gc"],
    ["stats"],
    ["put", "{src}", "--name", "ds"],
    ["stage", "ds"],
    ["runs", "ls"],
    ["mount", "{mnt}"],
]


def run_all(cli, tmp_path, commands=COMMANDS):
    write(tmp_path / "src" / "new.txt", "new")
    os.makedirs(tmp_path / "mnt", exist_ok=True)
    where = {
        "dest": str(tmp_path / "dest"),
        "src": str(tmp_path / "src"),
        "mnt": str(tmp_path / "mnt"),
    }
    return {" ".join(args): cli(*[a.format(**where) for a in args]) for args in commands}


@pytest.mark.parametrize("fraction", [0.5, 0.9, "last-page"])
def test_a_truncated_data_file_is_refused_at_open(cli, store_dir, seeded, tmp_path, fraction):
    data = os.path.join(store_dir, "meta", "data.mdb")
    size = os.path.getsize(data)
    cut = size - 1000 if fraction == "last-page" else int(size * fraction)
    os.truncate(data, cut)
    chunks = chunk_files(store_dir)
    for command, result in run_all(cli, tmp_path).items():
        line = one_line(result)  # not SIGBUS (exit 135)
        assert "cut short" in line and "backup" in line and "chunk files" in line, command
    assert os.path.getsize(data) == cut, "the damaged file was changed"
    unchanged_chunks(store_dir, chunks)
    assert not os.path.exists(tmp_path / "dest")
    assert os.listdir(tmp_path / "mnt") == []  # and no mount left (no_mount_left)


def flip_all(path: str, pattern: bytes, offset: int, value: int) -> int:
    """Set byte ``offset`` of every occurrence of ``pattern`` (a freed page may hold an
    old copy of a record); → how many were changed."""
    with open(path, "r+b") as f:
        blob = bytearray(f.read())
        found = 0
        at = blob.find(pattern)
        while at >= 0:
            blob[at + offset] = value
            found += 1
            at = blob.find(pattern, at + 1)
        f.seek(0)
        f.write(blob)
    return found


def test_flipped_bytes_in_a_record_name_the_version(cli, store_dir, seeded, tmp_path):
    data = os.path.join(store_dir, "meta", "data.mdb")
    assert flip_all(data, b'"message":"first"', 11, 0xFF) >= 1  # ds:v0's: not UTF-8
    before = chunk_files(store_dir)
    results = run_all(
        cli,
        tmp_path,
        [["ls"], ["ls", "ds"], ["show", "ds:v0"], ["verify"], ["get", "ds:v0", "{dest}"], ["gc"]],
    )
    for result in results.values():
        no_traceback(result)
    assert results["ls"].code == 0 and "ds:v0" in results["ls"].err
    assert "ds:v0" in one_line(results["show ds:v0"])
    assert "ds:v0" in one_line(results["get ds:v0 {dest}"])
    assert "DAMAGED ds:v0" in results["verify"].out
    assert "nothing was freed" in one_line(results["gc"])
    unchanged_chunks(store_dir, before)


def test_flipped_bytes_in_an_alias_key(cli, store_dir, seeded):
    data = os.path.join(store_dir, "meta", "data.mdb")
    assert flip_all(data, b"ds\0best\0\0\0\x01", 3, 0xE9) >= 1
    versions = ok(cli("ls", "ds")).out.splitlines()  # the alias is lost, not the listing
    assert len(versions) == 3 and "best" not in "".join(versions)
    checked = cli("verify")
    assert checked.code == 1 and "alias key" in checked.out


@pytest.mark.parametrize("seed", range(6))
def test_random_flips_never_give_a_traceback_nor_free_a_live_chunk(
    cli, store_dir, seeded, tmp_path, seed
):
    """Every chunk of the seeded store is live: whatever the flips hit, gc may not free one."""
    data = os.path.join(store_dir, "meta", "data.mdb")
    rnd = random.Random(seed)
    with open(data, "r+b") as f:
        blob = bytearray(f.read())
        for _ in range(8):
            blob[rnd.randrange(len(blob))] ^= 1 << rnd.randrange(8)
        f.seek(0)
        f.write(blob)
    before = chunk_files(store_dir)
    for command, result in run_all(cli, tmp_path, COMMANDS[:7]).items():
        no_traceback(result)
        if result.code and (command != "verify" or result.err):  # verify: damage on stdout
            assert len(result.err.splitlines()) == 1, (command, result.err)
    unchanged_chunks(store_dir, before)


def test_a_damaged_transaction_id_in_a_meta_page_is_refused(cli, store_dir, seeded, tmp_path):
    """LMDB would open the older meta page's snapshot without a word, and gc would then
    free the chunks of every later version as a crashed commit's leftovers."""
    data = os.path.join(store_dir, "meta", "data.mdb")
    with open(data, "r+b") as f:
        ids = [
            struct.unpack("<Q", os.pread(f.fileno(), 8, page * 4096 + 16 + 128))[0]
            for page in (0, 1)
        ]
        older = ids.index(min(ids))
        os.pwrite(f.fileno(), struct.pack("<Q", min(ids) | 1 << 7), older * 4096 + 16 + 128)
    before = chunk_files(store_dir)
    for command, result in run_all(cli, tmp_path, COMMANDS[:7]).items():
        line = one_line(result)
        assert "meta pages disagree" in line and "backup" in line, command
    unchanged_chunks(store_dir, before)


def test_an_unknown_database_name_is_damage(cli, store_dir, seeded):
    data = os.path.join(store_dir, "meta", "data.mdb")
    assert flip_all(data, b"filemaps", 0, ord("g")) >= 1
    line = one_line(cli("ls"))
    assert "unknown database b'gilemaps'" in line and "backup" in line


def test_a_mount_refuses_a_damaged_store_and_leaves_no_mount(cli, store_dir, seeded, tmp_path):
    os.truncate(os.path.join(store_dir, "meta", "data.mdb"), 8192 + 100)
    os.makedirs(tmp_path / "mnt")
    assert "cut short" in one_line(cli("mount", str(tmp_path / "mnt")))


def test_the_mount_serves_the_rest_of_a_store_with_a_damaged_record(
    cli, store_dir, seeded, tmp_path
):
    put_record(store_dir, "ds", 1, b'{"root": "')
    mnt = tmp_path / "mnt"
    os.makedirs(mnt)
    ok(cli("mount", str(mnt)))
    try:
        listed = set(os.listdir(mnt / "artifacts" / "ds"))
        assert {"v0", "v2", "best", "latest"} <= listed and "v1" not in listed
        with pytest.raises(OSError) as e:
            os.stat(mnt / "artifacts" / "ds" / "v1")
        assert e.value.errno == errno.EIO
        with pytest.raises(OSError) as e:
            read(mnt / "meta" / "ds" / "v1.json")
        assert e.value.errno == errno.EIO
        assert read(mnt / "artifacts" / "ds" / "v2" / "sub" / "c.txt") == b"third"
        assert json.loads(read(mnt / "meta" / "ds" / "v2.json"))["version"] == "v2"
    finally:
        ok(cli("umount", str(mnt)))


# --- 2. verify checks the metadata's own invariants --------------------------------------


def tree_blob(entries: list[tuple[bytes, int, int, bytes]]) -> bytes:
    """A tree object of FILE entries (name, mode, size, digest), names in order."""
    out = MAGIC + struct.pack("<I", len(entries))
    for name, mode, size, digest in sorted(entries):
        out += (
            struct.pack("<BHH", FILE, mode, len(name)) + name + struct.pack("<Q32s", size, digest)
        )
    return out


def forge_version(store_dir: str, number: int, blob: bytes, size: int, files: int) -> None:
    """ds:vN made to hold the tree ``blob`` (a root of files only), without times."""
    digest = tree_digest(blob)
    put_raw(store_dir, "trees", digest, blob)
    record = record_of(store_dir, "ds", number) | {
        "root": digest.hex(),
        "size": size,
        "files": files,
    }
    del record["attrs"], record["mtime_ns"]
    put_record(store_dir, "ds", number, record)


def a_txt(store_dir: str) -> tuple[int, bytes]:
    """(size, digest) of ds:v0's a.txt, a file of one chunk."""
    root = bytes.fromhex(record_of(store_dir, "ds", 0)["root"])
    entry = next(e for e in decode_tree(get_raw(store_dir, "trees", root)) if e.name == b"a.txt")
    return entry.size, entry.digest


def verify_damage(cli) -> list[dict]:
    result = cli("verify", "--json")
    no_traceback(result)
    assert result.code == 1, result.out
    return json.loads(result.out)["damage"]


def test_verify_an_empty_file_recorded_with_a_digest_of_content(cli, store_dir, seeded):
    _, digest = a_txt(store_dir)
    forge_version(store_dir, 2, tree_blob([(b"zero.bin", 0o644, 0, digest)]), 0, 1)
    damage = verify_damage(cli)
    assert [(d["version"], d["path"]) for d in damage] == [("ds:v2", "zero.bin")]
    assert "empty" in damage[0]["problem"]


def test_verify_a_size_that_its_chunk_does_not_hold(cli, store_dir, seeded):
    size, digest = a_txt(store_dir)
    forge_version(store_dir, 2, tree_blob([(b"a.txt", 0o644, size - 1, digest)]), size - 1, 1)
    damage = verify_damage(cli)
    assert [(d["version"], d["path"]) for d in damage] == [("ds:v2", "a.txt")]
    assert f"holds {size} bytes" in damage[0]["problem"]


def test_verify_a_small_file_with_a_chunk_list(cli, store_dir, seeded):
    """No file under MIN_CHUNK has a chunk list (readers take it as one chunk), so one
    is damage, even when its chunks would make its digest (docs/format.md, 3.3)."""
    size, digest = a_txt(store_dir)
    items = [(digest, size), (digest, size)]
    named = meta.file_digest(items)
    put_raw(store_dir, "filemaps", named, meta.pack_filemap(items))
    forge_version(store_dir, 2, tree_blob([(b"twice.bin", 0o644, 2 * size, named)]), 2 * size, 1)
    damage = verify_damage(cli)
    assert [(d["version"], d["path"]) for d in damage] == [("ds:v2", "twice.bin")]
    assert "yet has a chunk list" in damage[0]["problem"]


def test_verify_a_file_whose_chunk_is_not_indexed(cli, store_dir, seeded):
    size, digest = a_txt(store_dir)
    put_raw(
        store_dir, "chunks", b"\0" * 32, get_raw(store_dir, "chunks", digest), delete=digest
    )  # the key of a live chunk damaged
    damage = [d for d in verify_damage(cli) if d["version"] != "store"]
    assert [(d["version"], d["path"]) for d in damage] == [("ds:v0", "a.txt")]
    assert "neither a chunk list nor a chunk" in damage[0]["problem"]
    line = one_line(cli("gc"))
    assert "nothing was freed" in line and digest.hex() in line
    assert os.path.exists(os.path.join(store_dir, "chunks", digest.hex()[:2], digest.hex()[2:]))


def test_verify_and_gc_a_tree_that_does_not_hash_to_its_key(cli, store_dir, seeded):
    root = bytes.fromhex(record_of(store_dir, "ds", 0)["root"])
    blob = bytearray(get_raw(store_dir, "trees", root))
    blob[-1] ^= 1  # the last digest byte of the last entry: it still parses
    put_raw(store_dir, "trees", root, bytes(blob))
    before = chunk_files(store_dir)
    damage = verify_damage(cli)
    assert ("ds:v0", "/") in {(d["version"], d["path"]) for d in damage}
    assert any("does not match its digest" in d["problem"] for d in damage)
    assert "does not match its digest" in one_line(cli("gc"))
    unchanged_chunks(store_dir, before)


def test_verify_a_missing_tree_and_a_record_that_disagrees(cli, store_dir, seeded):
    root = bytes.fromhex(record_of(store_dir, "ds", 1)["root"])
    sub = next(e.digest for e in decode_tree(get_raw(store_dir, "trees", root)) if e.name == b"sub")
    env = env_of(store_dir)
    with env.begin(write=True) as txn:
        assert txn.delete(sub, db=env.open_db(b"trees", txn=txn))
    env.close()
    record = record_of(store_dir, "ds", 2)
    put_record(store_dir, "ds", 2, record | {"size": record["size"] + 1})
    damage = {(d["version"], d["path"]): d["problem"] for d in verify_damage(cli)}
    assert f"tree {sub.hex()} is missing" == damage[("ds:v1", "sub")]
    assert "its record says" in damage[("ds:v2", "")]
    assert "nothing was freed" in one_line(cli("gc"))


def test_verify_an_attribute_object_that_does_not_match_its_tree(cli, store_dir, seeded):
    from artfs.store import attrs

    record = record_of(store_dir, "ds", 0)
    wrong = attrs.encode([1, 2, 3, 4, 5], [])  # the root has 2 entries, one a directory
    put_raw(store_dir, "attrs", attrs.digest_of(wrong), wrong)
    put_record(store_dir, "ds", 0, record | {"attrs": attrs.digest_of(wrong).hex()})
    damage = verify_damage(cli)
    assert [(d["version"], d["path"]) for d in damage] == [("ds:v0", "/")]
    assert "5 times" in damage[0]["problem"]


def test_verify_the_indexes_of_the_whole_store(cli, store_dir, seeded):
    put_raw(store_dir, "aliases", b"ds\0gone", meta.pack_version(9))
    put_raw(store_dir, "aliases", b"ds\0short", b"\0\1")
    put_raw(store_dir, "chunks", b"\7" * 32, b"\0" * 15)
    put_raw(store_dir, "filemaps", b"\7" * 32, b"\0" * 41)
    put_raw(store_dir, "versions", b"ds\0\xff\0\0\0\1", b"{}")
    record = record_of(store_dir, "model", 0)
    put_record(store_dir, "model", 0, record | {"type": "dataset"})
    problems = "\n".join(f"{d['version']} {d['problem']}" for d in verify_damage(cli))
    for expected in [
        "alias ds:gone names v9",
        "alias ds:short is damaged (2 bytes, not 4)",
        "index entry of chunk 0707",
        "chunk list of file 0707",
        "a version key",
        "model:v0 its type 'dataset' is not the artifact's",
    ]:
        assert expected in problems, problems
    assert ok(cli("verify", "ds:v2")).out.endswith("all intact\n")  # not the whole store


@pytest.mark.fast
def test_verify_reads_each_chunk_once(store, tmp_path):
    """Checking a many-chunk file's digest reuses the reads that check its chunks."""
    from artfs.store.commit import Commit
    from artfs.store.verify import verify

    rnd = random.Random(7)
    big = rnd.randbytes(3_000_000)
    write(tmp_path / "src" / "big.bin", big)
    write(tmp_path / "src" / "copy.bin", big)
    write(tmp_path / "src" / "zeros.bin", bytes(9 << 20))  # one chunk of zeros, repeated
    with Commit(store) as c:
        version, _ = c.publish("ds", c.scan_dir(str(tmp_path / "src")))
    reads: list[bytes] = []
    get = store.chunks.get
    store.chunks.get = lambda d: reads.append(d) or get(d)
    try:
        report = verify(store, [version], whole=True)
    finally:
        del store.chunks.get
    assert report.damage == [] and report.files == 3
    assert len(reads) == len(set(reads)) == report.chunks >= 3


# --- 3. one validator for every name ------------------------------------------------------


def test_stage_and_unstage_refuse_a_version_as_a_name(cli, store_dir, seeded):
    line = one_line(cli("stage", "a:b"), code=2)
    assert "'artfs stage a --from b'" in line
    assert "--from v1" in one_line(cli("stage", "ds:v1"), code=2)
    for bad in ("a:b:c", "a/b", "..", ""):
        one_line(cli("stage", bad), code=2)
        one_line(cli("unstage", bad), code=2)
    one_line(cli("unstage", "ds:v1"), code=2)
    assert not os.path.exists(os.path.join(store_dir, "staging", "a"))
    assert not os.path.exists(os.path.join(store_dir, "staging", "ds"))


@pytest.mark.parametrize(
    "args",
    [
        ["ls", "ds:v1"],
        ["alias", "--rm", "ds:v1", "best"],
        ["commit", "a:b"],
        ["put", ".", "--name", "a:b"],
    ],
)
def test_every_name_argument_takes_only_a_name(cli, store_dir, seeded, args):
    one_line(cli(*args), code=2)


@pytest.mark.fast
def test_the_api_takes_the_same_names(store_dir, seeded):
    for call in (
        lambda: artfs.Api().artifact_versions("ds:v1"),
        lambda: artfs.Api().artifacts(name="a:b"),
        lambda: artfs.Artifact("a:b", "dataset"),
    ):
        with pytest.raises(InvalidName):
            call()


def test_a_run_id_that_is_not_a_name_is_refused(cli, store_dir, seeded, tmp_path):
    before = dump_meta(store_dir)
    write(tmp_path / "src" / "n.txt", "n")
    for bad in ("a\x01b", "a:b", "\udcff"):
        line = one_line(
            cli("put", str(tmp_path / "src"), "--name", "ds", env={"ARTFS_RUN_ID": bad}), code=2
        )
        assert "ARTFS_RUN_ID" in line
    assert dump_meta(store_dir) == before


def test_a_data_file_cut_under_a_running_mount_leaves_no_dead_mount(
    cli, store_dir, seeded, tmp_path
):
    """It was SIGBUS: the daemon died with the kernel still holding the mount."""
    import time

    mnt = tmp_path / "mnt"
    os.makedirs(mnt)
    ok(cli("mount", str(mnt)))
    try:
        assert read(mnt / "artifacts" / "ds" / "v2" / "sub" / "c.txt") == b"third"
        data = os.path.join(store_dir, "meta", "data.mdb")
        os.truncate(data, os.path.getsize(data) // 2)
        for path in (mnt / "artifacts", mnt / "meta" / "model"):
            with pytest.raises(OSError) as e:
                os.listdir(path)
            assert e.value.errno in (errno.EIO, errno.ENOENT)
        time.sleep(2.5)  # a lineage flush has tried to write meanwhile
        assert os.path.ismount(mnt)  # still serving: it answers, not ENOTCONN
        assert sorted(os.listdir(mnt)) == ["artifacts", "meta", "staging"]
        with open(os.path.join(store_dir, "logs", "mount.log")) as f:
            assert "cut short" in f.read()
    finally:
        cli("umount", str(mnt))
