"""Editing logged versions, save/wait/delete and ttl, as W&B documents them
(docs.wandb.ai "Update an artifact", "Delete an artifact", "Manage data retention
with Artifact TTL policy", and the SDK reference for ``Artifact``)."""

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta

import pytest

import artfs as wandb
from artfs.errors import (
    AliasesHeld,
    ArtifactFinalizedError,
    ArtifactNotLoggedError,
    CommError,
    Conflict,
    NotFound,
)
from artfs.store.store import Store
from tests.conftest import read, write


def logged(tmp_path, name="model", aliases=(), text="weights", **kwargs):
    path = tmp_path / f"{name}-{text}.bin"
    write(path, text)
    with wandb.init(job_type="train") as run:
        art = wandb.Artifact(name, type="model", **kwargs)
        art.add_file(str(path), name="w.bin")
        run.log_artifact(art, aliases=list(aliases))
    return art, run


# --- save() on a logged version --------------------------------------------------------


@pytest.mark.fast
def test_save_persists_description_metadata_and_aliases(store_dir, tmp_path):
    """The W&B docs' "update an artifact": change fields of a fetched version, save()."""
    logged(tmp_path, aliases=["candidate"])
    art = wandb.Api().artifact("model:v0")
    digest = art.digest
    art.description = "ResNet, 3 epochs"
    art.metadata["accuracy"] = 0.91  # item assignment
    art.aliases.append("best")
    art.aliases.remove("candidate")
    assert art.save() is None
    fresh = wandb.Api().artifact("model:best")
    assert fresh.version == "v0" and fresh.digest == digest  # content unchanged
    assert fresh.description == "ResNet, 3 epochs"
    assert fresh.metadata == {"accuracy": 0.91}
    assert sorted(fresh.aliases) == ["best", "latest"]
    with pytest.raises(NotFound):
        wandb.Api().artifact("model:candidate")
    # replacing the whole dict and assigning the list work too
    fresh.metadata = {"f1": (0.5, 0.7)}
    fresh.aliases = ["latest", "production"]
    fresh.save()
    again = wandb.Api().artifact("model:v0")
    assert again.metadata == {"f1": [0.5, 0.7]}  # JSON, as W&B keeps it
    assert sorted(again.aliases) == ["latest", "production"]
    assert read(os.path.join(again.download(str(tmp_path / "dl")), "w.bin")) == b"weights"


@pytest.mark.fast
def test_each_change_is_recorded_with_time_and_run(store_dir, tmp_path):
    art, _ = logged(tmp_path)
    created = art.created_at
    assert art.updated_at == created  # never changed: its creation
    with wandb.init(job_type="evaluate") as run:
        fetched = run.use_artifact("model:latest")
        fetched.metadata["score"] = 3
        fetched.save()
    assert fetched.updated_at >= created
    record = Store.open(store_dir).resolve("model:v0").record
    assert record["edits"][-1]["run"] == run.id
    assert record["edits"][-1]["fields"] == ["metadata"]
    updated = datetime.fromisoformat(fetched.updated_at)  # W&B's ISO 8601 string
    assert abs(updated.timestamp() - record["updated"]) < 1
    # saving with no change records nothing
    fetched.save()
    assert len(Store.open(store_dir).resolve("model:v0").record["edits"]) == 1


def test_changes_from_another_process_show_on_the_next_read(store_dir, tmp_path):
    logged(tmp_path)
    script = textwrap.dedent("""
        import artfs as wandb
        art = wandb.Api().artifact("model:latest")
        art.metadata = {"from": "child"}
        art.aliases.append("shared")
        art.save()
    """)
    subprocess.run([sys.executable, "-c", script], check=True, env=os.environ)
    art = wandb.Api().artifact("model:shared")
    assert art.metadata == {"from": "child"}


@pytest.mark.fast
def test_bad_edits_raise_and_change_nothing(store_dir, tmp_path):
    logged(tmp_path, aliases=["best"])
    art = wandb.Api().artifact("model:v0")
    before = Store.open(store_dir).resolve("model:v0").record
    art.description = "new"
    art.aliases.append("bad/alias")  # W&B refuses '/' and ':' in aliases with ValueError
    with pytest.raises(ValueError):
        art.save()
    with pytest.raises(ValueError):
        art.aliases = ["a:b"]
    art.aliases.remove("bad/alias")
    art.metadata = {"x": float("inf")}
    with pytest.raises(ValueError):
        art.save()
    with pytest.raises(ValueError):
        art.metadata = ["not", "a", "dict"]
    assert Store.open(store_dir).resolve("model:v0").record == before
    assert wandb.Api().artifact("model:v0").description == ""


@pytest.mark.fast
def test_latest_stays_when_save_removes_it(store_dir, tmp_path, monkeypatch):
    """W&B's "update an artifact" page removes 'latest' and sets other aliases: here
    'latest' always names the newest version, so it stays, with a warning, and the rest
    is saved."""
    import artfs.values

    monkeypatch.setattr(artfs.values, "_warned", set())  # warned once per process
    logged(tmp_path)
    art = wandb.Api().artifact("model:latest")
    art.aliases.remove("latest")
    art.aliases.append("replaced")
    with pytest.warns(UserWarning, match="'latest' always names the newest"):
        art.save()
    assert sorted(art.aliases) == ["latest", "replaced"]
    assert wandb.Api().artifact("model:replaced").version == "v0"
    logged(tmp_path, text="second")
    older = wandb.Api().artifact("model:v0")
    older.aliases.append("latest")  # latest is the newest version's, not v0's
    with pytest.raises(Conflict, match="latest"):
        older.save()


