"""Drafts and reading, as W&B documents them (Artifact reference of the W&B SDK):
files are snapshotted when added, W&B's signatures, defaults and exception types."""

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import datetime

import blake3
import pytest

import artfs as wandb
from artfs.errors import ArtifactFinalizedError, ArtifactNotLoggedError
from artfs.store.gc import collect
from artfs.store.store import Store
from tests.conftest import read, write


def b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def chunk_files(store_dir: str) -> list[str]:
    root = os.path.join(store_dir, "chunks")
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)


def logged(art):
    with wandb.init(job_type="t") as run:
        run.log_artifact(art)
    return art


# --- snapshots at add time --------------------------------------------------------------


@pytest.mark.fast
def test_a_file_added_from_a_deleted_temporary_directory_is_logged(store_dir, tmp_path):
    tmp = tmp_path / "tmp"
    write(tmp / "model.bin", b"weights v1")
    write(tmp / "data/train.csv", "a,b\n1,2\n")
    run = wandb.init(job_type="train")
    art = wandb.Artifact("model", type="model")
    art.add_file(str(tmp / "model.bin"))
    art.add_dir(str(tmp / "data"), name="data")
    shutil.rmtree(tmp)  # W&B's docs pattern: tempfile.TemporaryDirectory() ends before logging
    run.log_artifact(art)
    run.finish()
    out = wandb.Api().artifact("model:latest").download(str(tmp_path / "out"))
    assert read(os.path.join(out, "model.bin")) == b"weights v1"
    assert read(os.path.join(out, "data/train.csv")) == b"a,b\n1,2\n"


@pytest.mark.fast
def test_a_file_changed_after_add_logs_what_was_added(store_dir, tmp_path):
    path = tmp_path / "f.txt"
    write(path, "as added")
    art = wandb.Artifact("ds", type="dataset")
    entry = art.add_file(str(path))
    write(path, "changed afterwards, and longer")
    logged(art)
    assert entry.digest == b3(b"as added") and entry.size == 8
    assert art.get_entry("f.txt").digest == b3(b"as added")
    assert read(art.get_entry("f.txt").download(str(tmp_path / "o"))) == b"as added"


@pytest.mark.fast
def test_new_file_snapshots_on_close_and_leaves_no_temporary_file(store_dir, tmp_path):
    art = wandb.Artifact("ds", type="dataset")
    with art.new_file("notes/readme.md") as f:
        f.write("hello")
        name = f.name
    assert not os.path.exists(name)
    logged(art)
    assert read(art.get_entry("notes/readme.md").download(str(tmp_path / "o"))) == b"hello"


@pytest.mark.fast
def test_new_file_default_mode_is_exclusive_as_in_wandb(store_dir):
    art = wandb.Artifact("ds", type="dataset")
    with art.new_file("a.txt") as f:
        f.write("one")
    with pytest.raises(ValueError, match="already exists"), art.new_file("a.txt") as f:
        f.write("two")
    with art.new_file("a.txt", mode="w") as f:  # "w" replaces
        f.write("three")
    assert art.manifest["a.txt"].digest == b3(b"three")


@pytest.mark.fast
def test_a_body_that_raises_adds_nothing(store_dir):
    art = wandb.Artifact("ds", type="dataset")
    with pytest.raises(RuntimeError), art.new_file("a.txt") as f:
        f.write("partial")
        raise RuntimeError("stop")
    assert "a.txt" not in art.manifest


# --- W&B's signatures and errors ----------------------------------------------------------


@pytest.mark.fast
def test_same_path_twice_needs_overwrite(store_dir, tmp_path):
    write(tmp_path / "a", "A")
    write(tmp_path / "b", "B")
    art = wandb.Artifact("ds", type="dataset")
    art.add_file(str(tmp_path / "a"), name="x.txt")
    art.add_file(str(tmp_path / "a"), name="x.txt")  # same content: accepted
    with pytest.raises(ValueError, match="Cannot add the same path twice"):
        art.add_file(str(tmp_path / "b"), name="x.txt")
    assert art.manifest["x.txt"].digest == b3(b"A")  # bad input changed nothing
    art.add_file(str(tmp_path / "b"), name="x.txt", overwrite=True)
    assert art.manifest["x.txt"].digest == b3(b"B")


