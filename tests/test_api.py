"""The W&B-style Python API against a real store."""

import hashlib
import os
import subprocess
import sys
import textwrap

import pytest

import artfs
from artfs.errors import ArtifactFinalizedError, NotFound, ReferenceChanged, UsageError
from artfs.store.store import Store
from tests.conftest import read, write


def chunk_files(store_dir: str) -> set[str]:
    root = os.path.join(store_dir, "chunks")
    return {os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs}


def sha(path) -> str:
    return hashlib.sha256(read(path)).hexdigest()


WANDB_SCRIPT = textwrap.dedent("""
    import artfs as wandb
    run = wandb.init(job_type="dataset-creation")
    artifact = wandb.Artifact('my-dataset', type='dataset')
    artifact.add_file('my-dataset.txt')
    run.log_artifact(artifact)
    print(artifact.name)

    run = wandb.init(job_type="model-training")
    artifact = run.use_artifact('my-dataset:latest')
    artifact_dir = artifact.download()
    print(artifact_dir)
    print(open(artifact_dir + '/my-dataset.txt').read(), end='')
""")


def test_wandb_snippet_runs_unchanged(store_dir, tmp_path):
    work = tmp_path / "work"
    write(work / "my-dataset.txt", "first\n")

    def run_script():
        proc = subprocess.run(
            [sys.executable, "-c", WANDB_SCRIPT],
            cwd=work,
            capture_output=True,
            text=True,
            check=True,
        )
        return proc.stdout.splitlines(), proc.stderr

    out, _ = run_script()
    assert out == ["my-dataset:v0", "artifacts/my-dataset:v0", "first"]
    before = chunk_files(store_dir)
    out, err = run_script()  # unchanged: no version, no data, names the holder
    assert out[0] == "my-dataset:v0"
    assert "my-dataset:v0 already holds this content" in err
    assert chunk_files(store_dir) == before
    creators = artfs.Api().runs(job_type="dataset-creation")
    assert [[a.name for a in r.logged_artifacts()] for r in creators] == [
        ["my-dataset:v0"],
        ["my-dataset:v0"],
    ]  # the second run logged the same content
    write(work / "my-dataset.txt", "second\n")
    out, _ = run_script()
    assert out == ["my-dataset:v1", "artifacts/my-dataset:v1", "second"]
    assert [a.version for a in artfs.Api().artifact_versions("my-dataset")] == ["v0", "v1"]


@pytest.mark.fast
def test_artifact_properties_and_manifest(store_dir, tmp_path):
    write(tmp_path / "d/a.txt", "alpha")
    write(tmp_path / "d/sub/b.bin", b"\x00\x01" * 1000)
    write(tmp_path / "one.txt", "one")
    with artfs.init(job_type="make", config={"lr": 0.1}) as run:
        art = artfs.Artifact("ds", type="dataset", description="demo", metadata={"rows": 2})
        art.add_dir(str(tmp_path / "d"), name="data")
        art.add_file(str(tmp_path / "one.txt"), name="extra/renamed.txt")
        with art.new_file("notes.md") as f:
            f.write("# notes\n")
        with art.new_file("blob.bin", mode="wb") as f:
            f.write(b"\xff" * 10)
        assert art.name == "ds" and art.is_draft() and art.state == "PENDING"
        run.log_artifact(art, aliases=["best"])
    assert (art.name, art.version, art.type) == ("ds:v0", "v0", "dataset")
    assert art.aliases == ["latest", "best"]
    assert art.description == "demo" and art.metadata == {"rows": 2}
    assert sorted(art.manifest) == [
        "blob.bin",
        "data/a.txt",
        "data/sub/b.bin",
        "extra/renamed.txt",
        "notes.md",
    ]
    assert art.size == 5 + 2000 + 3 + 8 + 10
    entry = art.get_entry("data/a.txt")
    import blake3

    assert entry.digest == blake3.blake3(b"alpha").hexdigest() and entry.size == 5
    assert len(art.digest) == 64
    with pytest.raises(NotFound):
        art.get_entry("missing.txt")
    assert len(art.files()) == 5
    assert art.logged_by().config == {"lr": 0.1}
    with pytest.raises(ArtifactFinalizedError):  # W&B's error for changing a logged version
        art.add_file(str(tmp_path / "one.txt"))


@pytest.mark.fast
def test_use_artifact_selectors_and_lineage(store_dir, tmp_path):
    for i in range(3):
        write(tmp_path / "f.txt", f"v{i}")
        with artfs.init(job_type="make") as run:
            art = artfs.Artifact("ds", type="dataset")
            art.add_file(str(tmp_path / "f.txt"))
            run.log_artifact(art, aliases=["first"] if i == 0 else [])
    with artfs.init(job_type="train") as run:
        assert run.use_artifact("ds:v1").version == "v1"
        assert run.use_artifact("ds:first").version == "v0"
        assert run.use_artifact("ds").version == "v2"
        latest = run.use_artifact("ds:latest")
        assert run.use_artifact(latest).version == "v2"
        with pytest.raises(NotFound):
            run.use_artifact("ds:v9")
        with pytest.raises(NotFound):
            run.use_artifact("ds:nosuchalias")
        with pytest.raises(UsageError):
            run.use_artifact("ds", type="model")
        used = sorted(a.name for a in run.used_artifacts())
        run_id = run.id
    assert used == ["ds:v0", "ds:v1", "ds:v2"]
    recorded = artfs.Api().run(run_id)
    assert recorded in latest.used_by()
    assert (recorded.state, recorded.exit_code, recorded.finished) == ("finished", 0, True)
    assert recorded.start <= recorded.end


