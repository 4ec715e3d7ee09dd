"""W&B's distributed artifacts: upsert_artifact from several real processes, then one
finish_artifact publishes one version holding every process's files."""

import os
import subprocess
import sys
import textwrap

import pytest

import artfs as wandb
from artfs.errors import UsageError
from tests.conftest import read

WORKER = textwrap.dedent("""
    import sys
    import artfs as wandb
    rank = int(sys.argv[1])
    with wandb.init(job_type="worker") as run:
        artifact = wandb.Artifact("shards", type="dataset")
        with artifact.new_file(f"shards/{rank}.txt") as f:
            f.write(f"shard {rank}")
        with artifact.new_file("common.txt") as f:
            f.write(f"from {rank}")
        run.upsert_artifact(artifact, distributed_id="job-7")
        assert artifact.name == "shards"  # still a draft: nothing published yet
""")


def workers(tmp_path, count: int) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs = [
        subprocess.Popen([sys.executable, str(script), str(rank)], cwd=tmp_path)
        for rank in range(count)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * count


@pytest.fixture
def here(store_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_upserts_from_separate_processes_become_one_version(here):
    workers(here, 3)
    api = wandb.Api()
    assert not api.artifact_exists("shards:latest")  # nothing is published before finish
    with wandb.init(job_type="gather") as run:
        final = wandb.Artifact("shards", type="dataset")
        with final.new_file("index.txt") as f:
            f.write("3 shards")
        logged = run.finish_artifact(final, distributed_id="job-7", aliases=["complete"])
    assert logged.name == "shards:v0"
    got = api.artifact("shards:complete")
    assert sorted(f.name for f in got.files()) == [
        "common.txt",
        "index.txt",
        "shards/0.txt",
        "shards/1.txt",
        "shards/2.txt",
    ]
    root = got.download(str(here / "out"))
    for rank in range(3):
        assert read(os.path.join(root, f"shards/{rank}.txt")) == f"shard {rank}".encode()
    assert read(os.path.join(root, "common.txt")) in {b"from 0", b"from 1", b"from 2"}
    assert got.logged_by() == run
    assert [a.name for a in api.artifact_versions("dataset", "shards")] == ["shards:v0"]


@pytest.mark.fast
def test_upserts_after_a_finish_make_the_next_version(here):
    with wandb.init() as run:
        for text, name in (("a", "a.txt"), ("b", "b.txt")):
            part = wandb.Artifact("ds", "dataset")
            with part.new_file(name) as f:
                f.write(text)
            run.upsert_artifact(part, distributed_id="g")
        first = run.finish_artifact(wandb.Artifact("ds", "dataset"), distributed_id="g")
        part = wandb.Artifact("ds", "dataset")
        with part.new_file("c.txt") as f:
            f.write("c")
        run.upsert_artifact(part, distributed_id="g")
        second = run.finish_artifact(wandb.Artifact("ds", "dataset"), distributed_id="g")
    assert sorted(f.name for f in first.files()) == ["a.txt", "b.txt"]
    assert first.name == "ds:v0" and second.name == "ds:v1"
    assert [f.name for f in second.files()] == ["c.txt"]


@pytest.mark.fast
def test_a_later_upsert_of_a_path_wins(here):
    with wandb.init() as run:
        for text in ("old", "new"):
            part = wandb.Artifact("ds", "dataset")
            with part.new_file("x.txt") as f:
                f.write(text)
            run.upsert_artifact(part, distributed_id="g")
        done = run.finish_artifact(wandb.Artifact("ds", "dataset"), distributed_id="g")
    assert read(os.path.join(done.download(str(here / "o")), "x.txt")) == b"new"


@pytest.mark.fast
def test_distributed_ids_keep_artifacts_apart(here):
    with wandb.init() as run:
        for gid in ("g1", "g2"):
            part = wandb.Artifact("ds", "dataset")
            with part.new_file(f"{gid}.txt") as f:
                f.write(gid)
            run.upsert_artifact(part, distributed_id=gid)
        done = run.finish_artifact(wandb.Artifact("ds", "dataset"), distributed_id="g1")
    assert [f.name for f in done.files()] == ["g1.txt"]


@pytest.mark.fast
def test_without_a_group_or_distributed_id_it_refuses(here):
    with wandb.init() as run:
        with pytest.raises(TypeError, match="group"):
            run.upsert_artifact(wandb.Artifact("ds", "dataset"))
        with pytest.raises(UsageError, match="group"):  # artfs's own class too
            run.finish_artifact(wandb.Artifact("ds", "dataset"))
    assert not wandb.Api().artifact_exists("ds:latest")


@pytest.mark.fast
def test_a_failed_finish_keeps_every_upsert(here):
    with wandb.init() as run:
        part = wandb.Artifact("ds", "dataset")
        with part.new_file("keep.txt") as f:
            f.write("keep")
        run.upsert_artifact(part, distributed_id="g")
        other = wandb.Artifact("ds", "model")  # ds will be a dataset: refused
        run.log_artifact(wandb.Artifact("ds", "dataset"))
        with pytest.raises(ValueError):
            run.finish_artifact(other, distributed_id="g")
        done = run.finish_artifact(wandb.Artifact("ds", "dataset"), distributed_id="g")
    assert [f.name for f in done.files()] == ["keep.txt"]


def test_gc_between_upserts_and_finish_keeps_every_part(here, store_dir):
    """The workers have ended, so their drafts' own pins are gone: the parts' pins alone
    must keep gc off the chunks until finish_artifact publishes them."""
    from artfs.store import gc as gc_mod
    from artfs.store.store import Store

    workers(here, 2)
    gc_mod.collect(Store.open(store_dir))
    with wandb.init(job_type="gather") as run:
        logged = run.finish_artifact(wandb.Artifact("shards", "dataset"), distributed_id="job-7")
    root = logged.download(str(here / "out"))
    assert [read(os.path.join(root, f"shards/{r}.txt")) for r in range(2)] == [
        b"shard 0",
        b"shard 1",
    ]
    assert logged.verify(root) is None
    assert not os.listdir(os.path.join(store_dir, "distributed"))  # the parts are gone
    gc_mod.collect(Store.open(store_dir))  # and their chunks belong to the version now
    assert read(os.path.join(logged.download(str(here / "again")), "shards/1.txt")) == b"shard 1"


@pytest.mark.fast
def test_distributed_id_defaults_to_the_runs_group(here):
    for rank in range(2):
        with wandb.init(group="exp-3", job_type="worker") as run:
            part = wandb.Artifact("grouped", "dataset")
            with part.new_file(f"{rank}.txt") as f:
                f.write(str(rank))
            run.upsert_artifact(part)
    with wandb.init(group="exp-3", job_type="gather") as run:
        done = run.finish_artifact(wandb.Artifact("grouped", "dataset"))
    assert sorted(f.name for f in done.files()) == ["0.txt", "1.txt"]
    with wandb.init() as run, pytest.raises(UsageError):  # no group, no id: W&B refuses
        run.upsert_artifact(wandb.Artifact("grouped", "dataset"))