@pytest.mark.fast
def test_add_dir_merge(store_dir, tmp_path):
    write(tmp_path / "d1/f.txt", "one")
    write(tmp_path / "d2/f.txt", "two")
    write(tmp_path / "d2/g.txt", "g")
    art = wandb.Artifact("ds", type="dataset")
    art.add_dir(str(tmp_path / "d1"))
    with pytest.raises(ValueError):
        art.add_dir(str(tmp_path / "d2"))
    assert sorted(art.manifest) == ["f.txt"]  # nothing of the refused directory was added
    art.add_dir(str(tmp_path / "d2"), merge=True)
    assert art.manifest["f.txt"].digest == b3(b"two") and "g.txt" in art.manifest


@pytest.mark.fast
def test_is_tmp_renames_by_md5_as_wandb(store_dir, tmp_path):
    write(tmp_path / "table.data.json", "{}")
    art = wandb.Artifact("ds", type="dataset")
    entry = art.add_file(str(tmp_path / "table.data.json"), name="media/t.data.json", is_tmp=True)
    md5 = hashlib.md5(b"{}").hexdigest()[:20]
    assert entry.path == f"media/{md5}.data.json"


@pytest.mark.fast
def test_bad_arguments_raise_wandbs_builtin_types(store_dir, tmp_path):
    write(tmp_path / "f", "x")
    art = wandb.Artifact("ds", type="dataset")
    with pytest.raises(FileNotFoundError):
        art.add_file(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError):
        art.add_dir(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="not a file"):
        art.add_file(str(tmp_path))
    with pytest.raises(ValueError, match="not a directory"):
        art.add_dir(str(tmp_path / "f"))
    with pytest.raises(ValueError, match="policy"):
        art.add_file(str(tmp_path / "f"), policy="frozen")
    art.add_file(str(tmp_path / "f"), policy="immutable", skip_cache=True)
    with pytest.raises(ValueError):
        wandb.Artifact("bad name!", type="dataset")
    wandb.Artifact("ok", type="dataset", incremental=False, use_as=None)


@pytest.mark.fast
def test_remove_a_path_a_directory_or_an_entry(store_dir, tmp_path):
    write(tmp_path / "d/a.txt", "a")
    write(tmp_path / "d/sub/b.txt", "b")
    write(tmp_path / "d/sub/c.txt", "c")
    write(tmp_path / "e.txt", "e")
    art = wandb.Artifact("ds", type="dataset")
    art.add_dir(str(tmp_path / "d"))
    entry = art.add_file(str(tmp_path / "e.txt"))
    art.remove("sub")
    art.remove(entry)
    with pytest.raises(FileNotFoundError):
        art.remove("sub/b.txt")
    logged(art)
    assert sorted(art.manifest) == ["a.txt"]
    with pytest.raises(ArtifactFinalizedError):
        art.remove("a.txt")
    with pytest.raises(AttributeError):  # W&B's ArtifactFinalizedError is one
        art.add_file(str(tmp_path / "e.txt"))


# --- the draft's chunks and gc ----------------------------------------------------------------


@pytest.mark.fast
def test_gc_keeps_what_a_live_draft_stored(store_dir, tmp_path):
    data = os.urandom(3 << 20)  # several chunks
    write(tmp_path / "big.bin", data)
    write(tmp_path / "small.txt", "small")
    art = wandb.Artifact("ds", type="dataset")
    art.add_file(str(tmp_path / "big.bin"))
    art.add_file(str(tmp_path / "small.txt"))
    os.unlink(tmp_path / "big.bin")
    os.unlink(tmp_path / "small.txt")
    before = chunk_files(store_dir)
    assert before  # stored at add time
    report = collect(Store.open(store_dir))
    assert report.strays == 0 and chunk_files(store_dir) == before
    logged(art)
    assert read(art.get_entry("big.bin").download(str(tmp_path / "o"))) == data
    assert os.listdir(os.path.join(store_dir, "drafts")) == []  # the pin went with the log