@pytest.mark.fast
def test_download_skips_files_with_right_digest(store_dir, tmp_path):
    write(tmp_path / "d/a.txt", "alpha")
    write(tmp_path / "d/b.txt", "beta")
    with artfs.init() as run:
        art = artfs.Artifact("ds", type="dataset")
        art.add_dir(str(tmp_path / "d"))
        run.log_artifact(art)
    root = str(tmp_path / "out")
    assert art.download(root) == root
    a, b = os.path.join(root, "a.txt"), os.path.join(root, "b.txt")
    ino_a = os.stat(a).st_ino
    write(b, "tampered")
    art.download(root)
    assert os.stat(a).st_ino == ino_a  # right digest: not rewritten
    assert read(b) == b"beta"  # wrong digest: rewritten
    os.unlink(a)
    art.get_entry("a.txt").download(root)
    assert read(a) == b"alpha"


@pytest.mark.fast
def test_new_draft_is_incremental(store_dir, tmp_path):
    write(tmp_path / "d/keep.txt", "keep")
    write(tmp_path / "d/drop.txt", "drop")
    with artfs.init() as run:
        base = artfs.Artifact("ds", type="dataset")
        base.add_dir(str(tmp_path / "d"))
        run.log_artifact(base)
        draft = base.new_draft()
        draft.remove("drop.txt")
        with draft.new_file("new.txt") as f:
            f.write("new")
        run.log_artifact(draft)
    assert draft.version == "v1"
    assert sorted(draft.manifest) == ["keep.txt", "new.txt"]
    assert draft.get_entry("keep.txt").digest == base.get_entry("keep.txt").digest
    records = [v.record for v in Store.open(store_dir).versions("ds")]
    assert [r["base"] for r in records] == [None, "ds:v0"]  # new_draft() records its base
    with pytest.raises(NotFound):
        base.new_draft().remove("nope.txt")


@pytest.mark.fast
def test_reference_recorded_and_checked(store_dir, tmp_path):
    ext = tmp_path / "external.bin"
    write(ext, b"external bytes")
    with artfs.init() as run:
        art = artfs.Artifact("refs", type="dataset")
        [entry] = art.add_reference(f"file://{ext}")
        run.log_artifact(art)
    assert entry.size == 14 and entry.ref == f"file://{ext}"
    assert art.get_entry("external.bin").ref == f"file://{ext}"
    out = art.download(str(tmp_path / "out"))
    assert read(os.path.join(out, "external.bin")) == b"external bytes"
    write(ext, b"changed bytes!")
    with pytest.raises(ReferenceChanged, match="changed since it was recorded"):
        art.download(str(tmp_path / "out2"))
    assert not os.path.exists(tmp_path / "out2" / "external.bin")


@pytest.mark.fast
def test_api_queries(store_dir, tmp_path):
    write(tmp_path / "m.bin", b"weights")
    write(tmp_path / "d.csv", "a,b\n")
    with artfs.init() as run:
        run.log_artifact(str(tmp_path / "m.bin"), name="model", type="model")
        run.log_artifact(str(tmp_path / "d.csv"), name="data", type="dataset", aliases=["prod"])
    api = artfs.Api()
    assert api.artifact("data:prod").name == "data:v0"
    assert [a.name for a in api.artifacts(type="model")] == ["model:v0"]
    assert sorted(a.name for a in api.artifacts()) == ["data:v0", "model:v0"]
    assert len(api.runs()) == 1
    with pytest.raises(NotFound):
        api.artifact("nothing")


@pytest.mark.fast
def test_log_of_wrong_type_is_refused(store_dir, tmp_path):
    write(tmp_path / "x.txt", "x")
    with artfs.init() as run:
        run.log_artifact(str(tmp_path / "x.txt"), name="thing", type="dataset")
        with pytest.raises(ValueError, match="already exists with type 'dataset'"):
            run.log_artifact(str(tmp_path / "x.txt"), name="thing", type="model")


@pytest.mark.fast
def test_artfs_run_is_the_active_run_or_none(store_dir):
    """W&B scripts test ``wandb.run is None`` and call ``wandb.run.finish()``."""
    import artfs as wandb

    assert wandb.run is None
    run = wandb.init(job_type="train")
    assert wandb.run is run
    wandb.run.finish()
    assert wandb.run is None
    second = wandb.init(job_type="eval")
    wandb.finish(exit_code=1)
    assert wandb.run is None and second.state == "failed"
    assert "run" in dir(wandb)
