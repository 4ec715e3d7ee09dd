"""Two machines on one S3 remote (moto's server): local stores in separate processes
through the real CLI and mount, as a team's machines use them."""

import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import read, unmount, write


@pytest.fixture
def team(s3_server, tmp_path, monkeypatch):
    """``team.cli(machine, *args)`` runs artfs on machine 1, 2... of one fresh remote."""
    location = s3_server.location()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", location.endpoint)
    monkeypatch.setenv("ARTFS_REMOTE_RETRY", "5")

    class Team:
        url = location.url
        server = s3_server

        @staticmethod
        def store(machine: int) -> str:
            return str(tmp_path / f"machine{machine}")

        def cli(self, machine: int, *args: str, env: dict | None = None):
            return subprocess.run(
                [sys.executable, "-m", "artfs", "--store", self.store(machine), *args],
                capture_output=True,
                text=True,
                env={**os.environ, **(env or {})},
                timeout=300,
            )

        def ok(self, machine: int, *args: str) -> str:
            done = self.cli(machine, *args)
            assert done.returncode == 0, done.stderr
            return done.stdout

        def versions(self, machine: int, name: str) -> list[dict]:
            return json.loads(self.ok(machine, "ls", name, "--json"))

    return Team()


def test_a_clone_sees_and_reads_what_the_first_machine_pushed(team, tmp_path):
    src = tmp_path / "src"
    write(src / "a.txt", "alpha")
    write(src / "deep" / "b.bin", os.urandom(300_000))
    team.ok(1, "put", str(src), "--name", "ds", "--alias", "best")
    assert "pushed 1 versions" in team.ok(1, "remote", "add", team.url)
    assert "1 versions" in team.ok(2, "clone", team.url, team.store(2))
    for machine in (1, 2):  # the form of If-Match check_bucket found moto to enforce
        with open(os.path.join(team.store(machine), "remote.json")) as f:
            assert json.load(f)["unquoted_if_match"] is False
    [v0] = team.versions(2, "ds")
    assert (v0["version"], set(v0["aliases"])) == ("v0", {"best", "latest"})
    team.ok(2, "get", "ds:best", str(tmp_path / "out"))
    assert read(tmp_path / "out" / "deep" / "b.bin") == read(src / "deep" / "b.bin")
    shown = json.loads(team.ok(2, "remote", "show", "--json"))
    assert shown["remote"] == team.url and shown["versions"] == 1


def test_machines_committing_at_once_get_distinct_numbers(team, tmp_path):
    team.ok(1, "remote", "add", team.url)
    team.ok(2, "clone", team.url, team.store(2))
    procs = []
    for i in range(6):
        write(tmp_path / f"f{i}.txt", f"content {i}")
        store = team.store(1 + i % 2)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "artfs", "--store", store, "put"]
                + [str(tmp_path / f"f{i}.txt"), "--name", "ds"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    labels = {}
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        labels[out.strip()] = f"content {i}"
    assert sorted(labels) == [f"ds:v{n}" for n in range(6)]
    for label, text in labels.items():
        got = tmp_path / "check" / label.replace(":", "_")
        team.ok(1 + len(label) % 2, "get", label, str(got))
        [name] = os.listdir(got)
        assert read(got / name) == text.encode()


def test_many_small_files_go_up_in_a_few_requests(team, tmp_path):
    src = tmp_path / "src"
    for i in range(2000):
        write(src / f"d{i % 20}" / f"f{i}.txt", f"small file {i}\n")
    team.ok(1, "remote", "add", team.url)
    team.server.reset_counts()
    team.ok(1, "put", str(src), "--name", "many")
    counts = team.server.counts()
    puts = counts["PUT"] + counts["PUT-CONDITIONAL"]
    assert puts <= 12, counts  # 2 packs, 2 indexes, the claim, its journal, the artifact...


def test_aliases_and_removal_are_seen_by_the_other_machine(team, tmp_path):
    write(tmp_path / "x", "1")
    write(tmp_path / "y", "2")
    team.ok(1, "remote", "add", team.url)
    team.ok(1, "put", str(tmp_path / "x"), "--name", "ds")
    team.ok(1, "put", str(tmp_path / "y"), "--name", "ds")
    team.ok(2, "clone", team.url, team.store(2))
    team.ok(2, "alias", "ds:v0", "prod")
    team.ok(2, "rm", "ds:v1")
    [v0] = team.versions(1, "ds")
    assert (v0["version"], set(v0["aliases"])) == ("v0", {"prod", "latest"})
    write(tmp_path / "z", "3")
    assert team.ok(1, "put", str(tmp_path / "z"), "--name", "ds").strip() == "ds:v2"


def test_an_unreachable_remote_leaves_cached_versions_readable(team, tmp_path):
    write(tmp_path / "x", "cached")
    team.ok(1, "remote", "add", team.url)
    team.ok(1, "put", str(tmp_path / "x"), "--name", "ds")
    dead = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "ARTFS_REMOTE_RETRY": "0"}
    listed = team.cli(1, "ls", "ds", env=dead)
    assert listed.returncode == 0 and "ds:v0" in listed.stdout
    assert "showing the versions cached here" in listed.stderr
    write(tmp_path / "y", "new")
    failed = team.cli(1, "put", str(tmp_path / "y"), "--name", "ds", env=dead)
    assert failed.returncode == 1
    assert len(failed.stderr.strip().splitlines()) <= 2, failed.stderr  # the warning, the error
    assert [v["version"] for v in team.versions(1, "ds")] == ["v0"]


