"""Chunks over any ObjectStore: compressed on the way in, checked on the way out.

Backends only move bytes; this layer gives them the bytes of a chunk file exactly as
chunks.py writes one (a codec byte, then the raw or zstd payload, docs/format.md
section 4), under the key ``chunks/<hex digest>``.  So a chunk written here is the
same object on a local disk, in a pack on S3 or in memory, and its digest is checked
on every read wherever it came from.
"""

from typing import NamedTuple

from artfs.store.backend import ObjectStore
from artfs.store.chunks import decode, digest_of, encode

PREFIX = "chunks/"


class StoredChunk(NamedTuple):
    """What the chunk index needs of a chunk just written (meta.CHUNK's two sizes)."""

    digest: bytes
    size: int  # raw
    stored: int  # of the object: codec byte and payload


def chunk_key(digest: bytes) -> str:
    return PREFIX + digest.hex()


class Chunks:
    """Content-addressed, compressed chunks in an ObjectStore.  Thread-safe if it is."""

    def __init__(self, objects: ObjectStore):
        self.objects = objects

    def put_chunk(self, raw: bytes, digest: bytes | None = None) -> StoredChunk:
        """Store ``raw`` (zstd when that saves space) under its BLAKE3 digest.  A caller
        that hashed it already (the chunker does) passes ``digest`` to save a hash."""
        digest = digest_of(raw) if digest is None else digest
        codec, payload = encode(raw)
        blob = codec + payload
        self.objects.put(chunk_key(digest), blob)
        return StoredChunk(digest, len(raw), len(blob))

    def has_chunk(self, digest: bytes) -> bool:
        return self.objects.has(chunk_key(digest))

    def get_chunk(self, digest: bytes) -> bytes | memoryview:
        """The raw bytes, checked against ``digest``: CorruptData if they do not match
        (or do not decode), NotFound if the object is missing."""
        return decode(self.objects.get(chunk_key(digest)), digest)

    def delete_chunk(self, digest: bytes) -> None:
        self.objects.delete(chunk_key(digest))
