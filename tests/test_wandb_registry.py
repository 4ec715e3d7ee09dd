"""W&B's model registry and portfolios: link_artifact, link_model, Artifact.link, resolving
links by name and alias, and their place in the mount."""

import os

import pytest

import artfs as wandb
from artfs.errors import NotFound
from tests.conftest import read, write


@pytest.fixture
def run(store_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    started = wandb.init(project="proj", job_type="train")
    yield started
    started.finish()


def model(run, name="clf", text="w0", aliases=None):
    artifact = wandb.Artifact(name, type="model")
    with artifact.new_file("model.pt") as f:
        f.write(text)
    run.log_artifact(artifact, aliases=aliases)
    return artifact


@pytest.mark.fast
def test_link_artifact_into_a_registry_collection(run):
    source = model(run)
    linked = run.link_artifact(source, "wandb-registry-model/prod-clf", aliases=["staging"])
    assert linked.is_link is True and source.is_link is False
    assert linked.name == "prod-clf:v0" and linked.version == "v0"
    assert linked.aliases == ["latest", "staging"]
    assert linked.source_name == "clf:v0"
    assert linked.source_artifact.name == "clf:v0"
    assert linked.qualified_name.endswith("/wandb-registry-model/prod-clf:v0")
    assert linked.digest == source.digest and linked.type == "model"
    assert [a.name for a in source.linked_artifacts] == ["prod-clf:v0"]


@pytest.mark.fast
def test_a_link_resolves_by_version_alias_and_full_path(run):
    source = model(run)
    second = model(run, text="w1")
    run.link_artifact(source, "wandb-registry-model/prod-clf")
    run.link_artifact(second, "wandb-registry-model/prod-clf", aliases=["production"])
    api = wandb.Api()
    assert api.artifact("wandb-registry-model/prod-clf:v0").digest == source.digest
    assert api.artifact("wandb-registry-model/prod-clf:production").digest == second.digest
    assert api.artifact("my-org/wandb-registry-model/prod-clf:latest").digest == second.digest
    assert api.artifact("prod-clf:v1").source_name == "clf:v1"
    assert api.artifact_exists("wandb-registry-model/prod-clf:v1")
    assert not api.artifact_exists("wandb-registry-model/prod-clf:v2")
    assert not api.artifact_exists("wandb-registry-model/nothing:v0")
    with pytest.raises(ValueError):
        api.artifact("wandb-registry-model/prod-clf:v0", type="dataset")


@pytest.mark.fast
def test_linking_copies_nothing_and_use_artifact_consumes_the_source(run, store_dir):
    source = model(run)
    chunks = sorted(os.listdir(os.path.join(store_dir, "chunks")))
    run.link_artifact(source, "wandb-registry-model/prod-clf")
    assert sorted(os.listdir(os.path.join(store_dir, "chunks"))) == chunks
    used = run.use_artifact("wandb-registry-model/prod-clf:latest")
    assert used.is_link and [a.name for a in run.used_artifacts()] == ["clf:v0"]
    path = used.download("dl")
    assert read(os.path.join(path, "model.pt")) == b"w0"


@pytest.mark.fast
def test_linking_the_same_version_twice_is_one_link(run):
    source = model(run)
    first = run.link_artifact(source, "wandb-registry-model/prod-clf")
    again = run.link_artifact(source, "wandb-registry-model/prod-clf", aliases=["best"])
    assert first.name == again.name == "prod-clf:v0"
    coll = wandb.Api().artifact_collection("model", "wandb-registry-model/prod-clf")
    assert [a.name for a in coll.artifacts()] == ["prod-clf:v0"]
    assert coll.aliases == ["best", "latest"] and not coll.is_sequence()


@pytest.mark.fast
def test_link_artifact_logs_a_draft_first(run):
    draft = wandb.Artifact("fresh-model", "model")
    with draft.new_file("m.bin") as f:
        f.write("m")
    linked = run.link_artifact(draft, "test-collection")
    assert draft.name == "fresh-model:v0"
    assert linked.is_link and linked.name == "test-collection:v0"
    assert linked.project == "proj"
    assert wandb.Api().artifact("proj/test-collection:v0").source_name == "fresh-model:v0"


@pytest.mark.fast
def test_artifact_link_without_a_run(run):
    source = model(run)
    linked = source.link("model-registry/Classifier", aliases="candidate")
    assert linked.project == "model-registry"
    assert wandb.Api().artifact("model-registry/Classifier:candidate").digest == source.digest


@pytest.mark.fast
def test_link_model_logs_and_links_into_the_model_registry(run, tmp_path):
    write(tmp_path / "m/model.pt", "weights")
    linked = run.link_model(
        str(tmp_path / "m"), "MNIST-Classifier", name="mnist-clf", aliases=["staging"]
    )
    assert linked.name == "MNIST-Classifier:v0" and linked.project == "model-registry"
    assert linked.source_name == "mnist-clf:v0" and linked.type == "model"
    assert "staging" in linked.aliases
    # unchanged files: no new version of the model, the same link
    again = run.link_model(str(tmp_path / "m"), "MNIST-Classifier", name="mnist-clf")
    assert again.name == "MNIST-Classifier:v0"
    assert [a.name for a in wandb.Api().artifacts("model", "mnist-clf")] == ["mnist-clf:v0"]
    with pytest.raises(AssertionError):
        run.link_model(str(tmp_path / "m"), "team/model-registry/X")


@pytest.mark.fast
def test_a_collection_holds_one_type(run):
    source = model(run)
    run.link_artifact(source, "wandb-registry-model/prod-clf")
    data = wandb.Artifact("data", "dataset")
    run.log_artifact(data)
    with pytest.raises(ValueError, match="holds 'model' artifacts"):
        run.link_artifact(data, "wandb-registry-model/prod-clf")
    assert (
        len(wandb.Api().artifact_collection("model", "wandb-registry-model/prod-clf").artifacts())
        == 1
    )


@pytest.mark.fast
def test_unlink_and_delete_of_a_link_keep_the_source(run):
    source = model(run)
    linked = run.link_artifact(source, "wandb-registry-model/prod-clf")
    api = wandb.Api()
    linked.delete()
    assert api.artifact_exists("clf:v0") is True
    assert api.artifact_exists("wandb-registry-model/prod-clf:v0") is False
    relinked = run.link_artifact(source, "wandb-registry-model/prod-clf")
    assert relinked.name == "prod-clf:v1"  # numbers are not reused


@pytest.mark.fast
def test_saving_a_links_aliases_changes_the_link_only(run):
    source = model(run, aliases=["src-alias"])
    linked = run.link_artifact(source, "wandb-registry-model/prod-clf")
    linked.aliases.append("production")
    linked.save()
    api = wandb.Api()
    assert "production" in api.artifact("wandb-registry-model/prod-clf:production").aliases
    assert "production" not in api.artifact("clf:v0").aliases


@pytest.mark.fast
def test_renaming_a_registry_collection(run):
    source = model(run)
    run.link_artifact(source, "wandb-registry-model/prod-clf", aliases=["best"])
    coll = wandb.Api().artifact_collection("model", "wandb-registry-model/prod-clf")
    coll.name = "clf-v2"
    coll.description = "the production classifier"
    coll.save()
    api = wandb.Api()
    assert api.artifact("wandb-registry-model/clf-v2:best").source_name == "clf:v0"
    assert (
        api.artifact_collection("model", "wandb-registry-model/clf-v2").description
        == "the production classifier"
    )
    with pytest.raises(NotFound):
        api.artifact("wandb-registry-model/prod-clf:best")


@pytest.mark.fast
def test_renaming_the_source_artifact_keeps_its_links(run):
    source = model(run)
    run.link_artifact(source, "wandb-registry-model/prod-clf")
    coll = wandb.Api().artifact_collection("model", "clf")
    coll.name = "classifier"
    coll.save()
    assert wandb.Api().artifact("wandb-registry-model/prod-clf:v0").source_name == "classifier:v0"


def test_the_mount_shows_links_as_symlinks_to_the_linked_versions(
    store_dir, tmp_path, monkeypatch, mount
):
    monkeypatch.chdir(tmp_path)
    assert sorted(os.listdir(mount)) == ["artifacts", "meta", "staging"]  # nothing linked yet
    with wandb.init(project="proj") as run:
        source = model(run)
        second = model(run, text="w1")
        run.link_artifact(source, "wandb-registry-model/prod-clf")
        run.link_artifact(second, "wandb-registry-model/prod-clf", aliases=["production"])
    collection = os.path.join(mount, "registry", "wandb-registry-model", "prod-clf")
    assert "registry" in os.listdir(mount)
    assert os.listdir(os.path.join(mount, "registry")) == ["wandb-registry-model"]
    assert sorted(os.listdir(collection)) == ["latest", "production", "v0", "v1"]
    assert os.readlink(os.path.join(collection, "v0")) == "../../../artifacts/clf/v0"
    assert os.readlink(os.path.join(collection, "production")) == "v1"
    assert read(os.path.join(collection, "production", "model.pt")) == b"w1"
    assert read(os.path.join(collection, "v0", "model.pt")) == b"w0"
    with pytest.raises(OSError):
        os.remove(os.path.join(collection, "v0"))


def test_artfs_links_lists_collections_and_their_links(run, cli):
    import json

    source = model(run)
    run.link_artifact(source, "wandb-registry-model/prod-clf", aliases=["production"])
    listed = cli("links", "--json")
    assert listed.code == 0, listed.err
    assert json.loads(listed.out) == [
        {
            "collection": "wandb-registry-model/prod-clf",
            "type": "model",
            "links": 1,
            "description": "",
        }
    ]
    shown = cli("links", "wandb-registry-model/prod-clf")
    assert shown.code == 0 and "-> clf:v0" in shown.out and "production" in shown.out
    missing = cli("links", "wandb-registry-model/nothing")
    assert missing.code == 1 and "no collection" in missing.err


@pytest.mark.fast
def test_removing_a_version_removes_its_links(run, store):
    source = model(run)
    kept = model(run, text="w1")
    run.link_artifact(source, "wandb-registry-model/prod-clf", aliases=["staging"])
    run.link_artifact(kept, "wandb-registry-model/prod-clf", aliases=["prod"])
    store.remove_version("clf:v0")
    api = wandb.Api()
    with pytest.raises(NotFound):
        api.artifact("wandb-registry-model/prod-clf:v0")
    with pytest.raises(NotFound):  # the removed link's alias went with it
        api.artifact("wandb-registry-model/prod-clf:staging")
    left = api.artifact_collection("model", "wandb-registry-model/prod-clf").artifacts()
    assert [a.name for a in left] == ["prod-clf:v1"]
    assert api.artifact("wandb-registry-model/prod-clf:prod").source_name == "clf:v1"


def test_a_link_to_a_removed_version_says_to_unlink_it(run, store):
    """A store written before removals took their links along can hold such a link."""
    from artfs.store import meta

    source = model(run)
    kept = model(run, text="w1")
    run.link_artifact(source, "wandb-registry-model/prod-clf")
    run.link_artifact(kept, "wandb-registry-model/prod-clf")
    with store.meta.write() as txn:  # the version goes, its link stays
        txn.delete(meta.version_key("clf", 0), db=store.meta.db["versions"])
    api = wandb.Api()
    with pytest.raises(NotFound, match="unlink it"):
        api.artifact("wandb-registry-model/prod-clf:v0")
    with pytest.warns(UserWarning, match="clf:v0"):
        left = api.artifact_collection("model", "wandb-registry-model/prod-clf").artifacts()
    assert [a.name for a in left] == ["prod-clf:v1"]


@pytest.mark.fast
def test_registered_model_names_may_hold_spaces(run, tmp_path):
    write(tmp_path / "model.h5", "h5")
    linked = run.link_model(str(tmp_path / "model.h5"), "My Registered Model", name="mnist")
    assert linked.name == "My Registered Model:v0"
    found = wandb.Api().artifact("model-registry/My Registered Model:latest")
    assert found.source_name == "mnist:v0"
    with pytest.raises(ValueError):
        run.link_artifact(found, "wandb-registry-model/ bad")