def test_remote_add_refuses_what_it_cannot_use(team, tmp_path):
    bad = team.cli(1, "remote", "add", "http://example.com/x")
    assert bad.returncode == 2 and "s3://BUCKET/PREFIX" in bad.stderr
    write(tmp_path / "x", "1")
    team.ok(1, "put", str(tmp_path / "x"), "--name", "ds")
    team.ok(1, "remote", "add", team.url)
    write(tmp_path / "y", "2")
    team.ok(2, "put", str(tmp_path / "y"), "--name", "other")
    both = team.cli(2, "remote", "add", team.url)
    assert both.returncode == 1 and "artfs clone" in both.stderr
    assert not os.path.exists(os.path.join(team.store(2), "remote.json"))
    write(tmp_path / "busy" / "keep.txt", "mine")
    busy = team.cli(3, "clone", team.url, str(tmp_path / "busy"))
    assert busy.returncode == 2 and "not empty" in busy.stderr
    assert read(tmp_path / "busy" / "keep.txt") == b"mine"


def test_a_mount_shows_versions_committed_on_another_machine(team, tmp_path):
    write(tmp_path / "x", "first")
    team.ok(1, "remote", "add", team.url)
    team.ok(1, "put", str(tmp_path / "x"), "--name", "ds")
    team.ok(2, "clone", team.url, team.store(2))
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    team.ok(2, "mount", str(mnt), "--remote-interval", "0.5")
    try:
        assert read(mnt / "artifacts" / "ds" / "v0" / "x") == b"first"
        write(tmp_path / "x", "second")
        team.ok(1, "put", str(tmp_path / "x"), "--name", "ds")
        deadline = time.monotonic() + 20
        while not (mnt / "artifacts" / "ds" / "v1").exists():
            assert time.monotonic() < deadline, "the mount never showed ds:v1"
            time.sleep(0.2)
        assert read(mnt / "artifacts" / "ds" / "v1" / "x") == b"second"
        assert os.readlink(mnt / "artifacts" / "ds" / "latest") == "v1"
    finally:
        unmount(str(mnt))


def test_reads_through_one_machines_mount_are_lineage_on_the_other(team, tmp_path):
    write(tmp_path / "x", "data read by a run")
    team.ok(1, "remote", "add", team.url)
    team.ok(1, "put", str(tmp_path / "x"), "--name", "ds")
    team.ok(2, "clone", team.url, team.store(2))
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    team.ok(2, "mount", str(mnt))
    try:
        team.ok(2, "run", "--job-type", "train", "--", "cat", str(mnt / "artifacts/ds/v0/x"))
    finally:
        unmount(str(mnt))
    [run] = json.loads(team.ok(1, "runs", "ls", "--json"))
    shown = json.loads(team.ok(1, "runs", "show", run["id"], "--json"))
    assert [(i["version"], i["files"]) for i in shown["inputs"]] == [
        ("ds:v0", {"x": len("data read by a run")})
    ]


def test_gc_and_verify_of_the_remote_from_the_command_line(team, tmp_path):
    write(tmp_path / "x", "stays")
    write(tmp_path / "y", "goes" * 1000)
    team.ok(1, "remote", "add", team.url)
    team.ok(1, "put", str(tmp_path / "x"), "--name", "ds")
    team.ok(1, "put", str(tmp_path / "y"), "--name", "ds")
    team.ok(2, "clone", team.url, team.store(2))
    assert "all intact" in team.ok(2, "verify")  # reads from the remote what is not cached
    assert "all intact" in team.ok(2, "verify", "--remote")
    team.ok(2, "rm", "ds:v1")
    first = json.loads(team.ok(2, "gc", "--remote", "--json"))["remote"]
    assert len(first["doomed"]) == 2 and first["deleted"] == []
    soon = json.loads(team.ok(1, "gc", "--remote", "--grace", "1h", "--json"))["remote"]
    assert soon["deleted"] == [] and soon["doomed"] == []  # doomed already, not for long
    time.sleep(1.1)
    later = json.loads(team.ok(1, "gc", "--remote", "--grace", "1s", "--json"))["remote"]
    assert sorted(later["deleted"]) == sorted(first["doomed"])
    assert "all intact" in team.ok(1, "verify", "--remote")
    team.ok(3, "clone", team.url, team.store(3))
    team.ok(3, "get", "ds:v0", str(tmp_path / "out"))
    assert read(tmp_path / "out" / "x") == b"stays"


def test_removing_the_remote_is_refused_while_versions_need_it(team, tmp_path):
    write(tmp_path / "x", "only on the remote")
    team.ok(1, "remote", "add", team.url)
    team.ok(1, "put", str(tmp_path / "x"), "--name", "ds")
    team.ok(2, "clone", team.url, team.store(2))
    refused = team.cli(2, "remote", "remove")
    assert refused.returncode == 1 and "ds:v0" in refused.stderr and "--force" in refused.stderr
    assert os.path.exists(os.path.join(team.store(2), "remote.json"))
    team.ok(2, "get", "ds", str(tmp_path / "out"))  # fetches it: now it is here
    assert "removed the remote" in team.ok(2, "remote", "remove")
    team.ok(2, "gc")  # a store on its own: the chunks it fetched are its own now
    assert "all intact" in team.ok(2, "verify")
    team.ok(2, "get", "ds", str(tmp_path / "again"))
    assert read(tmp_path / "again" / "x") == b"only on the remote"
    elsewhere = team.url + "-moved"  # another remote: everything goes up again
    assert "pushed 1 versions" in team.ok(2, "remote", "add", elsewhere)
    team.ok(3, "clone", elsewhere, team.store(3))
    team.ok(3, "get", "ds", str(tmp_path / "third"))
    assert read(tmp_path / "third" / "x") == b"only on the remote"
