"""SIGKILL of the mount daemon at many points of a commit through the mount: after a
remount the staging shows its content before or after the commit, never anything
else, every version holds what was staged, and the client says what happened.

ARTFS_CRASH_KILLS sets how many kills (default 8, spread over one commit's time).
"""

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest

from artfs.fs import registry
from artfs.store.commit import Commit
from artfs.store.staging import Staging, placeholder_digest, placeholder_entry
from tests.conftest import read, unmount, write

KILLS = int(os.environ.get("ARTFS_CRASH_KILLS", "10"))


def digests(root: str) -> dict[str, str]:
    return {
        name: hashlib.sha256(read(os.path.join(root, name))).hexdigest()
        for name in sorted(os.listdir(root))
    }


def stage_round(staging: str, round_: int) -> dict[str, str]:
    """Change half the files (fsynced), keep the others: a commit has real work."""
    for i in range(12):
        path = os.path.join(staging, f"f{i:02}.bin")
        if i % 2 == round_ % 2 or not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(os.urandom(6_000_000 + i))
                f.flush()
                os.fsync(f.fileno())
    return digests(staging)


def test_sigkill_at_any_point_of_a_commit_loses_nothing(cli, store_dir, tmp_path):
    mount = str(tmp_path / "mnt")
    os.makedirs(mount)
    assert cli("mount", mount).code == 0
    try:
        staging = os.path.join(mount, "staging", "ds")
        os.mkdir(staging)
        expected = stage_round(staging, 0)
        started = time.monotonic()
        assert cli("ls").code == 0
        startup = time.monotonic() - started  # before the client's request reaches the daemon
        assert cli("commit", "ds").code == 0
        took = time.monotonic() - started - startup
        committed = {0: expected}
        outcomes = []
        for round_ in range(1, KILLS + 1):
            expected = stage_round(staging, round_)
            # from about when the request arrives to after the end of the commit
            delay = 0.8 * startup + (took - 0.6 * startup) * (round_ - 1) / max(KILLS - 1, 1)
            client = subprocess.Popen(
                [sys.executable, "-m", "artfs", "--store", store_dir, "commit", "ds"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(delay)
            (daemon,) = registry.mounts(store_dir)
            os.kill(daemon.pid, signal.SIGKILL)
            out, err = client.communicate(timeout=120)
            outcomes.append((round(delay, 3), client.returncode, out.strip()))
            unmount(mount)
            assert cli("mount", mount).code == 0, f"remount after kill at {delay:.3f}s"
            shown = digests(staging)
            assert shown == expected, f"staging changed by a kill at {delay:.3f}s"
            versions = [v["version"] for v in as_list(cli)]
            for label in versions:
                number = int(label[1:])
                assert digests(os.path.join(mount, "artifacts", "ds", label)) == committed.get(
                    number, expected
                ), f"{label} after a kill at {delay:.3f}s"
            if client.returncode == 0:  # it says which version holds the content
                assert out.strip() == f"ds:{versions[-1]}", err
                committed[int(versions[-1][1:])] = expected
            else:
                assert "no new version" in err and err.count("\n") == 1, err
            again = cli("commit", "ds")  # the next commit publishes exactly the staging
            assert again.code == 0, again.err
            number = int(again.out.strip().rsplit(":v", 1)[1])
            committed[number] = expected
            assert digests(os.path.join(mount, "artifacts", "ds", f"v{number}")) == expected
        assert any(code != 0 for _, code, _ in outcomes), outcomes  # some kills were early
    finally:
        unmount(mount)


def as_list(cli) -> list[dict]:
    import json

    result = cli("ls", "ds", "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


class Killed(BaseException):
    """A SIGKILL, as far as the code under test can tell: nothing after it runs."""


def _killable(real, calls: dict):
    def counted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == calls["kill_at"]:
            raise Killed
        return real(*args, **kwargs)

    return counted


@pytest.mark.fast
def test_no_single_step_of_turning_files_into_placeholders_leaves_another_content(
    store, monkeypatch
):
    """A committed file becomes a placeholder in one system call once marked: a kill
    after any call leaves it whole, or a placeholder of its full size and content."""
    staging = Staging(store, "ds")
    staging.create()
    content = {f"f{i}.bin": os.urandom(200_000 + i) for i in range(3)}
    for name, data in content.items():
        write(os.path.join(staging.tree, name), data)
    with Commit(store) as c:  # committed, and not yet turned into placeholders
        version, _ = c.publish("ds", staging._scan(c))
    calls = {"n": 0, "kill_at": 0}
    for fn in ("truncate", "ftruncate", "setxattr", "utime", "removexattr"):
        monkeypatch.setattr(os, fn, _killable(getattr(os, fn), calls))
    for kill_at in range(1, 4 * len(content)):
        calls.update(n=0, kill_at=kill_at)
        with contextlib.suppress(Killed):
            staging._to_placeholders(version)
        for name, data in content.items():
            path = os.path.join(staging.tree, name)
            digest = placeholder_digest(path)
            shown = (
                read(path)
                if digest is None
                else b"".join(store.read_file(placeholder_entry(path, os.stat(path), digest)))
            )
            assert shown == data, (kill_at, name)
    assert all(placeholder_digest(os.path.join(staging.tree, n)) for n in content)
