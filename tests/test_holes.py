"""Sparse files (artfs/store/holes.py): holes read as zeros without being read, and
zeros written as holes."""

import os
import random

import pytest

from artfs.store.holes import skipping_holes, write_sparse

pytestmark = pytest.mark.fast

MiB = 1024 * 1024


def sparse_file(path, layout: list[tuple[int, bytes]], size: int) -> bytes:
    """Write each (offset, data) into a file of ``size``; returns the file's bytes."""
    content = bytearray(size)
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, data in layout:
            f.seek(offset)
            f.write(data)
            content[offset : offset + len(data)] = data
    return bytes(content)


def read_sparse(path, step: int) -> bytes:
    with open(path, "rb") as raw:
        f = skipping_holes(raw)
        parts = []
        while block := f.read(step):
            parts.append(block)
        return b"".join(parts)


@pytest.mark.parametrize("step", [1000, MiB, 64 * MiB])
def test_holes_at_the_start_middle_and_end_read_as_zeros(tmp_path, step):
    rng = random.Random(1)
    path = tmp_path / "f"
    expected = sparse_file(
        path,
        [(5 * MiB, rng.randbytes(100_000)), (9 * MiB + 17, rng.randbytes(3 * MiB))],
        40 * MiB + 3,
    )
    assert os.stat(path).st_blocks * 512 < 8 * MiB  # the file system kept the holes
    assert read_sparse(path, step) == expected


def test_a_file_without_holes_and_an_empty_file(tmp_path):
    data = random.Random(2).randbytes(3 * MiB + 1)
    (tmp_path / "dense").write_bytes(data)
    (tmp_path / "empty").write_bytes(b"")
    assert read_sparse(tmp_path / "dense", MiB) == data
    assert read_sparse(tmp_path / "empty", MiB) == b""


def test_a_file_that_shrinks_while_read_ends_where_it_now_ends(tmp_path):
    path = tmp_path / "f"
    sparse_file(path, [(0, b"x" * MiB)], 50 * MiB)
    with open(path, "rb") as raw:
        f = skipping_holes(raw)
        assert f is not raw  # the file has holes
        assert f.read(MiB) == b"x" * MiB
        os.truncate(path, 2 * MiB)
        assert len(f.read()) == MiB  # zeros up to the new end, not to 50 MiB


def test_zeros_written_become_holes(tmp_path):
    rng = random.Random(3)
    blocks = [rng.randbytes(1000), bytes(4 * MiB), rng.randbytes(10), bytes(4 * MiB)]
    path = tmp_path / "out"
    with open(path, "wb") as out:
        write_sparse(out, map(memoryview, blocks))
    assert path.read_bytes() == b"".join(blocks)
    assert os.stat(path).st_blocks * 512 < MiB
