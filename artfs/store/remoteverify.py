"""``artfs verify --remote``: is every object the remote's versions need there, whole?

Each pack that holds an object some version references is read once, whole, and
every such object in it is checked: a chunk against its digest (as every read
does), a metadata pack against its name.  What is wrong is named with the pack,
the object and the versions that need it.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from artfs.errors import CorruptData, NotFound, UsageError
from artfs.store import gc, packs
from artfs.store.chunks import decode
from artfs.store.packs import Location
from artfs.store.store import Store
from artfs.store.tree import DIR, FILE


@dataclass
class RemoteVerifyReport:
    packs: int = 0
    objects: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)


def verify_remote(store: Store) -> RemoteVerifyReport:
    remote = store.remote
    if remote is None:
        raise UsageError("this store has no remote; 'artfs verify' checks the local store")
    remote.refresh(force=True)
    report = RemoteVerifyReport()
    by_pack: dict[bytes, list[tuple[bytes, Location]]] = defaultdict(list)
    unplaced = []
    for digest in sorted(gc.referenced(store)):
        location = remote.location(digest)
        if location is None:
            unplaced.append(digest)
        else:
            by_pack[location.pack].append((digest, location))
    bad: dict[bytes, str] = {d: "is on no pack of the remote" for d in unplaced}
    present = set(remote.objects.list("packs/"))
    for pack, items in sorted(by_pack.items()):
        report.packs += 1
        if packs.pack_key(pack) not in present:
            bad.update({d: f"is in pack {pack.hex()}, which is missing" for d, _ in items})
            continue
        try:
            blob = remote.objects.get(packs.pack_key(pack))
        except NotFound:
            bad.update({d: f"is in pack {pack.hex()}, which is missing" for d, _ in items})
            continue
        report.bytes += len(blob)
        bad.update(_check_pack(pack, blob, items))
        report.objects += len(items)
    report.problems = [
        f"object {digest.hex()} {why} (needed by {', '.join(_users(store, digest)) or 'nothing'})"
        for digest, why in sorted(bad.items())
    ]
    return report


def _check_pack(pack: bytes, blob: bytes, items) -> dict[bytes, str]:
    bad = {}
    whole = None
    for digest, location in items:
        piece = blob[location.offset : location.offset + location.length]
        if len(piece) != location.length:
            bad[digest] = f"is cut short in pack {pack.hex()}"
        elif location.kind == packs.CHUNK:
            try:
                decode(piece, digest)
            except CorruptData:
                bad[digest] = f"is damaged in pack {pack.hex()}"
        else:  # metadata objects are checked by the pack's own digest
            if whole is None:
                try:
                    packs.check_pack(blob, pack)
                    whole = True
                except CorruptData:
                    whole = False
            if not whole:
                bad[digest] = f"is in pack {pack.hex()}, which is damaged"
    return bad


def _users(store: Store, digest: bytes, limit: int = 3) -> list[str]:
    """Labels of (up to ``limit``) versions that contain the object."""
    found = []
    for version in store.all_versions():
        if version.damage is None and _contains(store, version.root, digest):
            found.append(version.label)
            if len(found) == limit:
                break
    return found


def _contains(store: Store, root: bytes, digest: bytes) -> bool:
    if root == digest:
        return True
    for _, entry in store.walk(root):
        if entry.digest == digest and entry.kind in (DIR, FILE):
            return True
        if entry.kind == FILE and any(c == digest for c, _ in store.file_chunks(entry)):
            return True
    return False
