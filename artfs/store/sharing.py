"""Joining a remote and leaving it: what ``remote add``, ``clone`` and ``remote remove`` do.

A store with versions joins an empty remote by pushing them under their own
numbers; an empty store joins by taking the remote's.  Leaving makes the store
stand alone again.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from artfs.errors import Conflict, CorruptData, RemoteDenied, UsageError
from artfs.store import meta, rundocs
from artfs.store.names import LATEST
from artfs.store.remote import Remote, version_key
from artfs.store.remoteconfig import RemoteConfig, check_url

if TYPE_CHECKING:
    from artfs.store.store import Store


def push_all(remote: Remote, progress: Callable[[str], None] = lambda s: None) -> int:
    """Publish every local version under its own number on an empty remote; → count."""
    pushed = 0
    for name in remote.store.artifact_names():
        versions = remote.store.versions(name)
        for v in versions:
            if v.damage:
                raise CorruptData(f"{v.label} is damaged; run 'artfs verify' before pushing")
            remote.upload(v.root, v.attrs_root)
            remote.ensure_artifact(name, v.record)
            key, raw = version_key(name, v.number), meta.dumps(v.record)
            got = remote.refs.get(key)
            if got is None:
                remote.refs.put(key, raw, expect=None)
            elif got.value != raw:  # another machine pushed meanwhile
                raise Conflict(f"{v.label} on {remote.config.url} is not this store's")
            pushed += 1
            progress(v.label)
        held = {a: v.number for v in versions for a in v.aliases if a != LATEST}
        if held:
            remote.move_aliases(name, held)
    with remote.store.meta.write() as txn:  # and the lineage of every run
        for run_key in txn.cursor(remote.db["runs"]).iternext(values=False):
            rundocs.mark(txn, remote.db, bytes(run_key).decode())
    remote.push_runs()
    return pushed


def detach(remote: Remote) -> int:
    """Make the store stand alone before it leaves its remote: every cached chunk a
    version uses enters the chunk index (gc of a store without a remote frees chunk
    files the index does not name), and what the store knew of this remote (object
    locations, indexes, tags, the cache's records) goes, so that another remote
    added later is not taken to hold this one's objects; → chunks entered."""
    sizes = {
        chunk: size
        for version in remote.store.all_versions()
        if version.damage is None
        for chunk, size in remote.store.version_chunks(version)
    }
    entered = 0
    with remote.store.meta.write() as txn:
        for chunk, raw_size in sizes.items():
            if txn.get(chunk, db=remote.db["chunks"]) is not None:
                continue
            try:
                stored = remote.local_files.stored_size(chunk)
            except FileNotFoundError:
                continue  # versions_not_here named it; the user chose --force
            txn.put(chunk, meta.CHUNK.pack(raw_size, stored), db=remote.db["chunks"])
            entered += 1
        for name in ("packed", "remote", "cache"):
            txn.drop(remote.db[name], delete=False)
    return entered


def versions_not_here(remote: Remote) -> list[str]:
    """Labels of the versions some of whose chunks only the remote holds: without
    the remote, they could not be read."""
    return [
        version.label
        for version in remote.store.all_versions()
        if version.damage is None
        and any(
            not remote.local_files.has(chunk) for chunk, _ in remote.store.version_chunks(version)
        )
    ]


def holds_only_versions_of(remote: Remote, store: "Store") -> bool:
    """Whether every version on the remote is one of ``store``'s, byte for byte: an
    empty remote, or one that a push cut short left part-way."""
    with store.meta.read() as txn:
        for key, _ in remote.refs.list("refs/versions/"):
            name, _, number = key.split("/", 2)[2].partition("/")
            got = remote.refs.get(key)
            local = txn.get(meta.version_key(name, int(number)), db=remote.db["versions"])
            if got is None or local is None or meta.loads(local) != meta.loads(got.value):
                return False
    return True


def add_remote(
    store: "Store",
    config: RemoteConfig,
    progress=lambda label: None,
    warn: Callable[[str], None] | None = None,
) -> int:
    """Make ``config`` the store's remote, after checking the bucket enforces conditional
    writes: a store with versions pushes them into an empty remote; an empty store takes
    the remote's.  → versions pushed.  Nothing changes if any check fails.

    Given ``warn`` (a clone), credentials that may read but not write are accepted:
    a training node reads what others commit; its own commits will be refused."""
    from artfs.store import s3

    check_url(config.url)
    if store.remote is not None and store.remote.config.url != config.url:
        raise UsageError(
            f"the store already has the remote {store.remote.config.url}; "
            "'artfs remote remove' it first"
        )
    try:
        config.unquoted_if_match = s3.check_bucket(config.url, config.endpoint_url)
    except RemoteDenied:
        if warn is None or store.artifact_names():
            raise
        Remote.open(store, config).refs.token()  # may it read, at least? (RemoteDenied)
        warn(f"{config.url} lets these credentials read but not write: commits will fail")
    remote = Remote.open(store, config)
    if store.remote is not None:  # the same remote again: new settings only
        config.save(store.path)
        store.attach(remote)
        return 0
    has_versions = bool(store.artifact_names())
    if has_versions and not holds_only_versions_of(remote, store):
        raise Conflict(
            f"both this store and {config.url} hold versions; clone the remote into a new "
            "store ('artfs clone'), or push this one to an empty prefix"
        )
    store.attach(remote)
    pushed = push_all(remote, progress) if has_versions else 0
    config.save(store.path)  # only now: a push cut short is resumed by adding again
    remote.refresh(force=True)
    return pushed
