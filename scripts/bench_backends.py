"""What the local backends cost over today's direct code, before the store moves onto them.

Not a test: it prints a table.  Issue 12 requires the migrated local store to keep
today's speed, so each row does the same work both ways, on the same bytes, in two
fresh stores under one directory (the same disk):

1. put of 64 KiB chunks (encoded once beforehand; half text, half random), then one
   sync: ``ChunkFiles.put`` + ``sync`` against ``LocalObjects.put`` + ``barrier``;
2. verified get of those chunks: ``ChunkFiles.get`` against ``Chunks.get_chunk``;
3. put of 1 KiB LMDB objects (trees), then made durable: puts in one raw LMDB write
   transaction against ``LocalObjects.put`` + ``barrier``;
4. conditional put of a 300-byte reference (a version record): a raw write
   transaction that reads and puts against ``LocalRefs.put(expect=tag)``; each is an
   LMDB commit, so an fsync;
5. get of a reference: a raw read transaction against ``LocalRefs.get``;
6. the change token: ``env.info()["last_txnid"]`` (what the mount reads today) against
   ``LocalRefs.token`` (a read transaction's id);
7. get of a reference inside one read transaction (what the store's modules do now):
   ``txn.get`` of a raw read transaction against ``LocalRefTxn.get``;
8. listing an artifact's 200 version records with their values: ``meta.prefix_scan``
   against ``LocalRefTxn.items`` (keys decoded back to strings, sorted).

Each row is timed ROUNDS times alternately and the median per operation is shown.

    python scripts/bench_backends.py [--workdir DIR] [--chunks 2000] [--rounds 5]
"""

import argparse
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import blake3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from artfs.store.chunks import encode  # noqa: E402
from artfs.store.codec import Chunks  # noqa: E402
from artfs.store.local import LocalObjects, LocalRefs  # noqa: E402
from artfs.store.meta import prefix_scan  # noqa: E402
from artfs.store.store import Store, close_all  # noqa: E402

CHUNK = 64 << 10
TREE = 1 << 10


