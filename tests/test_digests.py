"""How a file's content is named (docs/format.md, sections 1 and 3.3).

Since format 7 a file of several chunks is named by its chunk list, so that a commit
hashes its bytes once; a file committed before is named by BLAKE3 of its bytes, and
every check of content against a digest must still take that naming.
"""

import os
import random

import blake3
import pytest

import artfs as wandb
from artfs.store import meta
from artfs.store.commit import Commit
from artfs.store.diff import diff
from artfs.store.restore import export, holds
from artfs.store.store import Store
from artfs.store.verify import verify
from tests.conftest import write

BIG = random.Random(70).randbytes(5_000_000)  # several chunks


def commit_big(store: Store, src, name: str = "ds"):
    write(src / "big.bin", BIG)
    with Commit(store) as c:
        version, _ = c.publish(name, c.scan_dir(str(src)))
    entry = store.lookup(version.root, b"big.bin")
    return version, entry


def legacy_store(store_dir: str, src, monkeypatch) -> str:
    """A store as format 6 left it: its file of several chunks named by its bytes."""
    store = Store.open(store_dir)
    whole = blake3.blake3(BIG).digest()
    with monkeypatch.context() as m:
        m.setattr(meta, "file_digest", lambda items: whole if len(items) > 1 else items[0][0])
        _, entry = commit_big(store, src)
    assert entry.digest == whole
    with store.meta.write() as txn:
        txn.put(b"format", b"6", db=store.meta.db["info"])
    store.close()
    return store_dir


@pytest.mark.fast
def test_the_chunk_list_digest_is_the_documented_one():
    """A known answer computed from the documented context string, not the constant."""
    items = [(bytes([1]) * 32, 300_000), (bytes([2]) * 32, 5)]
    raw = (
        bytes([1]) * 32
        + (300_000).to_bytes(8, "little")
        + bytes([2]) * 32
        + bytes([5, 0, 0, 0, 0, 0, 0, 0])
    )
    context = "artfs 2026-12-03 the chunk list of a file"
    assert meta.file_digest(items) == blake3.blake3(raw, derive_key_context=context).digest()
    assert meta.file_digest(items[:1]) == items[0][0]
    assert meta.file_digest([]) == blake3.blake3(b"").digest()


@pytest.mark.fast
def test_a_file_of_several_chunks_is_named_by_its_chunk_list(store, tmp_path):
    version, entry = commit_big(store, tmp_path / "src")
    chunks = store.file_chunks(entry)
    assert len(chunks) > 1 and b"".join(store.chunks.get(d) for d, _ in chunks) == BIG
    assert entry.digest == meta.file_digest(chunks) != blake3.blake3(BIG).digest()
    assert verify(store, [version], whole=True).damage == []
    assert holds(str(tmp_path / "src" / "big.bin"), entry.digest, chunks)
    changed = bytearray(BIG)
    changed[-1] ^= 1
    write(tmp_path / "other.bin", bytes(changed))
    assert not holds(str(tmp_path / "other.bin"), entry.digest, chunks)


def test_a_chunk_list_changed_in_place_is_damage(store, tmp_path):
    """Two chunks of the list swapped: the list no longer hashes to its name, so verify
    reads the file whole, and its bytes match no digest either."""
    version, entry = commit_big(store, tmp_path / "src")
    items = store.file_chunks(entry)
    with store.meta.write() as txn:
        swapped = [items[1], items[0], *items[2:]]
        txn.put(entry.digest, meta.pack_filemap(swapped), db=store.meta.db["filemaps"])
    store.close()
    store = Store.open(store.path)
    damage = verify(store, [version], whole=True).damage
    assert [(d.path, d.problem) for d in damage] == [
        ("big.bin", "its content does not match its digest")
    ]