@pytest.mark.fast
def test_content_of_a_logged_version_cannot_change(store_dir, tmp_path):
    art, _ = logged(tmp_path)
    write(tmp_path / "other.txt", "x")
    with pytest.raises(ArtifactFinalizedError):
        art.add_file(str(tmp_path / "other.txt"))
    with pytest.raises(ArtifactFinalizedError):
        art.remove("w.bin")
    # ArtifactFinalizedError is an AttributeError, as in W&B
    with pytest.raises(AttributeError), art.new_file("n.txt") as f:
        f.write("n")
    assert [f.name for f in wandb.Api().artifact("model:v0").files()] == ["w.bin"]


@pytest.mark.fast
def test_tags_are_edited_like_aliases(store_dir, tmp_path):
    """W&B's "artifact tags" page: assign, append, save; tags exist once logged."""
    logged(tmp_path)
    art = wandb.Api().artifact("model:latest")
    art.tags = ["tag1", "tag2"]
    art.save()
    art = wandb.Api().artifact("model:latest")
    art.tags.append("tag3")
    art.save()
    assert wandb.Api().artifact("model:v0").tags == ["tag1", "tag2", "tag3"]
    art.tags.append("bad/tag")
    with pytest.raises(ValueError):
        art.save()
    assert wandb.Api().artifact("model:v0").tags == ["tag1", "tag2", "tag3"]
    with pytest.raises(ArtifactNotLoggedError):
        _ = wandb.Artifact("d", "dataset").tags


# --- save() on a draft, wait() -----------------------------------------------------------


@pytest.mark.fast
def test_save_of_a_draft_logs_it_under_the_active_run(store_dir, tmp_path):
    with wandb.init(job_type="prep") as run:
        art = wandb.Artifact("ds", type="dataset")
        with art.new_file("a.txt") as f:
            f.write("hello")
        art.save()
        assert art.wait() is art
    assert art.version == "v0"
    assert art.logged_by().id == run.id


@pytest.mark.fast
def test_save_of_a_draft_without_a_run_makes_one(store_dir, tmp_path):
    assert wandb.run is None
    art = wandb.Artifact("ds", type="dataset")
    with art.new_file("a.txt") as f:
        f.write("hello")
    art.save()
    assert art.wait().version == "v0"
    producer = art.logged_by()
    assert producer.job_type == "auto" and producer.state == "finished"
    assert wandb.run is None  # the implicit run is over


@pytest.mark.fast
def test_wait_on_a_draft_never_saved_raises(store_dir):
    art = wandb.Artifact("ds", type="dataset")
    with pytest.raises(ArtifactNotLoggedError):
        art.wait()
    with pytest.raises(ArtifactNotLoggedError):
        _ = art.aliases  # W&B: aliases exist once logged
    with pytest.raises(ArtifactNotLoggedError):
        _ = art.updated_at
    assert art._aliases == [] and art._updated_at is None


# --- delete() ------------------------------------------------------------------------------


@pytest.mark.fast
def test_delete_refuses_aliases_unless_asked(store_dir, tmp_path):
    """W&B's SDK test: a version with aliases raises CommError unless delete_aliases."""
    logged(tmp_path, aliases=["my_alias"])
    logged(tmp_path, text="v1 weights")
    art = wandb.Api().artifact("model:v0")
    with pytest.raises(CommError):
        art.delete()
    assert wandb.Api().artifact("model:my_alias").version == "v0"
    art.delete(delete_aliases=True)
    with pytest.raises(NotFound):
        wandb.Api().artifact("model:v0")
    with pytest.raises(NotFound):
        wandb.Api().artifact("model:my_alias")
    assert [a.version for a in wandb.Api().artifact_versions("model")] == ["v1"]


@pytest.mark.fast
def test_delete_of_latest_moves_latest(store_dir, tmp_path):
    logged(tmp_path)
    logged(tmp_path, text="second")
    newest = wandb.Api().artifact("model:latest")
    with pytest.raises(AliasesHeld, match="latest"):  # latest is an alias in W&B too
        newest.delete()
    newest.delete(delete_aliases=True)
    assert wandb.Api().artifact("model:latest").version == "v0"


@pytest.mark.fast
def test_delete_of_a_draft_raises(store_dir):
    with pytest.raises(ArtifactNotLoggedError):
        wandb.Artifact("ds", type="dataset").delete()


@pytest.mark.fast
def test_versions_without_aliases_can_be_deleted_in_a_loop(store_dir, tmp_path):
    """The docs' cleanup loop: delete every version that has no alias."""
    for i in range(3):
        logged(tmp_path, text=f"w{i}", aliases=["keep"] if i == 0 else [])
    for art in wandb.Api().artifact_versions("model"):
        if len(art.aliases) == 0:
            art.delete()
    assert [a.version for a in wandb.Api().artifact_versions("model")] == ["v0", "v2"]


