"""Deterministic data sets for scripts/bench_store.py.

Three data sets model the workloads artfs is built for:

* A   -- one large file, alternating blocks of random bytes (incompressible,
          like model weights or archives) and CSV-like text (compressible about
          3x with zstd, like logs or tables).
* A'  -- A after a small edit: a few regions overwritten and a block inserted in
          the middle, so a content-defined chunker must resynchronise after a
          shift that is not a multiple of any chunk size.
* B   -- many small files in many directories, where per-file overhead, not
          throughput, dominates.

Everything is derived from fixed seeds, so every tool and every run sees
byte-identical input, and a data set is reused when a marker file records that
it was finished with the same parameters.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

MIB = 1 << 20
GIB = 1 << 30

# A is built from blocks larger than the ~1 MiB chunk target, so most chunks
# are purely random or purely text, as in real mixed artifacts.
BLOCK = 8 * MIB
# The edit sizes stay fixed when --scale shrinks the data: they are what a
# chunker of a given chunk size sees, so scaling them would change the test.
EDIT_REGION = 2 * MIB
EDIT_REGIONS = 5
INSERT_SIZE = 10 * MIB + 4099
B_MIN, B_MAX = 4 * 1024, 64 * 1024
# Sized so the text compresses about 3.5x with zstd (level 3), like real tabular logs.
VOCABULARY = 300

_SYLLABLES = [consonant + vowel for consonant in "bdfgklmnprstvz" for vowel in "aeiou"]
_CATEGORIES = ("books", "garden", "toys", "grocery", "apparel", "sports", "tools", "music")
_STATUSES = ("ok", "ok", "ok", "ok", "retry", "failed", "pending")


@dataclass(frozen=True)
class Spec:
    """Sizes of the data sets for one --scale; recorded in the reuse marker."""

    a_size: int
    b_files: int
    b_dirs: int
    seed: int = 2024
    version: int = 1

    @classmethod
    def for_scale(cls, scale: float) -> Spec:
        """Scale sizes linearly, keeping A big enough to hold the fixed-size edits."""
        a_size = max(int(GIB * scale), 16 * EDIT_REGION)
        return cls(
            a_size=a_size, b_files=max(int(20_000 * scale), 1), b_dirs=max(int(200 * scale), 1)
        )


@dataclass(frozen=True)
class DataSet:
    """Paths of the generated inputs and the facts the report needs about them."""

    a: Path
    a_mod: Path
    b: Path
    spec: Spec

    @property
    def b_bytes(self) -> int:
        """Total size of B, computed from the files so it is right on reuse too."""
        return sum(p.stat().st_size for p in self.b.rglob("*") if p.is_file())


def _vocabulary(seed: int) -> list[str]:
    """Pseudo-words: realistic enough for zstd, and free of any word-list file."""
    rng = random.Random(seed)
    words = {"".join(rng.choices(_SYLLABLES, k=rng.randint(2, 4))) for _ in range(VOCABULARY)}
    return sorted(words)


class TextStream:
    """Endless CSV-like order rows, read in exact sizes.

    Rows mix independent random fields (ids, users, words, quantities) with
    fields derived from a product catalogue (category, price, total), as real
    tables do; that lands zstd at about 3.5x instead of the collapse a repeated
    template would give.
    """

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._words = _vocabulary(seed)
        self._cities = self._words[:100]
        self._products = [
            (
                f"{word}-{self._rng.randint(100, 999)}",
                self._rng.choice(_CATEGORIES),
                self._rng.randint(99, 49_999) / 100,
            )
            for word in self._words
        ]
        self._row = 0
        self._ts = 1_680_000_000
        self._buf = b""

    def read(self, size: int) -> bytes:
        """Return exactly size bytes, cutting rows where the size falls."""
        parts, have = [self._buf], len(self._buf)
        while have < size:
            parts.append(self._rows(10_000))
            have += len(parts[-1])
        data = b"".join(parts)
        out, self._buf = data[:size], data[size:]
        return out

    def _rows(self, count: int) -> bytes:
        rng, words = self._rng, self._words
        lines = []
        for row in range(self._row, self._row + count):
            self._ts += rng.randint(0, 20)
            product, category, price = rng.choice(self._products)
            qty = rng.randint(1, 9)
            comment = " ".join(rng.sample(words, rng.randint(1, 5)))
            lines.append(
                f"{row},{self._ts},user_{rng.randint(1, 20000)},{rng.choice(self._cities)},"
                f"{product},{category},{price:.2f},{qty},{price * qty:.2f},"
                f"{rng.choice(_STATUSES)},{comment}\n"
            )
        self._row += count
        return "".join(lines).encode()


def write_mixed(
    path: Path, size: int, rng: random.Random, text: Callable[[int], bytes], block: int = BLOCK
) -> None:
    """Alternate blocks of random bytes and of ``text(n)``; the last is cut to ``size``."""
    with path.open("wb") as out:
        written, index = 0, 0
        while written < size:
            n = min(block, size - written)
            out.write(rng.randbytes(n) if index % 2 == 0 else text(n))
            written, index = written + n, index + 1


def _write_a(path: Path, spec: Spec) -> None:
    write_mixed(path, spec.a_size, random.Random(spec.seed), TextStream(spec.seed + 1).read)


def _edits(spec: Spec) -> list[tuple[int, int, bytes]]:
    """(offset in A, bytes of A replaced, new bytes), sorted by offset.

    One overwritten region per fifth of the file spreads the damage; the one in
    the middle fifth ends before the insertion point so the edits never overlap.
    """
    rng = random.Random(spec.seed + 2)
    size, middle = spec.a_size, spec.a_size // 2
    edits = [(middle, 0, rng.randbytes(INSERT_SIZE))]
    for fifth in range(EDIT_REGIONS):
        low = fifth * size // EDIT_REGIONS
        high = (fifth + 1) * size // EDIT_REGIONS - EDIT_REGION
        if low <= middle < high + EDIT_REGION:
            high = middle - EDIT_REGION
        edits.append((rng.randint(low, high), EDIT_REGION, rng.randbytes(EDIT_REGION)))
    return sorted(edits, key=lambda edit: edit[0])


def _copy_bytes(src, dst, count: int) -> None:
    """Stream count bytes without holding a 1 GiB file in memory."""
    while count > 0:
        data = src.read(min(count, 16 * MIB))
        dst.write(data)
        count -= len(data)


def _write_a_mod(a: Path, path: Path, spec: Spec) -> None:
    """Apply the edits to a streamed copy of A."""
    with a.open("rb") as src, path.open("wb") as out:
        for offset, replaced, new in _edits(spec):
            _copy_bytes(src, out, offset - src.tell())
            out.write(new)
            src.seek(replaced, 1)
        _copy_bytes(src, out, spec.a_size - src.tell())


def _write_b(root: Path, spec: Spec) -> None:
    """Spread files round-robin over the directories, half random, half text."""
    rng, text = random.Random(spec.seed + 3), TextStream(spec.seed + 4)
    dirs = [root / f"dir_{index:03d}" for index in range(spec.b_dirs)]
    for directory in dirs:
        directory.mkdir(parents=True)
    for index in range(spec.b_files):
        size, is_text = rng.randint(B_MIN, B_MAX), rng.random() < 0.5
        name = f"file_{index:05d}.{'csv' if is_text else 'bin'}"
        data = text.read(size) if is_text else rng.randbytes(size)
        (dirs[index % spec.b_dirs] / name).write_bytes(data)


def _ensure(path: Path, spec: Spec, write, log) -> None:
    """Build path with write(path) unless a marker says it matches spec already.

    The marker is written last, so an interrupted generation is redone rather
    than silently reused.
    """
    marker = path.with_name(path.name + ".done")
    if marker.exists() and json.loads(marker.read_text()) == asdict(spec):
        log(f"reusing {path}")
        return
    marker.unlink(missing_ok=True)
    if path.is_dir():
        shutil.rmtree(path)
    path.unlink(missing_ok=True)
    log(f"generating {path} ...")
    write(path)
    marker.write_text(json.dumps(asdict(spec)))


def prepare(workdir: Path, scale: float, log=print) -> DataSet:
    """Generate (or reuse) A, A' and B under workdir/data."""
    spec = Spec.for_scale(scale)
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    ds = DataSet(a=data / "a.bin", a_mod=data / "a_mod.bin", b=data / "b", spec=spec)
    _ensure(ds.a, spec, lambda p: _write_a(p, spec), log)
    _ensure(ds.a_mod, spec, lambda p: _write_a_mod(ds.a, p, spec), log)
    _ensure(ds.b, spec, lambda p: _write_b(p, spec), log)
    return ds
