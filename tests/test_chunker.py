"""Properties of content-defined chunking (artfs/store/chunker.py).

Big buffers come from ``random.Random(seed).randbytes`` (hypothesis only picks
the seed, sizes and edit), so the examples stay cheap while being MiB-sized.
"""

import io
import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from artfs.store import meta
from artfs.store.chunker import MAX_CHUNK, MIN_CHUNK, chunks_of_bytes, chunks_of_stream
from artfs.store.chunks import digest_of
from artfs.store.commit import Commit, Node

MiB = 1024 * 1024
BIG = settings(max_examples=15, deadline=None)
# After the chunks that overlap an edit, the sequences must agree again within
# this many chunks (in practice they agree at the first cut after the edit).
RESYNC = 2


class ShortReads(io.RawIOBase):
    """A stream that returns fewer bytes than asked, like a pipe or a slow disk."""

    def __init__(self, data: bytes, step: int):
        self._data, self._pos, self._step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self._step, len(self._data) - self._pos)
        buf[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


def by_bytes(data: bytes) -> list[bytes]:
    return [bytes(c) for c in chunks_of_bytes(data)]


def by_stream(stream) -> list[bytes]:
    # Each view is only valid until the next one is produced: copy at once.
    return [bytes(c) for c in chunks_of_stream(stream)]


def make_buffer(seed: int, size: int, kind: str) -> bytes:
    rnd = random.Random(seed)
    if kind == "random":
        return rnd.randbytes(size)
    if kind == "zeros":
        return bytes(size)
    if kind == "pattern":
        unit = rnd.randbytes(rnd.randint(1, 64))
        return (unit * (size // len(unit) + 1))[:size]
    # mixed: random stretches alternating with long runs of one byte
    out, total = [], 0
    while total < size:
        n = rnd.randint(1, 3 * MiB)
        out.append(rnd.randbytes(n) if rnd.random() < 0.5 else bytes([rnd.randrange(256)]) * n)
        total += n
    return b"".join(out)[:size]


def check_sizes(chunks: list[bytes]) -> None:
    assert all(chunks), "no empty chunks"
    for c in chunks[:-1]:
        assert MIN_CHUNK <= len(c) <= MAX_CHUNK, len(c)
    if chunks:
        assert 0 < len(chunks[-1]) <= MAX_CHUNK


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=4096))
def test_small_input_is_one_chunk(data):
    chunks = by_bytes(data)
    assert b"".join(chunks) == data
    assert chunks == ([data] if data else [])
    assert by_stream(io.BytesIO(data)) == chunks


@BIG
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.one_of(st.integers(0, 2 * MIN_CHUNK), st.integers(0, 14 * MiB)),
    kind=st.sampled_from(["random", "zeros", "pattern", "mixed"]),
    step=st.sampled_from([1 << 12, 100_003, 1 << 20, 5 * MiB]),
)
@example(seed=0, size=MIN_CHUNK, kind="random", step=4096)
@example(seed=0, size=MAX_CHUNK + 1, kind="zeros", step=4096)
@example(seed=1, size=3 * MAX_CHUNK, kind="zeros", step=100_003)
def test_chunks_rejoin_with_same_cuts_and_bounded_sizes(seed, size, kind, step):
    data = make_buffer(seed, size, kind)
    chunks = by_bytes(data)
    assert b"".join(chunks) == data
    check_sizes(chunks)
    # The stream chunker cuts at the same points, however the stream delivers bytes.
    assert by_stream(io.BytesIO(data)) == chunks
    assert by_stream(ShortReads(data, step)) == chunks
    # Deterministic: the same data gives the same chunks again.
    assert by_bytes(bytes(data)) == chunks


