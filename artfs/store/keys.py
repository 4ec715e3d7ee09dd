"""The local store's keys, built in one place: the modules that read and write objects
and references call these, and never spell a key out themselves.

Each key names a place of today's layout (localkeys.py maps it; docs/format.md,
"Storage interfaces", lists the table).  Digests are the raw 32 bytes the trees and
records hold; the functions render them as the keys' lowercase hex.  The remote's key
space is another (remote.py builds its own); these are the local store's.
"""

import blake3

from artfs.store.backend import DamagedKey
from artfs.store.meta import PATH_DIGEST

TREES, ATTRS, FILEMAPS, CHUNK_INDEX = "trees/", "attrs/", "filemaps/", "chunk-index/"


ARTIFACTS, VERSIONS, ALIASES, INFO = (
    "refs/artifacts/",
    "refs/versions/",
    "refs/aliases/",
    "refs/info/",
)
RUNS, RUNNING, INPUTS, INPUT_FILES, OUTPUTS, CONSUMERS = (
    "refs/runs/",
    "refs/running/",
    "refs/inputs/",
    "refs/input_files/",
    "refs/outputs/",
    "refs/consumers/",
)
COLLECTIONS = "refs/collections/"


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


# --- references ----------------------------------------------------------------------


def info_key(field: str) -> str:
    """A field of the store's own record: ``format``, ``created``."""
    return INFO + field


def artifact_key(name: str) -> str:
    return ARTIFACTS + name


def versions_prefix(name: str) -> str:
    """The prefix of every version key of an artifact (and of no other's)."""
    return f"{VERSIONS}{name}/"


def version_key(name: str, number: int) -> str:
    return f"{VERSIONS}{name}/{number}"


def name_of_version(key: str) -> str:
    """The artifact name of a version key."""
    return key[len(VERSIONS) : key.rindex("/")]


def number_of(key: str) -> int:
    """The version number that ends a version key (or an edge's ``.../NAME/N``)."""
    return int(key[key.rindex("/") + 1 :])


def aliases_prefix(name: str) -> str:
    return f"{ALIASES}{name}/"


def alias_key(name: str, alias: str) -> str:
    return f"{ALIASES}{name}/{alias}"


def collection_key(collection: str) -> str:
    """A registry collection or portfolio, ``PROJECT/NAME`` (links.py checks it)."""
    return COLLECTIONS + collection


def run_key(run_id: str) -> str:
    return RUNS + run_id


def running_key(run_id: str) -> str:
    """The index of running runs: pid and start of each."""
    return RUNNING + run_id


def edges_prefix(table: str, run_id: str) -> str:
    """A run's edges of ``table`` (INPUTS or OUTPUTS): ``TABLE/RUN/NAME/N``."""
    return f"{table}{run_id}/"


def input_key(run_id: str, name: str, number: int) -> str:
    """An input edge: the run read the version (its first and last reads)."""
    return f"{INPUTS}{run_id}/{name}/{number}"


def output_key(run_id: str, name: str, number: int) -> str:
    """An output edge: the run made (or logged again) the version."""
    return f"{OUTPUTS}{run_id}/{name}/{number}"


def edge_version(key: str) -> tuple[str, int]:
    """(artifact name, version number) of an input or output edge's key."""
    _, _, _, name, number = key.split("/")
    return name, int(number)


def input_files_prefix(run_id: str, name: str, number: int) -> str:
    return f"{INPUT_FILES}{run_id}/{name}/{number}/"


def input_file_key(run_id: str, name: str, number: int, path: str) -> str:
    """The bytes a run read of one file of a version, named by the path's digest (a
    path may be longer than a key can be)."""
    digest = blake3.blake3(path.encode()).hexdigest(PATH_DIGEST)
    return f"{INPUT_FILES}{run_id}/{name}/{number}/{digest}"


def consumers_prefix(name: str, number: int) -> str:
    """The runs that read a version: ``CONSUMERS/NAME/N/RUN``."""
    return f"{CONSUMERS}{name}/{number}/"


def consumer_key(name: str, number: int, run_id: str) -> str:
    return f"{CONSUMERS}{name}/{number}/{run_id}"


# Where each table's keys hold an artifact's name: after refs/TABLE/, or after the run.
_NAME_AT = {
    "versions": 2,
    "aliases": 2,
    "consumers": 2,
    "inputs": 3,
    "input_files": 3,
    "outputs": 3,
}
NAMED_BY_ARTIFACT = (VERSIONS, ALIASES, CONSUMERS)  # listed by the name: PREFIX + NAME + "/"
NAMED_BY_RUN = (INPUTS, INPUT_FILES, OUTPUTS)  # run first: listed whole


def renamed(key: str, old: str, new: str) -> str | None:
    """The key with artifact name ``old`` replaced by ``new``, or None if it names
    another artifact (keys of the tables in NAMED_BY_ARTIFACT and NAMED_BY_RUN)."""
    parts = key.split("/")
    at = _NAME_AT[parts[1]]
    if parts[at] != old:
        return None
    parts[at] = new
    return "/".join(parts)


def last_part(key: str) -> str:
    """What follows the last ``/`` of a key: an alias, a run id, a collection's name."""
    return key[key.rindex("/") + 1 :]
