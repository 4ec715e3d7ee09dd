"""The stat cache: this machine's record of which digest each file it committed had,
so that a file unchanged since (same device, inode, size, mtime and ctime) is not read
again (docs/format.md, section 3.9).

It is not content: it names this machine's files by their absolute paths, so it is no
object and no reference, and stays outside the storage interfaces, in its own LMDB
database.  It changes in the transaction that publishes a commit (only a published
version's files may be trusted), so its functions take that LMDB transaction (a
LocalRefTxn's or LocalObjectTxn's ``lmdb``) and the store's databases
(``Store.meta.db``).  This module is the only one that reads or writes it.
"""

import os
from collections.abc import Iterable, Iterator

from artfs.store import meta
from artfs.store.chunks import digest_of

DB = "statcache"


def key_of(path: bytes) -> bytes:
    """The entry's key: BLAKE3 of the absolute path (an LMDB key is at most 511 bytes)."""
    return digest_of(path)


def entry(st: os.stat_result, digest: bytes) -> bytes:
    """What is kept of a file whose content has ``digest``."""
    return meta.STAT.pack(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, digest)


def cached_digest(txn, db, key: bytes, st: os.stat_result) -> bytes | None:
    """The digest kept for the file, if it has not changed since; None otherwise (also
    for a damaged entry: it is only a cache)."""
    raw = txn.get(key, db=db[DB])
    cached = meta.unpack_stat(raw) if raw is not None else None
    if cached is None:
        return None
    *fields, digest = cached
    if fields != [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]:
        return None
    return digest


def put_all(txn, db, entries: Iterable[tuple[bytes, bytes]]) -> None:
    for key, value in entries:
        txn.put(key, value, db=db[DB])


def entries(txn, db) -> Iterator[tuple[bytes, bytes]]:
    """Every entry, then CorruptData if LMDB counts more or fewer (meta.scan)."""
    return meta.scan(txn, db[DB], DB)


def damaged_entries(values: Iterator[bytes]) -> int:
    """How many of the entries' values are not entries (verify reports them)."""
    return sum(meta.unpack_stat(raw) is None for raw in values)
