"""Retention policies (`artfs retention`, applied by `artfs gc`) and how edits of logged
versions show in `ls`, `show`, `--json` and a running mount."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from artfs.errors import UsageError
from artfs.store import retention
from artfs.store.store import INHERIT, Store
from tests.conftest import read, write


def put_versions(cli, tmp_path, n: int, name: str = "ds") -> None:
    for i in range(n):
        write(tmp_path / "src" / "f.txt", f"content {i}")
        assert cli("put", str(tmp_path / "src"), "--name", name).code == 0


def versions(cli, name: str = "ds") -> list[str]:
    return [row["version"] for row in json.loads(cli("ls", name, "--json").out)]


def test_keep_last_policy_is_shown_applied_by_gc_and_cleared(cli, tmp_path):
    put_versions(cli, tmp_path, 5)
    assert cli("alias", "ds:v0", "golden").code == 0
    assert cli("retention", "ds").out.strip() == "ds: no retention policy"
    set_ = cli("retention", "ds", "--keep-last", "2", "--json")
    assert json.loads(set_.out) == {"name": "ds", "keep_last": 2, "ttl": None}
    dry = json.loads(cli("gc", "--dry-run", "--json").out)
    assert [(e["version"], e["reason"]) for e in dry["expired"]] == [
        ("ds:v1", "keep_last"),
        ("ds:v2", "keep_last"),
    ]
    assert dry["chunks"] == 2 and dry["dry_run"]
    assert versions(cli) == ["v0", "v1", "v2", "v3", "v4"]  # a dry run removes nothing
    done = cli("gc")
    assert done.code == 0
    assert "removed ds:v1 (beyond keep-last)" in done.out
    assert versions(cli) == ["v0", "v3", "v4"]  # v0 holds a user alias
    assert cli("retention", "ds", "--clear").out.strip() == "ds: no retention policy"
    put_versions(cli, tmp_path, 2)
    assert json.loads(cli("gc", "--json").out)["expired"] == []


def test_policy_ttl_expires_inheriting_versions_only(cli, store_dir, tmp_path):
    put_versions(cli, tmp_path, 3)
    assert cli("retention", "ds", "--ttl", "30d").code == 0
    store = Store.open(store_dir)
    store.edit_version("ds:v1", ttl=None)  # its own: never expires
    created = store.resolve("ds:v2").created
    month = created + 31 * 86400
    assert [e.label for e in retention.expired(store, now=month)] == ["ds:v0", "ds:v2"]
    assert retention.expired(store, now=created + 86400) == []
    rows = json.loads(cli("ls", "ds", "--json").out)
    assert rows[0]["expires"] == pytest.approx(rows[0]["created"] + 30 * 86400)
    assert rows[1]["expires"] is None and rows[1]["ttl_inherited"] is False
    assert "expires" in cli("ls", "ds").out.splitlines()[0]
    shown = cli("show", "ds:v0").out
    assert "ttl      inherited, 30d, expires" in shown


def test_version_ttl_from_the_cli(cli, store_dir, tmp_path):
    put_versions(cli, tmp_path, 1)
    out = cli("retention", "ds:v0", "--ttl", "12h", "--json")
    assert json.loads(out.out)["ttl"] == 12 * 3600
    assert Store.open(store_dir).resolve("ds:v0").record["ttl"] == 43200
    assert json.loads(cli("retention", "ds:v0", "--ttl", "never", "--json").out)["ttl"] is None
    back = json.loads(cli("retention", "ds:v0", "--ttl", "inherit", "--json").out)
    assert back["inherited"] is True
    bad = cli("retention", "ds:v0", "--ttl", "soon")
    assert bad.code == 2 and "30d" in bad.err
    assert cli("retention", "ds", "--keep-last", "0").code == 2
    assert "ttl" not in Store.open(store_dir).resolve("ds:v0").record


@pytest.mark.fast
def test_store_refuses_bad_policies_and_fields(store):
    from artfs.store.commit import Commit, Node

    with Commit(store) as commit:
        commit.publish("ds", Node())
    for bad in ({"keep_last": 0}, {"keep_last": True}, {"ttl": -5}, {"ttl": INHERIT}, {"every": 3}):
        with pytest.raises(UsageError):
            store.set_retention("ds", **bad)
    for bad in ({"size": 3}, {"ttl": 0}, {"metadata": [1]}, {"description": 5}):
        with pytest.raises(UsageError):
            store.edit_version("ds:v0", **bad)
    assert store.retention("ds") == {}
    assert "edits" not in store.resolve("ds:v0").record


def test_cli_alias_changes_are_recorded(cli, store_dir, tmp_path):
    put_versions(cli, tmp_path, 2)
    assert cli("alias", "ds:v0", "prod", env={"ARTFS_RUN_ID": "manual-run"}).code == 0
    record = Store.open(store_dir).resolve("ds:v0").record
    assert record["edits"][-1]["fields"] == ["aliases"]
    assert record["edits"][-1]["run"] == "manual-run"
    assert cli("alias", "--rm", "ds", "prod").code == 0
    assert len(Store.open(store_dir).resolve("ds:v0").record["edits"]) == 2
    shown = json.loads(cli("show", "ds:v0", "--json").out)
    assert shown["updated"] == shown["edits"][-1]["at"]


def test_edits_show_in_a_running_mount_at_once(cli, store_dir, tmp_path, mount):
    put_versions(cli, tmp_path, 2)
    meta_file = os.path.join(mount, "meta", "ds", "v0.json")
    version_dir = os.path.join(mount, "artifacts", "ds", "v0")
    before = json.loads(read(meta_file))
    assert before["aliases"] == [] and before["description"] == ""
    assert os.getxattr(version_dir, "user.artfs.aliases") == b""
    # another process edits v0 through the Python API
    script = textwrap.dedent("""
        from datetime import timedelta
        import artfs as wandb
        art = wandb.Api().artifact("ds:v0")
        art.description = "the first one, described at length " * 3
        art.metadata["rows"] = 10
        art.aliases.append("best")
        art.ttl = timedelta(days=1)
        art.save()
    """)
    subprocess.run([sys.executable, "-c", script], check=True, env=os.environ)
    after = json.loads(read(meta_file))  # a longer file: its size was not cached
    assert after["aliases"] == ["best"] and after["metadata"] == {"rows": 10}
    assert after["description"].startswith("the first one") and after["ttl"] == 86400
    assert after["expires"] == pytest.approx(after["created"] + 86400)
    assert after["edits"][-1]["fields"] == ["aliases", "description", "metadata", "ttl"]
    assert os.readlink(os.path.join(mount, "artifacts", "ds", "best")) == "v0"
    assert os.getxattr(version_dir, "user.artfs.aliases") == b"best"
    assert os.getxattr(os.path.join(version_dir, "f.txt"), "user.artfs.expires")
    assert cli("alias", "ds:v1", "best").code == 0  # moved: the link follows at once
    assert os.readlink(os.path.join(mount, "artifacts", "ds", "best")) == "v1"
    assert cli("alias", "--rm", "ds", "best").code == 0
    assert not os.path.lexists(os.path.join(mount, "artifacts", "ds", "best"))


def test_a_damaged_edit_history_is_named_not_a_traceback(cli, store_dir, tmp_path):
    from artfs.store import meta

    put_versions(cli, tmp_path, 1)
    store = Store.open(store_dir)
    version = store.resolve("ds:v0")
    with store.meta.write() as txn:  # what a flipped byte could leave
        txn.put(
            meta.version_key("ds", 0),
            meta.dumps(dict(version.record, edits=[3])),
            db=store.meta.db["versions"],
        )
    shown = cli("show", "ds:v0")
    assert shown.code == 1 and "'edits'" in shown.err and "Traceback" not in shown.err
    assert json.loads(cli("ls", "ds", "--json").out)[0]["damaged"]
