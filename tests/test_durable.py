"""durable.py: whole writes, whole replacements."""

import errno
import json
import os

import pytest

from artfs.store import durable

pytestmark = pytest.mark.fast


def test_write_all_finishes_short_writes(tmp_path, monkeypatch):
    """A write that takes only some of the bytes (a signal, a nearly full disk) is
    continued until every byte is in the file."""
    real_write, calls = os.write, []

    def short_write(fd, data):
        calls.append(len(data))
        return real_write(fd, bytes(data)[:7])

    data = os.urandom(100)
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        monkeypatch.setattr(os, "write", short_write)
        durable.write_all(fd, data)
    finally:
        monkeypatch.undo()
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == data
    assert calls == list(range(100, 0, -7))


def test_write_all_raises_what_the_disk_says(tmp_path):
    fd = os.open("/dev/full", os.O_WRONLY)
    try:
        with pytest.raises(OSError) as raised:
            durable.write_all(fd, b"x" * 10)
    finally:
        os.close(fd)
    assert raised.value.errno == errno.ENOSPC


def test_replace_json_leaves_no_temporary(tmp_path):
    target = tmp_path / "state.json"
    target.write_text("old")
    durable.replace_json(str(target), {"a": [1, 2]})
    assert json.loads(target.read_text()) == {"a": [1, 2]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