# --- ttl -------------------------------------------------------------------------------------


@pytest.mark.fast
def test_ttl_setter_getter_as_w_and_b():
    """W&B's own test_artifact_ttl_setter_getter, in substance."""
    art = wandb.Artifact("test", type="test")
    with pytest.raises(ArtifactNotLoggedError):
        _ = art.ttl
    assert art._ttl_duration_seconds is None and art._ttl_is_inherited
    assert art._ttl_changed is False
    art.ttl = None
    assert art.ttl is None and art._ttl_changed and art._ttl_is_inherited is False
    art = wandb.Artifact("test", type="test")
    art.ttl = wandb.ArtifactTTL.INHERIT
    with pytest.raises(ArtifactNotLoggedError):
        _ = art.ttl
    assert art._ttl_changed and art._ttl_is_inherited
    art = wandb.Artifact("test", type="test")
    art.ttl = timedelta(days=100)
    assert art.ttl == timedelta(days=100) and art._ttl_duration_seconds == 8_640_000
    with pytest.raises(ValueError):
        art.ttl = timedelta(days=-1)
    with pytest.raises(ValueError):
        art.ttl = 30


@pytest.mark.fast
def test_ttl_is_kept_at_logging_and_changed_by_save(store_dir, tmp_path):
    art, _ = logged(tmp_path, ttl=timedelta(days=7))
    assert art.ttl == timedelta(days=7)
    fetched = wandb.Api().artifact("model:v0")
    assert fetched.ttl == timedelta(days=7) and not fetched._ttl_is_inherited
    fetched.ttl = timedelta(hours=1)
    fetched.save()
    assert wandb.Api().artifact("model:v0").ttl == timedelta(hours=1)
    fetched.ttl = None  # never expires
    fetched.save()
    assert wandb.Api().artifact("model:v0").ttl is None
    record = Store.open(store_dir).resolve("model:v0").record
    assert record["ttl"] is None and record["edits"][-1]["fields"] == ["ttl"]


@pytest.mark.fast
def test_log_artifact_takes_ttl(store_dir, tmp_path):
    write(tmp_path / "f.txt", "x")
    with wandb.init() as run:
        art = wandb.Artifact("ds", type="dataset")
        art.add_file(str(tmp_path / "f.txt"))
        run.log_artifact(art, ttl=timedelta(days=2))
    assert wandb.Api().artifact("ds:v0").ttl == timedelta(days=2)


@pytest.mark.fast
def test_inherited_ttl_is_the_artifacts_policy(store_dir, tmp_path):
    logged(tmp_path)
    assert wandb.Api().artifact("model:v0").ttl is None  # no policy: never expires
    Store.open(store_dir).set_retention("model", ttl=3600)
    art = wandb.Api().artifact("model:v0")
    assert art.ttl == timedelta(hours=1) and art._ttl_is_inherited
    art.ttl = timedelta(days=1)
    art.save()
    art.ttl = wandb.ArtifactTTL.INHERIT
    art.save()
    assert wandb.Api().artifact("model:v0").ttl == timedelta(hours=1)
    assert "ttl" not in Store.open(store_dir).resolve("model:v0").record


def test_expired_version_is_removed_by_gc_unless_aliased(store_dir, tmp_path, cli):
    logged(tmp_path, text="old", ttl=timedelta(seconds=1))
    logged(tmp_path, text="kept", ttl=timedelta(seconds=1), aliases=["prod"])
    logged(tmp_path, text="new")
    store = Store.open(store_dir)
    later = store.resolve("model:v1").created + 10
    from artfs.store import retention

    assert [e.label for e in retention.expired(store, now=later)] == ["model:v0"]
    # a real gc, once the ttl has run out: make it run out by moving the creation back
    for number in (0, 1):
        _age(store, f"model:v{number}", 3600)
    dry = cli("gc", "--dry-run", "--json")
    assert dry.code == 0, dry.err
    report = json.loads(dry.out)
    assert [e["version"] for e in report["expired"]] == ["model:v0"] and report["chunks"] == 1
    assert [a.version for a in wandb.Api().artifact_versions("model")] == ["v0", "v1", "v2"]
    done = cli("gc")
    assert done.code == 0 and "removed model:v0 (past its ttl)" in done.out
    assert [a.version for a in wandb.Api().artifact_versions("model")] == ["v1", "v2"]
    forced = cli("gc", "--force")
    assert "removed model:v1 (past its ttl; with aliases prod)" in forced.out
    assert [a.version for a in wandb.Api().artifact_versions("model")] == ["v2"]


def _age(store: Store, label: str, seconds: float) -> None:
    """Make a version older than it is (a test cannot wait out a ttl)."""
    from artfs.store import meta

    version = store.resolve(label)
    record = dict(version.record, created=version.created - seconds)
    with store.meta.write() as txn:
        txn.put(
            meta.version_key(version.name, version.number),
            meta.dumps(record),
            db=store.meta.db["versions"],
        )