def cut_list(data: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, length, digest) of every chunk."""
    out, pos = [], 0
    for c in chunks_of_bytes(data):
        out.append((pos, len(c), digest_of(c)))
        pos += len(c)
    assert pos == len(data)
    return out


@pytest.mark.fast
@BIG
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(3 * MiB, 10 * MiB),
    where=st.floats(0, 1),
    edit=st.sampled_from(["overwrite", "insert", "delete"]),
    length=st.one_of(st.integers(1, 16), st.integers(1024, 8 * 1024)),
)
@example(seed=7, size=6 * MiB, where=0.0, edit="insert", length=3)
@example(seed=7, size=6 * MiB, where=1.0, edit="insert", length=4096)
@example(seed=8, size=6 * MiB, where=0.5, edit="overwrite", length=1)
def test_local_edit_changes_only_nearby_chunks(seed, size, where, edit, length):
    rnd = random.Random(seed)
    data = rnd.randbytes(size)
    off = min(int(where * size), size)
    patch = rnd.randbytes(length)
    if edit == "overwrite" and patch[: size - off] == data[off : off + length]:
        patch = bytes([patch[0] ^ 1]) + patch[1:]  # an overwrite with the same bytes edits nothing
    if edit == "insert":
        new, removed = data[:off] + patch + data[off:], 0
    elif edit == "overwrite":
        new, removed = data[:off] + patch + data[off + length :], min(length, size - off)
    else:
        new, removed = data[:off] + data[off + length :], min(length, size - off)
    assert new != data or removed == 0

    old_cuts, new_cuts = cut_list(data), cut_list(new)
    old_d = [d for _, _, d in old_cuts]
    new_d = [d for _, _, d in new_cuts]

    # Chunks entirely before the edit are identical (same offsets, same digests).
    # The last chunk is cut by the end of the data, not by its content: an
    # append at the very end may extend it.
    before = [c for c in old_cuts if c[0] + c[1] <= off and c[0] + c[1] < size]
    assert new_cuts[: len(before)] == before

    # The sequences re-synchronize: the longest common tail of digests starts
    # within RESYNC chunks after the first original chunk that starts past the edit.
    common = 0
    limit = min(len(old_d), len(new_d)) - len(before)
    while common < limit and old_d[-1 - common] == new_d[-1 - common]:
        common += 1
    edit_end = off + removed
    first_after = next((i for i, c in enumerate(old_cuts) if c[0] >= edit_end), len(old_cuts))
    tail_start = len(old_d) - common
    assert tail_start <= first_after + RESYNC, (
        f"{len(old_d)} chunks, edit in chunk(s) {len(before)}..{first_after - 1}, "
        f"resynchronized only at chunk {tail_start}"
    )
    # ...and the edited sequence has only a few new chunks in between.
    changed_new = len(new_d) - len(before) - common
    changed_old = len(old_d) - len(before) - common
    assert changed_new <= changed_old + RESYNC
    # The shared tail holds the same bytes, shifted by the size change.
    shift = len(new) - len(data)
    for (o1, n1, d1), (o2, n2, d2) in zip(
        old_cuts[tail_start:], new_cuts[len(new_d) - common :], strict=True
    ):
        assert (o1 + shift, n1, d1) == (o2, n2, d2)


@pytest.mark.fast
def test_zero_runs_and_holes_commit_to_the_same_chunks_stored_once(store, tmp_path):
    """Zeros take a shortcut at commit (no copy, no hash per chunk), which must not
    change a cut, a digest or the file's bytes."""
    rng = random.Random(9)
    path = tmp_path / "sparse.bin"
    data = rng.randbytes(300_000) + bytes(13 * MiB + 5) + rng.randbytes(700_000)
    with open(path, "wb") as f:
        f.write(data)
        f.seek(40 * MiB)  # a hole: never written, reads as zeros
        f.write(b"end")
    data += bytes(40 * MiB - len(data)) + b"end"
    with Commit(store) as c:
        node = Node()
        node[b"sparse.bin"] = c.file_entry(b"sparse.bin", str(path))
        version, _ = c.publish("zeros", node)
        new_chunks = dict(c.new_chunks)
    entry = store.lookup(version.root, b"sparse.bin")
    expected = [(digest_of(chunk), len(chunk)) for chunk in chunks_of_bytes(data)]
    assert store.file_chunks(entry) == expected
    assert entry.digest == meta.file_digest(expected)
    zero_chunk = digest_of(bytes(MAX_CHUNK))
    assert [d for d, _ in expected].count(zero_chunk) >= 8
    assert len(new_chunks) == len(set(expected))  # each distinct chunk stored once
    assert b"".join(map(bytes, store.read_file(entry))) == data


@pytest.mark.fast
def test_the_chunker_never_cuts_below_the_format_bound():
    """Readers take a file under meta.ONE_CHUNK_BELOW as one chunk without looking for a
    chunk list (docs/format.md, 3.3): a smaller MIN_CHUNK would store files they misread."""
    assert MIN_CHUNK >= meta.ONE_CHUNK_BELOW == 196_608
    data = random.Random(3).randbytes(meta.ONE_CHUNK_BELOW - 1)
    assert [len(c) for c in chunks_of_bytes(data)] == [len(data)]
