"""W&B's run.log_artifact/use_artifact/log_model/use_model and public API (wandb.Api),
as W&B documents them, against a real store."""

import os

import pytest

import artfs as wandb
from artfs.errors import NotFound, UsageError
from tests.conftest import read, write


@pytest.fixture
def run(store_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    started = wandb.init(project="proj", job_type="train", config={"lr": 0.1, "opt": "adam"})
    yield started
    started.finish()


def dataset(run, name="mnist", text="v0", aliases=None):
    artifact = wandb.Artifact(name, type="dataset")
    with artifact.new_file("digits.txt") as f:
        f.write(text)
    run.log_artifact(artifact, aliases=aliases)
    return artifact


# --- log_artifact / use_artifact --------------------------------------------------------


@pytest.mark.fast
def test_log_artifact_of_a_file_path_takes_wbs_default_name_and_type(run, tmp_path):
    write(tmp_path / "data.csv", "a,b\n1,2\n")
    logged = run.log_artifact(str(tmp_path / "data.csv"))
    assert logged.name == f"run-{run.id}-data.csv:v0"
    assert logged.type == "unspecified"
    assert [f.name for f in logged.files()] == ["data.csv"]
    assert read(os.path.join(logged.download(str(tmp_path / "out")), "data.csv")) == b"a,b\n1,2\n"


@pytest.mark.fast
def test_log_artifact_of_a_directory_path_with_name_and_type(run, tmp_path):
    write(tmp_path / "ds/train/x.txt", "x")
    write(tmp_path / "ds/y.txt", "y")
    logged = run.log_artifact(tmp_path / "ds", name="images", type="dataset", aliases="best")
    assert logged.name == "images:v0" and logged.type == "dataset"
    assert sorted(f.name for f in logged.files()) == ["train/x.txt", "y.txt"]
    assert "best" in wandb.Api().artifact("images:best").aliases


@pytest.mark.fast
def test_log_artifact_of_a_missing_path_is_a_value_error_and_logs_nothing(run, tmp_path):
    with pytest.raises(ValueError):
        run.log_artifact(str(tmp_path / "nope"))
    assert list(wandb.Api().artifacts()) == []


@pytest.mark.fast
def test_log_artifact_of_neither_artifact_nor_path_is_a_type_error(run):
    with pytest.raises(TypeError):
        run.log_artifact(42)


@pytest.mark.fast
def test_log_artifact_of_another_type_is_a_value_error(run):
    dataset(run)
    other = wandb.Artifact("mnist", type="model")
    with open("w.bin", "w") as f:
        f.write("w")
    other.add_file("w.bin")
    with pytest.raises(ValueError, match="already exists with type 'dataset'"):
        run.log_artifact(other)
    assert [a.name for a in wandb.Api().artifacts("dataset", "mnist")] == ["mnist:v0"]


@pytest.mark.fast
def test_use_artifact_type_mismatch_raises_value_error(run):
    dataset(run)
    with pytest.raises(ValueError):
        run.use_artifact("mnist:v0", type="model")
    assert run.used_artifacts() == []
    assert run.use_artifact("mnist:v0", type="dataset").name == "mnist:v0"


@pytest.mark.fast
def test_use_artifact_of_a_draft_logs_it_and_consumes_that_version(run):
    draft = wandb.Artifact("fresh", type="dataset")
    with draft.new_file("f.txt") as f:
        f.write("fresh")
    used = run.use_artifact(draft)
    assert used.name == "fresh:v0" and draft.name == "fresh:v0"
    assert [a.name for a in run.used_artifacts()] == ["fresh:v0"]
    assert wandb.Api().artifact("fresh:v0").logged_by() == run


@pytest.mark.fast
def test_use_artifact_with_entity_and_project_prefixes(run):
    logged = dataset(run, aliases=["prod"])
    entity = wandb.Api().default_entity
    for name in (
        "mnist:prod",
        "proj/mnist:prod",
        f"{entity}/proj/mnist:v0",
        "uncategorized/mnist:v0",
    ):
        assert run.use_artifact(name).digest == logged.digest


@pytest.mark.fast
def test_a_prefix_naming_an_unknown_project_is_not_found_and_says_so(run):
    dataset(run)
    with pytest.raises(NotFound, match="project 'elsewhere' is not in this store") as err:
        run.use_artifact("elsewhere/mnist:v0")
    assert isinstance(err.value, wandb.errors.CommError)
    # the entity part is any (W&B's docs write placeholders): one store is one entity
    assert wandb.Api().artifact("entity/proj/mnist:v0").name == "mnist:v0"
    with pytest.raises(NotFound, match="project 'elsewhere'"):
        wandb.Api().artifact("entity/elsewhere/mnist:v0")


@pytest.mark.fast
def test_the_active_runs_log_and_use(run):
    assert wandb.run is run
    logged = wandb.run.log_artifact(wandb.Artifact("m", "dataset"))
    assert wandb.run.use_artifact("m:latest").digest == logged.digest


@pytest.mark.fast
def test_log_model_and_use_model_of_a_single_file(run, tmp_path):
    write(tmp_path / "model.pt", b"\x00weights")
    assert run.log_model(str(tmp_path / "model.pt"), name="clf", aliases=["best"]) is None
    model = wandb.Api().artifact("clf:best")
    assert model.type == "model"
    path = run.use_model("clf:best")
    assert os.path.basename(path) == "model.pt" and read(path) == b"\x00weights"
    assert [a.name for a in run.used_artifacts()] == ["clf:v0"]


@pytest.mark.fast
def test_use_model_returns_the_directory_of_several_files(run, tmp_path):
    write(tmp_path / "m/a.bin", "a")
    write(tmp_path / "m/b.bin", "b")
    run.log_model(str(tmp_path / "m"))
    path = run.use_model(f"run-{run.id}-m:v0")
    assert sorted(os.listdir(path)) == ["a.bin", "b.bin"]


@pytest.mark.fast
def test_use_model_of_a_dataset_is_an_assertion_error(run):
    dataset(run)
    with pytest.raises(AssertionError, match="'model' artifacts"):
        run.use_model("mnist:v0")


# --- wandb.Api: artifacts -----------------------------------------------------------------


@pytest.mark.fast
def test_api_takes_overrides_timeout_and_api_key(run):
    api = wandb.Api(overrides={"entity": "team", "project": "proj"}, timeout=19, api_key="k")
    dataset(run)
    assert api.settings["entity"] == "team" and api.settings["project"] == "proj"
    assert api.artifact("team/proj/mnist:v0").name == "mnist:v0"


@pytest.mark.fast
def test_artifact_by_name_with_type_check(run):
    dataset(run)
    api = wandb.Api()
    assert api.artifact("mnist:v0", type="dataset").name == "mnist:v0"
    with pytest.raises(ValueError, match="type 'model' specified"):
        api.artifact("mnist:v0", type="model")
    with pytest.raises(NotFound):
        api.artifact("mnist:v7")


@pytest.mark.fast
def test_artifacts_and_artifact_versions_paginate_oldest_first(run):
    dataset(run, text="v0")
    dataset(run, text="v1")
    api = wandb.Api()
    versions = api.artifacts("dataset", "proj/mnist")
    assert len(versions) == 2 and versions.length == 2
    assert [a.name for a in versions] == ["mnist:v0", "mnist:v1"]
    assert versions[1].name == "mnist:v1"
    assert next(versions).name == "mnist:v0"
    assert [a.name for a in api.artifacts("dataset", "mnist", start=versions.cursor)] == [
        "mnist:v1"
    ]
    assert [a.name for a in api.artifacts("dataset", "mnist", order="-version_index")] == [
        "mnist:v1",
        "mnist:v0",
    ]
    assert {a.name for a in api.artifact_versions("dataset", "mnist")} == {"mnist:v0", "mnist:v1"}
    with pytest.raises(NotFound):
        api.artifacts("model", "mnist")


@pytest.mark.fast
def test_artifact_exists(run):
    dataset(run)
    api = wandb.Api()
    assert api.artifact_exists("mnist:v0") is True
    assert api.artifact_exists("mnist:v2") is False
    assert api.artifact_exists("mnist-fake:v0") is False
    assert api.artifact_exists("proj/mnist:latest") is True


@pytest.mark.fast
def test_artifact_type_and_its_collections(run):
    dataset(run)
    dataset(run, name="another-collection", text="x")
    api = wandb.Api()
    atype = api.artifact_type("dataset")
    assert atype.name == "dataset"
    assert atype.collection("mnist").name == "mnist"
    cols = atype.collections()
    assert len(cols) == 2 and {c.name for c in cols} == {"mnist", "another-collection"}
    first = next(atype.collections(per_page=1))
    assert first.name == cols[0].name
    assert [t.name for t in api.artifact_types()] == ["dataset"]
    with pytest.raises(NotFound):
        api.artifact_type("nope")


@pytest.mark.fast
def test_artifact_collection_reads_and_saves_description_and_tags(run):
    dataset(run, aliases=["my_alias"])
    dataset(run, text="v1")
    api = wandb.Api()
    coll = api.artifact_collection("dataset", "proj/mnist")
    assert coll.name == "mnist" and coll.type == "dataset" and coll.is_sequence()
    assert coll.aliases == ["latest", "my_alias"]
    assert [a.name for a in coll.artifacts()] == ["mnist:v0", "mnist:v1"]
    coll.description = "handwritten digits"
    coll.tags = ["vision", "small"]
    coll.save()
    again = wandb.Api().artifact_collection("dataset", "mnist")
    assert again.description == "handwritten digits"
    assert sorted(again.tags) == ["small", "vision"]


@pytest.mark.fast
def test_renaming_a_collection_renames_the_artifact_and_keeps_its_history(run):
    first = dataset(run, aliases=["my_alias"])
    run.use_artifact("mnist:v0")
    coll = wandb.Api().artifact_collection("dataset", "mnist")
    coll.name = "digits"
    coll.save()
    api = wandb.Api()
    assert not api.artifact_exists("mnist:v0")
    moved = api.artifact("digits:my_alias")
    assert moved.name == "digits:v0" and moved.digest == first.digest
    assert moved.logged_by() == run and moved.used_by() == [run]
    assert [a.name for a in run.logged_artifacts()] == ["digits:v0"]
    assert read(os.path.join(moved.download("out"), "digits.txt")) == b"v0"
    derived = moved.new_draft()
    with derived.new_file("more.txt") as f:
        f.write("more")
    run.log_artifact(derived)
    assert derived.name == "digits:v1"


@pytest.mark.fast
def test_renaming_onto_an_existing_artifact_changes_nothing(run):
    dataset(run)
    dataset(run, name="other", text="o")
    coll = wandb.Api().artifact_collection("dataset", "mnist")
    coll.name = "other"
    with pytest.raises(wandb.ArtfsError, match="already exists"):
        coll.save()
    assert wandb.Api().artifact("mnist:v0").name == "mnist:v0"


@pytest.mark.fast
def test_deleting_a_collection_removes_its_versions(run):
    dataset(run, aliases=["my_alias"])
    api = wandb.Api()
    assert api.artifact_collection_exists("mnist", "dataset") is True
    api.artifact_collection(type="dataset", name="proj/mnist").delete()
    assert api.artifact_exists("mnist:v0") is False
    assert api.artifact_collection_exists("proj/mnist", "dataset") is False
    assert api.artifact_collection_exists("mnist-fake", "dataset") is False
    assert api.artifact_collection_exists("mnist", "model") is False


@pytest.mark.fast
def test_artifact_collections_of_a_project(run):
    dataset(run)
    api = wandb.Api()
    assert [c.name for c in api.artifact_collections("proj", "dataset")] == ["mnist"]
    with pytest.raises(NotFound):
        api.artifact_collections("elsewhere", "dataset")


# --- wandb.Api: runs ------------------------------------------------------------------------


@pytest.mark.fast
def test_run_by_path(run):
    api = wandb.Api()
    entity = api.default_entity
    for path in (run.id, f"proj/{run.id}", f"{entity}/proj/{run.id}"):
        assert api.run(path) == run
    with pytest.raises(NotFound):
        api.run("proj/nosuchrun")


@pytest.mark.fast
def test_runs_with_mongodb_style_filters_and_order(store_dir):
    made = []
    for lr, job in ((0.1, "train"), (0.01, "train"), (0.5, "eval")):
        with wandb.init(project="proj", job_type=job, config={"lr": lr, "exp": "a"}) as r:
            made.append(r)
    api = wandb.Api()
    ids = lambda runs: [r.id for r in runs]  # noqa: E731
    assert ids(api.runs("proj")) == ids(made)
    assert ids(api.runs("proj", filters={"config.lr": 0.01})) == [made[1].id]
    assert ids(api.runs("proj", filters={"config.lr.value": 0.01})) == [made[1].id]
    assert ids(api.runs("proj", {"config.lr": {"$gte": 0.1}})) == [made[0].id, made[2].id]
    assert ids(api.runs(filters={"jobType": "eval"})) == [made[2].id]
    assert ids(api.runs(filters={"state": "finished", "jobType": {"$in": ["train"]}})) == ids(
        made[:2]
    )
    assert ids(api.runs(filters={"$or": [{"config.lr": 0.5}, {"config.lr": 0.1}]})) == [
        made[0].id,
        made[2].id,
    ]
    assert ids(api.runs(filters={"config.missing": {"$exists": False}})) == ids(made)
    assert ids(api.runs(filters={"displayName": {"$regex": "^eval"}})) == [made[2].id]
    assert ids(api.runs("proj", order="-created_at")) == ids(made[::-1])
    assert ids(api.runs("proj", order="+config.lr")) == [made[1].id, made[0].id, made[2].id]
    assert len(api.runs("proj")) == 3 and api.runs("proj")[0].id == made[0].id
    with pytest.raises(UsageError):
        api.runs(filters={"$where": "1"})
    with pytest.raises(NotFound):
        api.runs("otherproject")


SHIMMED = """
import sys, artfs
sys.modules["wandb"] = artfs  # what an `import wandb` -> artfs shim does
import wandb
from wandb.errors import CommError
from wandb.apis.public import Api
assert Api is artfs.Api and CommError is artfs.errors.CommError
try:
    Api().artifact("nothing:v0")
except wandb.errors.CommError as e:
    print("caught", type(e).__name__)
"""


def test_wandb_submodules_under_a_shim_are_artfs_own(store_dir, tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", SHIMMED], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "caught NotFound"
