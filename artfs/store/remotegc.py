"""Freeing space on a remote, safely while other machines commit and read.

No lock is held by commits, so gc must never delete what a commit in flight
relies on.  Kopia's rules, in two phases and with one gc at a time:

- A lease (``refs/gc/lease``: holder and expiry, taken, renewed and released by
  compare-and-swap) lets one gc run per remote; a gc whose holder died leaves a
  lease that simply expires.  Released is expired: the key stays, with ``until``
  0, since a DELETE conditional on the lease's tag is not enforced everywhere
  (Ceph RGW 16 deletes whatever the If-Match), and an unconditional one could
  remove a lease another gc took over after this one was too slow.
- A pack none of whose objects any version (of any machine: the remote's
  versions are all mirrored here) references is first *doomed*:
  ``refs/gc/packs/HEX`` = ``{"doomed": time}``.  A commit treats the objects of a
  doomed pack as absent and uploads them again, so no new version comes to rely
  on it.
- A later gc deletes a pack that has been doomed for at least the grace period
  and is still unreferenced (index first, so that no reader learns it any more,
  then the pack), and leaves ``{"deleted": time}``, so that a machine that has
  not looked for a while does not trust the pack's old index entries.  A commit
  that read the pack's index before it was doomed and publishes within the
  grace period makes it referenced again: the next gc revives it.

Packs partly referenced are kept whole (no repacking yet).
"""

import os
import socket
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field

from artfs.errors import Conflict, StoreError, UsageError
from artfs.store import gc, meta, packs
from artfs.store import remote as remote_mod
from artfs.store.backend import RefConflict, RefStore
from artfs.store.remote import MARKS
from artfs.store.store import Store

LEASE = "refs/gc/lease"
LEASE_SECONDS = 600.0
DEFAULT_GRACE = 3600.0  # longer than any commit's upload and claim take


@dataclass
class RemoteGcReport:
    doomed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    revived: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    live_packs: int = 0

    def as_dict(self) -> dict:
        return {
            "doomed": self.doomed,
            "deleted": self.deleted,
            "revived": self.revived,
            "freed_bytes": self.freed_bytes,
            "live_packs": self.live_packs,
        }


class Lease:
    """The one-gc-at-a-time lease on a remote; ``renew`` before each step that deletes."""

    def __init__(self, refs: RefStore, seconds: float = LEASE_SECONDS):
        self.refs, self.seconds = refs, seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.tag: str | None = None
        self.until = 0.0

    def __enter__(self) -> "Lease":
        got = self.refs.get(LEASE)
        if got is not None:
            held = meta.loads(got.value, "the gc lease")
            if held.get("until", 0) > time.time():
                raise Conflict(
                    f"a gc is running on {held.get('holder')} (its lease ends at "
                    f"{time.strftime('%H:%M:%S', time.localtime(held['until']))}); "
                    "try again after that"
                )
        try:
            self._write(expect=got.tag if got else None)
        except RefConflict:
            raise Conflict("another gc started just now; try again later") from None
        return self

    def renew(self) -> None:
        try:
            self._write(expect=self.tag)
        except RefConflict:
            raise StoreError(
                "the gc lease was taken over by another gc (this one was too slow); "
                "stopped, nothing more was deleted"
            ) from None

    def _write(self, expect, until: float | None = None) -> None:
        until = time.time() + self.seconds if until is None else until
        value = meta.dumps({"holder": self.holder, "until": until})
        self.tag, self.until = self.refs.put(LEASE, value, expect=expect), until

    def __exit__(self, *exc) -> None:
        # Released by marking it expired, only if it is still ours: a lease taken over
        # by another gc (this one was too slow) is that gc's to release.
        if self.tag is not None:
            with suppress(RefConflict):
                self._write(expect=self.tag, until=0.0)
            self.tag = None


def marks(refs: RefStore) -> dict[bytes, dict]:
    """Every doomed or deleted pack and its mark."""
    found = {}
    for key, _ in refs.list(MARKS):
        got = refs.get(key)
        if got is not None:
            found[bytes.fromhex(key[len(MARKS) :])] = meta.loads(got.value, key)
    return found


def collect(
    store: Store, *, grace: float = DEFAULT_GRACE, dry_run: bool = False, now=time.time
) -> RemoteGcReport:
    """One gc of the store's remote (see the module's description)."""
    remote = store.remote
    if remote is None:
        raise UsageError("this store has no remote; 'artfs gc' frees local space")
    if grace < 0:
        raise UsageError("--grace must not be negative")
    report = RemoteGcReport()
    with Lease(remote.refs) as lease:
        remote.refresh(force=True)  # every version and index on the remote, here
        live = gc.referenced(store)
        held = marks(remote.refs)
        for pack, index in list(remote.indexes()):  # every one, after the refresh
            if held.get(pack, {}).get("deleted"):
                continue
            kind, items = packs.decode_index(index, pack)
            mark = held.get(pack)
            if any(digest in live for digest, _ in items):
                report.live_packs += 1
                if mark is not None:
                    report.revived.append(pack.hex())
                    if not dry_run:
                        remote.refs.delete(MARKS + pack.hex())
            elif mark is None:
                report.doomed.append(pack.hex())
                if not dry_run:
                    remote.refs.put(MARKS + pack.hex(), meta.dumps({"doomed": now()}))
            elif now() - mark["doomed"] >= grace:
                report.deleted.append(pack.hex())
                report.freed_bytes += sum(location.length for _, location in items)
                if not dry_run:
                    lease.renew()
                    _delete(remote, pack)
    return report


def _delete(remote, pack: bytes) -> None:
    remote.objects.delete(packs.index_key(pack))  # first: no reader learns the pack again
    remote.objects.delete(packs.pack_key(pack))
    remote.refs.put(MARKS + pack.hex(), meta.dumps({"deleted": time.time()}))
    with remote.store.meta.write() as txn:
        txn.delete(remote_mod.PACK_KEY + pack, db=remote.db["remote"])
