"""The mount's view of collections of links (registry collections and portfolios):

    /registry/                          RegistryRoot
    /registry/PROJECT/                  RegistryProject (wandb-registry-model, model-registry, …)
    /registry/PROJECT/NAME/             RegistryCollection
    /registry/PROJECT/NAME/vN           LinkEntry: symlink -> ../../../artifacts/SRC/vM
    /registry/PROJECT/NAME/ALIAS        LinkEntry: symlink -> vN (latest, and the link's own)

``registry`` is listed (and found) only while some collection exists.
Nothing is copied: a link is a symlink to the linked version's directory, so
reads through it are the version's reads (and lineage records them so).
Links change when anyone links, so every entry here is re-read after the
mount's short timeout, as alias links are.
"""

import errno
from dataclasses import dataclass

from pyfuse3 import FUSEError

from artfs.errors import ArtfsError
from artfs.store import links

NAME = b"registry"


@dataclass(eq=False)
class RegistryRoot:
    pass


@dataclass(eq=False)
class RegistryProject:
    project: str


@dataclass(eq=False)
class RegistryCollection:
    key: str


@dataclass(eq=False)
class LinkEntry:
    key: str
    label: str  # vN or an alias


NODES = (RegistryRoot, RegistryProject, RegistryCollection, LinkEntry)


def shown(store) -> bool:
    """The registry directory is there once something is linked: a store that never
    linked anything shows only artifacts, meta and staging."""
    return bool(_keys(store))


def root(inodes) -> int:
    return inodes.intern(("registry",), RegistryRoot)


def _keys(store) -> list[str]:
    try:
        return links.keys(store)
    except ArtfsError:  # a damaged store still shows the rest of the mount
        return []


def _labels(store, key: str) -> dict[str, str]:
    """Name in the collection's directory -> what its symlink points at."""
    try:
        record = links.get(store, key)
    except ArtfsError:
        return {}
    out = {}
    for lk in record["links"]:
        number = lk["version"]
        out[f"v{number}"] = f"../../../artifacts/{lk['artifact']}/v{lk['number']}"
        out.update(dict.fromkeys(links.aliases_of(record, number), f"v{number}"))
    return out


def names(store, inodes, node) -> list[tuple[bytes, int]]:
    if isinstance(node, RegistryRoot):
        projects = sorted({k.split("/", 1)[0] for k in _keys(store)})
        return [(p.encode(), inodes.intern(("regproj", p), RegistryProject, p)) for p in projects]
    if isinstance(node, RegistryProject):
        return [
            (k.split("/", 1)[1].encode(), inodes.intern(("regcoll", k), RegistryCollection, k))
            for k in _keys(store)
            if k.split("/", 1)[0] == node.project
        ]
    if isinstance(node, RegistryCollection):
        return [
            (
                label.encode(),
                inodes.intern(("reglink", node.key, label), LinkEntry, node.key, label),
            )
            for label in _labels(store, node.key)
        ]
    raise FUSEError(errno.ENOTDIR)


def lookup(store, inodes, node, name: bytes) -> int:
    for found, inode in names(store, inodes, node):
        if found == name:
            return inode
    raise FUSEError(errno.ENOENT)


def subdirs(store, inodes, node) -> int:
    if isinstance(node, RegistryCollection):
        return 0  # its entries are symlinks
    return len(names(store, inodes, node))


def target(store, node: LinkEntry) -> bytes:
    found = _labels(store, node.key).get(node.label)
    if found is None:
        raise FUSEError(errno.ENOENT)
    return found.encode()