@pytest.mark.fast
def test_gc_keeps_deduplicated_chunks_a_draft_relies_on(store_dir, tmp_path):
    write(tmp_path / "f.txt", "shared content")
    first = logged(_artifact_of("one", tmp_path / "f.txt"))
    draft = _artifact_of("two", tmp_path / "f.txt")  # dedups against one:v0's chunk
    Store.open(store_dir).remove_version(first.name, force=True)
    collect(Store.open(store_dir))
    logged(draft)
    assert read(draft.get_entry("f.txt").download(str(tmp_path / "o"))) == b"shared content"


@pytest.mark.fast
def test_gc_keeps_the_chunk_list_of_a_large_file_a_draft_relies_on(store_dir, tmp_path):
    data = os.urandom(3 << 20)
    write(tmp_path / "big.bin", data)
    first = logged(_artifact_of("one", tmp_path / "big.bin"))
    draft = wandb.Artifact("two", type="dataset")  # reuses one:v0's file, chunk list and all
    draft.add_reference(first.get_entry("big.bin").ref_url())
    Store.open(store_dir).remove_version(first.name)
    collect(Store.open(store_dir))
    logged(draft)
    assert read(draft.get_entry("big.bin").download(str(tmp_path / "o"))) == data


def _artifact_of(name, path):
    art = wandb.Artifact(name, type="dataset")
    art.add_file(str(path))
    return art


