"""What the cache's bookkeeping costs (artfs/store/cache.py), on an in-memory remote so
that no network hides it:

- a hit: a read of a cached chunk, with its use noted, against the same read of the
  chunk file alone (ChunkFiles.get), and the batched writes of those notes included;
- a miss: a fetch with its write transaction (evictions, the file, the entry) against
  the fetch writing the file alone;
- the overshoot: the chunk files' peak while one reader reads twice the limit.

    .venv/bin/python scripts/bench_cache.py [--reads 20000]
"""

import argparse
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from artfs.store.commit import Commit, Node  # noqa: E402
from artfs.store.memory import MemoryObjects, MemoryRefs  # noqa: E402
from artfs.store.remote import Remote  # noqa: E402
from artfs.store.remoteconfig import RemoteConfig  # noqa: E402
from artfs.store.store import Store  # noqa: E402


def machine(root: str, n: int, objects, refs, limit: int | None = None) -> Store:
    store = Store.open(os.path.join(root, f"m{n}"))
    store.attach(Remote(store, RemoteConfig("s3://bench/x", cache_size=limit), objects, refs))
    store.refresh(force=True)
    return store


def publish(store: Store, name: str, files: dict[str, bytes]) -> None:
    with Commit(store) as c:
        node = Node()
        for path, data in files.items():
            node.place(path.encode(), c.bytes_entry(path.encode(), data))
        c.publish(name, node)


def digests(store: Store, name: str) -> list[bytes]:
    version = store.resolve(name)
    return [
        digest for _, entry in store.walk(version.root) for digest, _ in store.file_chunks(entry)
    ]


def hits(store: Store, chunks: list[bytes], reads: int) -> tuple[float, float, float]:
    """µs per read through the cache (noting each use) and of the chunk file alone, the
    best of five rounds taken in turn; and µs per note alone (its batched writes too)."""
    assert store.remote is not None
    cache, files = store.remote.cache, store.chunks.files  # type: ignore[union-attr]
    for digest in chunks:
        store.chunks.get(digest)  # fetched and cached
    best = [float("inf"), float("inf"), float("inf")]
    for _ in range(5):
        for i, read in enumerate((store.chunks.get, files.get, cache.touch)):
            start = time.perf_counter()
            for n in range(reads):
                read(chunks[n % len(chunks)])
            best[i] = min(best[i], (time.perf_counter() - start) / reads * 1e6)
    return best[0], best[1], best[2]


def misses(store: Store, chunks: list[bytes]) -> tuple[float, float]:
    """ms per fetch: with the cache's transaction, and writing the file alone."""
    remote = store.remote
    assert remote is not None
    files = store.chunks.files  # type: ignore[union-attr]
    rows = []
    for admit in (remote.cache.admit, lambda d, blob: files.put(d, blob[:1], blob[1:])):
        remote.cache.prune(0)
        for digest in chunks:
            files.delete(digest)
        remote.cache.admit, real = admit, remote.cache.admit  # type: ignore[method-assign]
        start = time.perf_counter()
        for digest in chunks:
            store.chunks.get(digest)
        rows.append((time.perf_counter() - start) / len(chunks) * 1e3)
        remote.cache.admit = real  # type: ignore[method-assign]
    return rows[0], rows[1]


def overshoot(root: str, objects, refs, writer: Store) -> tuple[int, int, int]:
    """(limit, peak bytes of the chunk files, chunks fetched) reading twice the limit."""
    limit = 32 << 20
    publish(writer, "big", {"big.bin": random.Random(1).randbytes(2 * limit)})
    reader = machine(root, 9, objects, refs, limit)
    assert reader.remote is not None
    files = reader.remote.cache.files
    real_put, peaks = files.put, []

    def measured(digest, codec, payload, **kwargs):
        stored = real_put(digest, codec, payload, **kwargs)
        peaks.append(sum(os.lstat(p).st_size for d, p in files.list() if d is not None))
        return stored

    files.put = measured  # type: ignore[method-assign]
    version = reader.resolve("big")
    for _ in reader.read_file(reader.lookup(version.root, b"big.bin")):
        pass
    return limit, max(peaks), len(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=20000)
    reads = parser.parse_args().reads
    with tempfile.TemporaryDirectory() as root:
        objects, refs = MemoryObjects(), MemoryRefs()
        writer = machine(root, 0, objects, refs)
        rng = random.Random(0)
        publish(writer, "small", {f"s{i}": rng.randbytes(4096) for i in range(256)})
        publish(writer, "large", {f"l{i}": rng.randbytes(1 << 20) for i in range(16)})
        reader = machine(root, 1, objects, refs)
        for name, size in (("small", "4 KiB"), ("large", "1 MiB")):
            chunks = digests(reader, name)
            cached, alone, note = hits(reader, chunks, reads if name == "small" else reads // 20)
            print(
                f"hit, {size} chunk:  {cached:8.2f} us through the cache, {alone:8.2f} us the "
                f"file alone ({cached / alone - 1:+.1%}); noting the use alone: {note:.2f} us"
            )
            fetch, plain = misses(reader, chunks)
            print(
                f"miss, {size} chunk: {fetch:8.3f} ms with the cache's transaction, "
                f"{plain:8.3f} ms writing the file alone: +{fetch - plain:.3f} ms"
            )
        limit, peak, fetched = overshoot(root, objects, refs, writer)
        print(
            f"reading {2 * limit >> 20} MiB through a {limit >> 20} MiB cache ({fetched} "
            f"fetches): the chunk files peaked at {peak / (1 << 20):.2f} MiB, "
            f"{peak / limit - 1:+.2%} of the limit"
        )


if __name__ == "__main__":
    main()