def chunk_data(n: int) -> list[tuple[bytes, bytes, bytes]]:
    """(digest, codec, payload) of n distinct 64 KiB chunks, half compressible."""
    out = []
    for i in range(n):
        if i % 2:
            raw = os.urandom(CHUNK)
        else:
            raw = (b"%08d,column,value\n" % i) * (CHUNK // 24) + b"x" * (CHUNK % 24)
        out.append((blake3.blake3(raw).digest(), *encode(raw)))
    return out


def median_us(runs: list[float], ops: int) -> float:
    return statistics.median(runs) / ops * 1e6


class Row:
    def __init__(self, label: str, ops: int):
        self.label, self.ops, self.today, self.backend = label, ops, [], []


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def fresh(workdir: Path, name: str) -> Store:
    path = workdir / name
    shutil.rmtree(path, ignore_errors=True)
    return Store.open(str(path))


def measure(workdir: Path, n_chunks: int, rounds: int) -> list[Row]:
    chunks = chunk_data(n_chunks)
    trees = [(os.urandom(32), os.urandom(TREE)) for _ in range(n_chunks)]
    record = b'{"root":"' + b"ab" * 32 + b'","size":1,"files":1}' + b" " * 200
    rows = {
        k: Row(label, ops)
        for k, label, ops in [
            ("cput", "put 64 KiB chunk (+ one sync)", n_chunks),
            ("cget", "get 64 KiB chunk, verified", n_chunks),
            ("oput", "put 1 KiB LMDB object (+ commit)", n_chunks),
            ("rput", "conditional put of a reference", 200),
            ("rget", "get of a reference", 20_000),
            ("tok", "change token", 20_000),
            ("tget", "get of a reference in a transaction", 20_000),
            ("tlist", "list 200 versions with values", 200),
        ]
    }
    for r in range(rounds):
        close_all()
        today, ours = fresh(workdir, "today"), fresh(workdir, "backend")
        objects = LocalObjects(ours.path, ours.meta)
        refs, codec = LocalRefs(ours.path, ours.meta), Chunks(objects)
        versions = today.meta.db["versions"]
        trees_db = today.meta.db["trees"]

        def today_cput(store=today):
            for digest, codec_byte, payload in chunks:
                store.chunks.put(digest, codec_byte, payload)
            store.chunks.sync()

        def backend_cput(objects=objects):
            for digest, codec_byte, payload in chunks:
                objects.put("chunks/" + digest.hex(), codec_byte + payload)
            objects.barrier()

        def today_oput(meta=today.meta, db=trees_db):
            with meta.write() as txn:
                for key, value in trees:
                    txn.put(key, value, db=db)

        def backend_oput(objects=objects):
            for key, value in trees:
                objects.put("trees/" + key.hex(), value)
            objects.barrier()

        def today_rput(meta=today.meta, db=versions):
            for i in range(rows["rput"].ops):
                with meta.write() as txn:
                    txn.get(b"ds\0\0\0\0\0", db=db)
                    txn.put(b"ds\0\0\0\0\0", record + b"%d" % i, db=db)

        first_tag = refs.put("refs/versions/ds/0", record)

        def backend_rput(refs=refs, tag=first_tag):
            for i in range(rows["rput"].ops):
                tag = refs.put("refs/versions/ds/0", record + b"%d" % i, expect=tag)

        def today_rget(meta=today.meta, db=versions):
            for _ in range(rows["rget"].ops):
                with meta.read() as txn:
                    txn.get(b"ds\0\0\0\0\0", db=db)

        def backend_rget(refs=refs):
            for _ in range(rows["rget"].ops):
                refs.get("refs/versions/ds/0")

        def today_tok(env=today.meta.env):
            for _ in range(rows["tok"].ops):
                env.info()["last_txnid"]

        def backend_tok(refs=refs):
            for _ in range(rows["tok"].ops):
                refs.token()

        listed = 200
        with today.meta.write() as txn:
            for n in range(listed):
                txn.put(b"big\0" + n.to_bytes(4, "big"), record, db=versions)
        with refs.transaction(write=True) as t:
            for n in range(listed):
                t.put(f"refs/versions/big/{n}", record)

        def today_tget(meta=today.meta, db=versions):
            with meta.read() as txn:
                for _ in range(rows["tget"].ops):
                    txn.get(b"ds\0\0\0\0\0", db=db)

        def backend_tget(refs=refs):
            with refs.transaction() as t:
                for _ in range(rows["tget"].ops):
                    t.get("refs/versions/ds/0")

        def today_tlist(meta=today.meta, db=versions, listed=listed):
            for _ in range(rows["tlist"].ops):
                with meta.read() as txn:
                    found = list(prefix_scan(txn, db, b"big\0"))
                assert len(found) == listed

        def backend_tlist(refs=refs, listed=listed):
            for _ in range(rows["tlist"].ops):
                with refs.transaction() as t:
                    found = list(t.items("refs/versions/big/"))
                assert len(found) == listed

        def today_cget(store=today):
            for digest, _, _ in chunks:
                store.chunks.get(digest)

        def backend_cget(codec=codec):
            for digest, _, _ in chunks:
                codec.get_chunk(digest)

        pairs = {
            "cput": (today_cput, backend_cput),
            "cget": (today_cget, backend_cget),
            "oput": (today_oput, backend_oput),
            "rput": (today_rput, backend_rput),
            "rget": (today_rget, backend_rget),
            "tok": (today_tok, backend_tok),
            "tget": (today_tget, backend_tget),
            "tlist": (today_tlist, backend_tlist),
        }
        for key, (old, new) in pairs.items():  # alternate which goes first
            first, second = (old, new) if r % 2 == 0 else (new, old)
            t1, t2 = timed(first), timed(second)
            rows[key].today.append(t1 if first is old else t2)
            rows[key].backend.append(t2 if first is old else t1)
    close_all()
    return list(rows.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default="/tmp/artfs-bench-backends")
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        rows = measure(workdir, args.chunks, args.rounds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{'operation':36} {'today µs/op':>12} {'backend µs/op':>14} {'ratio':>7}")
    for row in rows:
        old, new = median_us(row.today, row.ops), median_us(row.backend, row.ops)
        print(f"{row.label:36} {old:12.1f} {new:14.1f} {new / old:7.2f}")


if __name__ == "__main__":
    main()
