"""A first look through the real mount: versions as directories, staging, commit."""

import errno
import os

import pytest

from tests.conftest import read, write


def test_versions_staging_and_commit(cli, mount, tmp_path):
    src = tmp_path / "src"
    write(src / "a.txt", "alpha")
    write(src / "sub/b.bin", os.urandom(3_000_000))
    assert cli("put", str(src), "--name", "ds").code == 0
    version = os.path.join(mount, "artifacts", "ds", "v0")
    assert read(os.path.join(version, "a.txt")) == b"alpha"
    assert read(os.path.join(version, "sub/b.bin")) == read(src / "sub/b.bin")
    assert os.readlink(os.path.join(mount, "artifacts", "ds", "latest")) == "v0"
    with pytest.raises(OSError) as e:
        os.open(os.path.join(version, "new.txt"), os.O_WRONLY | os.O_CREAT)
    assert e.value.errno == errno.EROFS

    assert cli("stage", "ds", "--from", "v0").code == 0
    staging = os.path.join(mount, "staging", "ds")
    assert read(os.path.join(staging, "sub/b.bin")) == read(src / "sub/b.bin")
    with open(os.path.join(staging, "a.txt"), "a") as f:
        f.write("+more")
    result = cli("commit", "ds", "-m", "edit")
    assert (result.code, result.out) == (0, "ds:v1\n")
    assert read(os.path.join(mount, "artifacts", "ds", "v1", "a.txt")) == b"alpha+more"
    assert read(os.path.join(staging, "a.txt")) == b"alpha+more"
