"""The local store's keys, built in one place: the modules that read and write objects
and references call these, and never spell a key out themselves.

Each key names a place of today's layout (localkeys.py maps it; docs/format.md,
"Storage interfaces", lists the table).  Digests are the raw 32 bytes the trees and
records hold; the functions render them as the keys' lowercase hex.  The remote's key
space is another (remote.py builds its own); these are the local store's.
"""

from artfs.store.backend import DamagedKey

TREES, ATTRS, FILEMAPS, CHUNK_INDEX = "trees/", "attrs/", "filemaps/", "chunk-index/"


ARTIFACTS = "refs/artifacts/"


def tree_key(digest: bytes) -> str:
    return TREES + digest.hex()


def attrs_key(digest: bytes) -> str:
    return ATTRS + digest.hex()


def filemap_key(digest: bytes) -> str:
    """A file's chunk list (files of more than one chunk have one)."""
    return FILEMAPS + digest.hex()


def chunk_index_key(digest: bytes) -> str:
    """A chunk's index entry: raw size and stored size of a whole, durable chunk file."""
    return CHUNK_INDEX + digest.hex()


def digest_of(key: str) -> bytes:
    """The digest an object key names (its part after the table).  A damaged key of a
    listing (backend.DamagedKey) gives its stored bytes, which are no digest: a
    caller comparing them with live digests finds none, as it did before the seam."""
    if isinstance(key, DamagedKey):
        return key.raw
    return bytes.fromhex(key[key.index("/") + 1 :])
