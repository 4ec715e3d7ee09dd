"""Space accounting: what the versions hold against what the store keeps.

With a remote, the chunk index counts what this store wrote; what is here now is the
cache's (cached and pinned files, cache.py) and what the remote holds the sum of its
objects' lengths ("packed")."""

from dataclasses import asdict, dataclass

from artfs.errors import CorruptData
from artfs.store import keys, meta
from artfs.store.remote import packed_bytes
from artfs.store.store import Store


@dataclass
class Stats:
    artifacts: int
    versions: int
    logical_bytes: int  # sum of every version's size: what a plain copy per version costs
    unique_bytes: int  # raw bytes of the distinct chunks
    stored_bytes: int  # bytes of the chunk files on disk
    chunks: int
    damaged: int = 0  # records that cannot be read (version records, chunk index entries)
    local_bytes: int | None = None  # with a remote: chunk files here (cached and pinned)
    remote_bytes: int | None = None  # with a remote: its objects (chunks and metadata)

    @property
    def dedup_ratio(self) -> float:
        return self.logical_bytes / self.unique_bytes if self.unique_bytes else 1.0

    @property
    def compression_ratio(self) -> float:
        return self.unique_bytes / self.stored_bytes if self.stored_bytes else 1.0

    def as_dict(self) -> dict:
        return asdict(self) | {
            "dedup_ratio": round(self.dedup_ratio, 3),
            "compression_ratio": round(self.compression_ratio, 3),
        }


def stats(store: Store) -> Stats:
    """The sums; a record that cannot be read is counted in ``damaged``, not in the sums."""
    versions = store.all_versions()
    readable = [v for v in versions if v.damage is None]
    damaged = len(versions) - len(readable)
    with store.objects.transaction() as txn:
        unique = stored = chunks = 0
        for key, raw in txn.items(keys.CHUNK_INDEX):
            digest = keys.digest_of(key)  # a damaged key: its stored bytes
            try:
                size, on_disk = meta.unpack_chunk(raw, digest)
            except CorruptData:
                damaged += 1
                continue
            unique, stored, chunks = unique + size, stored + on_disk, chunks + 1
        remote_bytes = packed_bytes(txn.lmdb, store.meta.db) if store.remote else None
    artifacts = sum(1 for _ in store.refs.items(keys.ARTIFACTS))  # damaged keys too
    found = Stats(
        artifacts, len(versions), sum(v.size for v in readable), unique, stored, chunks, damaged
    )
    if store.remote is not None:
        use = store.remote.cache.usage()
        found.local_bytes = use.cached_bytes + use.pinned_bytes
        found.remote_bytes = remote_bytes
    return found