def test_a_store_of_format_6_is_upgraded_and_its_digests_still_hold(
    store_dir, tmp_path, monkeypatch
):
    legacy_store(store_dir, tmp_path / "src", monkeypatch)
    store = Store.open(store_dir)
    with store.meta.read() as txn:
        assert txn.get(b"format", db=store.meta.db["info"]) == b"7"
    version = store.resolve("ds:v0")
    entry = store.lookup(version.root, b"big.bin")
    assert entry.digest == blake3.blake3(BIG).digest()  # nothing was renamed
    assert verify(store, [version], whole=True).damage == []
    assert holds(str(tmp_path / "src" / "big.bin"), entry.digest, store.file_chunks(entry))

    dest = tmp_path / "dest"
    write(dest / "big.bin", BIG)
    before = os.stat(dest / "big.bin").st_ino
    export(store, version, str(dest))
    assert (
        os.stat(dest / "big.bin").st_ino == before
    )  # not written again (new files are renamed in)

    # the same bytes committed now are named by their chunk list, and deduplicated
    write(tmp_path / "again" / "big.bin", BIG)
    with Commit(store) as c:
        again, _ = c.publish("ds", c.scan_dir(str(tmp_path / "again")))
        assert c.new_chunks == {}
    assert store.lookup(again.root, b"big.bin").digest == meta.file_digest(store.file_chunks(entry))
    assert diff(store, version.root, again.root) == []  # one content, named two ways
    changed = bytearray(BIG)
    changed[100] ^= 1
    write(tmp_path / "again" / "big.bin", bytes(changed))
    with Commit(store) as c:
        third, _ = c.publish("ds", c.scan_dir(str(tmp_path / "again")))
    assert [(d.status, d.path) for d in diff(store, version.root, third.root)] == [
        ("modified", "big.bin")
    ]


def test_a_legacy_chunk_list_changed_in_place_is_damage(store_dir, tmp_path, monkeypatch):
    legacy_store(store_dir, tmp_path / "src", monkeypatch)
    store = Store.open(store_dir)
    version = store.resolve("ds:v0")
    entry = store.lookup(version.root, b"big.bin")
    items = store.file_chunks(entry)
    with store.meta.write() as txn:
        txn.put(entry.digest, meta.pack_filemap(items[::-1]), db=store.meta.db["filemaps"])
    store.close()
    damage = verify(Store.open(store_dir), [version], whole=True).damage
    assert [(d.path, d.problem) for d in damage] == [
        ("big.bin", "its content does not match its digest")
    ]


def test_wandb_verify_takes_either_naming(store_dir, tmp_path, monkeypatch):
    legacy_store(store_dir, tmp_path / "src", monkeypatch)
    art = wandb.Api().artifact("ds:v0")
    root = art.download(root=str(tmp_path / "dl"))
    art.verify(root)
    with open(os.path.join(root, "big.bin"), "r+b") as f:
        f.seek(4_000_000)
        f.write(b"x")
    with pytest.raises(ValueError, match="Digest mismatch"):
        art.verify(root)


def test_a_changed_file_is_read_no_further_than_its_first_differing_chunk(store, tmp_path):
    """Staging's 'unchanged?' and export's 'already there?' ask this of files of the
    stored size: a rewritten 80 MiB checkpoint is told apart within its first block."""
    big = random.Random(71).randbytes(80 << 20)
    write(tmp_path / "src" / "ckpt.bin", big)
    with Commit(store) as c:
        version, _ = c.publish("ckpt", c.scan_dir(str(tmp_path / "src")))
    entry = store.lookup(version.root, b"ckpt.bin")
    chunks = store.file_chunks(entry)
    changed = bytearray(big)
    changed[10] ^= 1
    write(tmp_path / "changed.bin", bytes(changed))
    fd = os.open(tmp_path / "changed.bin", os.O_RDONLY)
    try:
        assert not holds(fd, entry.digest, chunks)
        assert os.lseek(fd, 0, os.SEEK_CUR) < len(big) // 2
    finally:
        os.close(fd)
    assert holds(str(tmp_path / "src" / "ckpt.bin"), entry.digest, chunks)