def test_gc_frees_what_an_abandoned_draft_stored(store_dir, tmp_path):
    write(tmp_path / "f.bin", os.urandom(100_000))
    script = textwrap.dedent(f"""
        import artfs as wandb
        art = wandb.Artifact("ds", type="dataset")
        art.add_file({str(tmp_path / "f.bin")!r})
        import os; os._exit(0)  # dies without logging or cleaning up
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert chunk_files(store_dir) and os.listdir(os.path.join(store_dir, "drafts"))
    dry = collect(Store.open(store_dir), dry_run=True)
    assert dry.strays == 1 and chunk_files(store_dir)
    collect(Store.open(store_dir))
    assert chunk_files(store_dir) == []
    assert os.listdir(os.path.join(store_dir, "drafts")) == []


# --- reading ------------------------------------------------------------------------------


@pytest.mark.fast
def test_draft_and_logged_properties(store_dir, tmp_path):
    write(tmp_path / "a.txt", "alpha")
    art = wandb.Artifact("ds", type="dataset")
    art.add_file(str(tmp_path / "a.txt"))
    assert art.is_draft() and art.state == "PENDING" and art.id is None
    assert art.name == "ds" and art.source_name == "ds" and art.size == 5
    for prop in ("version", "file_count", "created_at", "qualified_name"):
        with pytest.raises(ArtifactNotLoggedError):
            getattr(art, prop)
    with pytest.raises(AttributeError):  # ArtifactNotLoggedError is an AttributeError too
        art.get_entry("a.txt")
    with pytest.raises(ArtifactNotLoggedError):
        art.download()
    logged(art)
    assert not art.is_draft() and art.state == "COMMITTED"
    assert (art.name, art.version, art.source_name) == ("ds:v0", "v0", "ds:v0")
    assert art.qualified_name == f"{art.entity}/{art.project}/ds:v0"
    assert wandb.Api().artifact(art.qualified_name).id == art.id
    assert art.file_count == 1 and art.size == 5 and art.type == "dataset"
    assert isinstance(art.id, str) and base64.b64decode(art.id)
    assert wandb.Api().artifact("ds:v0").id == art.id
    created = datetime.fromisoformat(art.created_at)
    assert abs(created.timestamp() - Store.open(store_dir).resolve("ds:v0").created) < 1


@pytest.mark.fast
def test_manifest_entries_get_entry_and_get_path(store_dir, tmp_path):
    write(tmp_path / "d/a.txt", "alpha")
    write(tmp_path / "d/sub/b.txt", "beta")
    art = wandb.Artifact("ds", type="dataset")
    art.add_dir(str(tmp_path / "d"))
    assert sorted(art.manifest.entries) == ["a.txt", "sub/b.txt"]  # a draft's, so far
    logged(art)
    entries = art.manifest.entries
    assert sorted(entries) == ["a.txt", "sub/b.txt"]
    assert entries["sub/b.txt"].digest == b3(b"beta") and entries["sub/b.txt"].size == 4
    assert art.get_path("a.txt") == art.get_entry("a.txt") == entries["a.txt"]
    assert art.get_entry("a.txt").ref is None
    with pytest.raises(KeyError):
        art.get_entry("nope.txt")
    path = art.get_entry("sub/b.txt").download(str(tmp_path / "one"))
    assert path == os.path.join(str(tmp_path / "one"), "sub/b.txt") and read(path) == b"beta"


@pytest.mark.fast
def test_download_path_prefix_is_a_string_prefix(store_dir, tmp_path):
    for name in ("train/a.csv", "train_extra.csv", "test/b.csv"):
        write(tmp_path / "d" / name, name)
    art = wandb.Artifact("ds", type="dataset")
    art.add_dir(str(tmp_path / "d"))
    logged(art)
    root = art.download(str(tmp_path / "out"), path_prefix="train")
    got = sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
    )
    assert got == ["train/a.csv", "train_extra.csv"]
    assert read(os.path.join(root, "train/a.csv")) == b"train/a.csv"


@pytest.mark.fast
def test_default_download_root_and_files(store_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "src/a.txt", "alpha")
    write(tmp_path / "src/b.txt", "beta")
    art = wandb.Artifact("ds", type="dataset")
    art.add_dir(str(tmp_path / "src"))
    logged(art)
    assert art.download() == os.path.join("artifacts", "ds:v0")
    files = art.files()
    assert sorted((f.name, f.size) for f in files) == [("a.txt", 5), ("b.txt", 4)]
    assert [f.name for f in art.files(names=["b.txt"])] == ["b.txt"]
    with files[0].download(root=str(tmp_path / "fl")) as f:
        assert f.read() == "alpha"
    with pytest.raises(ValueError, match="already exists"):
        files[0].download(root=str(tmp_path / "fl"))
    files[0].download(root=str(tmp_path / "fl"), replace=True).close()


@pytest.mark.fast
def test_verify_and_checkout(store_dir, tmp_path):
    write(tmp_path / "src/a.txt", "alpha")
    write(tmp_path / "src/sub/b.txt", "beta")
    art = wandb.Artifact("ds", type="dataset")
    art.add_dir(str(tmp_path / "src"))
    logged(art)
    root = art.download(str(tmp_path / "out"))
    art.verify(root)  # no error
    write(os.path.join(root, "sub/b.txt"), "tampered")
    with pytest.raises(ValueError, match="sub/b.txt"):
        art.verify(root)
    write(os.path.join(root, "sub/b.txt"), "beta")
    write(os.path.join(root, "extra/x.txt"), "extra")
    with pytest.raises(ValueError, match="x.txt"):
        art.verify(root)
    assert art.checkout(root) == root
    assert not os.path.exists(os.path.join(root, "extra"))
    art.verify(root)
    os.unlink(os.path.join(root, "a.txt"))
    with pytest.raises(ValueError, match="a.txt"):
        art.verify(root)


@pytest.mark.fast
def test_an_incremental_artifact_adds_to_the_latest_version(store_dir, tmp_path):
    write(tmp_path / "orig.txt", "orig data")
    write(tmp_path / "new.txt", "new data")
    logged(_artifact_of("inc", tmp_path / "orig.txt"))
    art = wandb.Artifact("inc", type="dataset", incremental=True)
    art.add_file(str(tmp_path / "new.txt"))
    logged(art)
    assert art.version == "v1" and sorted(art.manifest.entries) == ["new.txt", "orig.txt"]
    plain = wandb.Artifact("inc", type="dataset")
    plain.add_file(str(tmp_path / "new.txt"))
    logged(plain)
    assert sorted(plain.manifest.entries) == ["new.txt"]
