"""The smaller W&B names real scripts reach for: an artifact's entity, project,
collection, history_step and url, the public summary's ``_json_dict``, and W&B's
module paths (``wandb.sdk.artifacts.*``, ``wandb.data_types``) under an
``import wandb`` shim."""

import os
import subprocess
import sys
import textwrap

import pytest

import artfs as wandb
from artfs.errors import ArtifactNotLoggedError


@pytest.fixture
def here(store_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.txt").write_text("x")
    return tmp_path


def test_entity_and_project_are_the_logging_runs(here, monkeypatch):
    monkeypatch.setenv("WANDB_ENTITY", "team")
    with wandb.init(project="vision") as run:
        art = wandb.Artifact("ds", "dataset")
        art.add_file("f.txt")
        run.log_artifact(art)
    got = wandb.Api().artifact("vision/ds:latest")
    assert (got.entity, got.project) == ("team", "vision")
    assert (got.source_entity, got.source_project) == ("team", "vision")
    draft = wandb.Artifact("other", "dataset")
    for name in ("entity", "project", "collection", "history_step", "url"):
        with pytest.raises(ArtifactNotLoggedError):  # W&B's ensure_logged
            getattr(draft, name)


def test_collection_is_the_artifacts_versions(here):
    with wandb.init() as run:
        for text in ("a", "b"):
            (here / "f.txt").write_text(text)
            art = wandb.Artifact("ds", "dataset", description="two")
            art.add_file("f.txt")
            run.log_artifact(art)
    collection = wandb.Api().artifact("ds:v1").collection
    assert collection.name == "ds" and collection.type == "dataset"
    assert [a.version for a in collection.artifacts()] in (["v0", "v1"], ["v1", "v0"])


def test_history_step_is_the_last_logged_step(here):
    with wandb.init() as run:
        first = wandb.Artifact("before", "model")
        first.add_file("f.txt")
        run.log_artifact(first)  # no metrics yet: step 0
        run.log({"acc": 1.0})
        run.log({"acc": 2.0})  # steps 0 and 1
        art = wandb.Artifact("ckpt", "model")
        art.add_file("f.txt")
        run.log_artifact(art)
    assert wandb.Api().artifact("ckpt:latest").history_step == 1
    assert wandb.Api().artifact("before:latest").history_step == 0
    outside = wandb.Artifact("loose", "model")
    outside.add_file("f.txt")
    outside.save()  # logged by an implicit run of its own, with no metrics
    assert wandb.Api().artifact("loose:latest").history_step == 0
    assert wandb.Api().artifact("loose:latest").url is None


def test_public_summary_json_dict(here):
    with wandb.init() as run:
        run.log({"loss": 0.5})
        run.summary["best"] = 0.25
    summary = wandb.Api().run(run.id).summary
    assert summary._json_dict["loss"] == 0.5 and summary._json_dict["best"] == 0.25
    assert isinstance(summary._json_dict, dict)


def test_wandb_module_paths_under_a_shim(here, tmp_path):
    """``sys.modules['wandb'] = artfs``, then W&B's own import paths: one class each."""
    script = tmp_path / "paths.py"
    script.write_text(textwrap.dedent("""
        import sys
        import artfs
        sys.modules["wandb"] = artfs
        import wandb
        from wandb.sdk.artifacts.artifact import Artifact
        from wandb.sdk.artifacts.artifact_ttl import ArtifactTTL
        from wandb.sdk.artifacts.exceptions import ArtifactNotLoggedError
        from wandb.errors import CommError
        assert Artifact is wandb.Artifact and ArtifactTTL is wandb.ArtifactTTL
        assert wandb.data_types.Table is wandb.Table
        try:
            Artifact("ds", "dataset").version
        except ArtifactNotLoggedError:
            pass
        try:
            wandb.Api().artifact("missing:latest")
        except CommError:
            print("ok")
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_public_history_is_a_dataframe_with_pandas(here):
    import pandas as pd

    with wandb.init() as run:
        for step in range(3):
            run.log({"loss": 1.0 / (step + 1)})
    history = wandb.Api().run(run.id).history()
    assert isinstance(history, pd.DataFrame)
    assert list(history["_step"]) == [0, 1, 2]
    assert list(history["loss"]) == [1.0, 0.5, 1.0 / 3]
    rows = wandb.Api().run(run.id).history(pandas=False, keys=["loss"])
    assert [r["loss"] for r in rows] == [1.0, 0.5, 1.0 / 3]


def test_the_quickstart_training_script_runs_unchanged(here):
    """scripts/train_wandb.py, the W&B-shaped script the quickstart shows."""
    (here / "data").mkdir()
    (here / "data" / "train.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(10)))
    with wandb.init(job_type="dataset") as run:
        dataset = wandb.Artifact("my-dataset", "dataset")
        dataset.add_dir("data")
        run.log_artifact(dataset)
    script = os.path.join(os.path.dirname(__file__), "..", "scripts", "train_wandb.py")
    out = subprocess.run([sys.executable, script, "--lr", "0.1", "--epochs", "2"],
                         capture_output=True, text=True, cwd=here)
    assert out.returncode == 0, out.stderr
    model = wandb.Api().artifact("my-model:production")
    assert model.metadata["evaluated"] is True
    assert sorted(model.aliases) == ["candidate", "latest", "production"]
    assert model.description == "baseline, promoted after evaluation"
    trained = model.logged_by()
    assert trained.project == "quickstart" and trained.config["lr"] == 0.1
    assert [row["epoch"] for row in trained.history(pandas=False)] == [0, 1]
    assert trained.summary["rows_seen"] == 10
    assert [a.name for a in trained.used_artifacts()] == ["my-dataset:v0"]
