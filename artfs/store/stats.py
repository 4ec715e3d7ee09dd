"""Space accounting: what the versions hold against what the store keeps."""

from dataclasses import asdict, dataclass

from artfs.store import meta
from artfs.store.store import Store


@dataclass
class Stats:
    artifacts: int
    versions: int
    logical_bytes: int  # sum of every version's size: what a plain copy per version costs
    unique_bytes: int  # raw bytes of the distinct chunks
    stored_bytes: int  # bytes of the chunk files on disk
    chunks: int

    @property
    def dedup_ratio(self) -> float:
        return self.logical_bytes / self.unique_bytes if self.unique_bytes else 1.0

    @property
    def compression_ratio(self) -> float:
        return self.unique_bytes / self.stored_bytes if self.stored_bytes else 1.0

    def as_dict(self) -> dict:
        return asdict(self) | {"dedup_ratio": round(self.dedup_ratio, 3),
                               "compression_ratio": round(self.compression_ratio, 3)}


def stats(store: Store) -> Stats:
    db = store.meta.db
    with store.meta.read() as txn:
        versions = [meta.loads(v) for _, v in txn.cursor(db["versions"])]
        unique = stored = chunks = 0
        for _, raw in txn.cursor(db["chunks"]):
            size, on_disk = meta.CHUNK.unpack(raw)
            unique, stored, chunks = unique + size, stored + on_disk, chunks + 1
        artifacts = txn.stat(db["artifacts"])["entries"]
    return Stats(artifacts, len(versions), sum(v["size"] for v in versions), unique, stored,
                 chunks)
