"""The local cache of a remote's chunks (artfs/store/cache.py): least recently used
first out, the limit held while reading more than it, chunks the remote lacks never
evicted, the order kept across a restart, readers at once, gc.  In process, as
tests/test_remote.py: stores on one in-memory remote stand for machines."""

import os
import random
import threading

import pytest

from artfs.errors import CorruptData, RemoteError, StoreError
from artfs.store import cache as cache_mod
from artfs.store import gc, meta, sharing
from artfs.store import remote as remote_mod
from artfs.store.chunks import digest_of
from artfs.store.remote import Remote
from artfs.store.remoteconfig import RemoteConfig
from artfs.store.store import Store
from artfs.store.verify import verify
from tests.test_remote import Team, commit, content

pytestmark = pytest.mark.fast

SIZE = 64 * 1024  # random, below the smallest chunk: one chunk file each, stored raw
STORED = 1 + SIZE  # its codec byte, then the bytes


def blobs(seed: int, count: int, size: int = SIZE) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {f"f{i}": rng.randbytes(size) for i in range(count)}


def read(store: Store, ref: str, path: str) -> bytes:
    entry = store.lookup(store.resolve(ref).root, path.encode())
    return b"".join(store.read_file(entry))


def on_disk(store: Store) -> dict[bytes, int]:
    """The chunk files here and their sizes."""
    found = {}
    for digest, path in store.chunks.list():
        if digest is not None:
            found[digest] = os.lstat(path).st_size
    return found


def with_limit(store: Store, limit: int | None) -> Store:
    assert store.remote is not None
    store.remote.config.cache_size = limit
    return store


def published(team: Team, name: str, files: dict[str, bytes], limit: int | None = None):
    """(a machine that committed ``files`` as ``name``, another that sees them with the
    cache limit ``limit``)."""
    a, b = team.machine(), team.machine()
    commit(a, name, files)
    b.refresh()
    return a, with_limit(b, limit)


def peaks_of(store: Store) -> list[int]:
    """The bytes of the chunk files after each write of one, from now on (measured inside
    the cache's write transaction, so no other cache change is half done)."""
    assert store.remote is not None
    files, peaks = store.remote.cache.files, []
    real_put = files.put

    def measured_put(digest, codec, payload, **kwargs):
        stored = real_put(digest, codec, payload, **kwargs)
        peaks.append(sum(on_disk(store).values()))
        return stored

    files.put = measured_put  # type: ignore[method-assign]
    return peaks


@pytest.fixture
def team(tmp_path) -> Team:
    return Team(tmp_path)


def test_the_least_recently_used_chunk_goes_first(team, monkeypatch):
    monkeypatch.setattr(remote_mod, "COALESCE", 0)  # one chunk per fetch: the order alone
    files = blobs(1, 6)
    _, b = published(team, "ds", files, 4 * STORED)
    for name in ("f0", "f1", "f2", "f3"):
        assert read(b, "ds", name) == files[name]
    assert read(b, "ds", "f0") == files["f0"]  # a hit: f0 is the newest now, f1 the oldest
    assert read(b, "ds", "f4") == files["f4"]
    held = set(on_disk(b))
    assert digest_of(files["f1"]) not in held
    assert {digest_of(files[n]) for n in ("f0", "f2", "f3", "f4")} == held
    assert read(b, "ds", "f5") == files["f5"]  # then f2
    assert digest_of(files["f2"]) not in set(on_disk(b))
    use = b.remote.cache.usage()
    assert (use.cached_bytes, use.cached_files, use.pinned_files) == (4 * STORED, 4, 0)


def test_the_limit_holds_while_reading_twice_its_size(team):
    data = random.Random(2).randbytes(16 << 20)  # about 15 chunks of 1 MiB
    limit = 8 << 20
    _, b = published(team, "big", {"data.bin": data}, limit)
    peaks = peaks_of(b)
    assert content(b, "big") == {"data.bin": data}
    assert content(b, "big") == {"data.bin": data}  # the second pass evicts the first
    chunks = b.file_chunks(b.lookup(b.resolve("big").root, b"data.bin"))
    assert len(peaks) == 2 * len(chunks)  # a scan past the size of an LRU cache: all fetched again
    overshoot = max(peaks) / limit - 1
    print(
        f"read {2 * len(data) >> 20} MiB through an {limit >> 20} MiB cache: the files peaked at "
        f"{max(peaks) / (1 << 20):.2f} MiB, overshoot {overshoot:+.1%}"
    )
    assert max(peaks) <= limit  # evicted before each write: no overshoot at all
    assert max(peaks) > limit * 0.8  # and the cache was used, not kept empty
    use = b.remote.cache.usage()
    assert use.cached_bytes == sum(on_disk(b).values())


def test_a_chunk_larger_than_the_whole_cache_is_read_but_not_kept(team):
    files = blobs(3, 2)
    _, b = published(team, "ds", files, STORED - 1)
    assert content(b, "ds") == files
    assert on_disk(b) == {}
    assert b.remote.cache.usage().cached_bytes == 0


def test_one_fetch_keeps_its_neighbours_in_one_transaction_as_far_as_the_limit_holds(team):
    files = blobs(4, 8)  # one pack, in this order: one ranged GET brings them all
    _, b = published(team, "ds", files, 3 * STORED)
    assert b.remote is not None
    writes, real_write = [], b.meta.write

    def counted_write():
        writes.append(1)
        return real_write()

    b.meta.write = counted_write  # type: ignore[method-assign]
    assert read(b, "ds", "f0") == files["f0"]
    b.meta.write = real_write  # type: ignore[method-assign]
    assert len(writes) == 1  # the chunk and its neighbours: one fsync, not one each
    # the wanted chunk first, then the next ones in pack order, while they fit
    assert set(on_disk(b)) == {digest_of(files[n]) for n in ("f0", "f1", "f2")}
    use = b.remote.cache.usage()
    assert (use.cached_bytes, use.cached_files) == (3 * STORED, 3)


def test_chunks_the_remote_lacks_are_never_evicted(team, monkeypatch):
    a, b = team.machine(), team.machine()
    others = blobs(4, 6)
    commit(b, "others", others)
    a.refresh()
    mine = blobs(5, 3)
    real_put = team.objects.put

    def unreachable(key, data):
        raise RemoteError("the remote could not be reached (in a test)")

    monkeypatch.setattr(team.objects, "put", unreachable)
    with pytest.raises(RemoteError):
        commit(a, "mine", mine)  # its chunks are written and indexed here, not uploaded
    pinned = {digest_of(d) for d in mine.values()}
    assert pinned <= set(on_disk(a))
    with_limit(a, 2 * STORED)
    assert content(a, "others") == others  # three times the limit goes through the cache
    assert a.remote.cache.prune(0).evicted_files == 2
    assert gc.collect(a).kept == 3  # no version names them, but they exist nowhere else
    assert pinned <= set(on_disk(a))
    with a.meta.write() as txn:  # should the cache's records ever name them (a bug)
        for digest in pinned:
            cache_mod._put(txn, a.meta.db, digest, STORED, 0)
    assert a.remote.cache.prune(0).evicted_files == 0
    assert pinned <= set(on_disk(a))
    use = a.remote.cache.usage()
    assert (use.pinned_files, use.pinned_bytes, use.cached_files) == (3, 3 * STORED, 0)
    monkeypatch.setattr(team.objects, "put", real_put)
    commit(a, "mine", mine)  # uploaded now: its chunks became cache, held to the limit
    use = a.remote.cache.usage()
    assert (use.pinned_files, use.cached_files, use.cached_bytes) == (0, 2, 2 * STORED)
    assert len(on_disk(a)) == 2
    assert a.remote.cache.prune(0).evicted_files == 2
    assert content(team.machine(), "mine") == mine
    assert content(a, "mine") == mine  # fetched back


def test_a_store_s_own_versions_are_pinned_until_pushed(team, tmp_path):
    lone = Store.open(str(tmp_path / "lone"))
    files = blobs(6, 3)
    commit(lone, "ds", files)
    lone.attach(Remote(lone, RemoteConfig("s3://team/x", cache_size=0), team.objects, team.refs))
    assert lone.remote is not None
    assert lone.remote.cache.prune(0).evicted_files == 0
    gc.collect(lone)
    assert content(lone, "ds") == files
    assert lone.remote.cache.usage().pinned_files == 3
    sharing.push_all(lone.remote)
    assert len(on_disk(lone)) == 0  # uploaded, then evicted down to the limit of 0 bytes
    assert content(team.machine(), "ds") == files


def test_the_order_survives_a_restart(team):
    files = blobs(7, 4)
    _, b = published(team, "ds", files, 3 * STORED)
    for name in ("f0", "f1", "f2", "f0"):  # the last read is a hit, noted in memory
        read(b, "ds", name)
    path = b.path
    b.close()  # writes the hits noted
    again = Store.open(path)
    again.attach(
        Remote(again, RemoteConfig("s3://team/x", cache_size=3 * STORED), team.objects, team.refs)
    )
    assert read(again, "ds", "f3") == files["f3"]
    held = set(on_disk(again))
    assert digest_of(files["f1"]) not in held
    assert digest_of(files["f0"]) in held


def test_files_the_records_lack_are_found_at_their_mtimes(team):
    files = blobs(8, 3)
    _, b = published(team, "ds", files)
    for name in ("f1", "f0", "f2"):
        read(b, "ds", name)
    with b.meta.write() as txn:  # as a crash, or an older artfs, would leave them
        txn.drop(b.meta.db["cache"], delete=False)
    assert b.remote.cache.usage().cached_files == 0
    old = digest_of(files["f0"])
    os.utime(b.chunks.path(old), ns=(1, 1))
    pruned = b.remote.cache.prune(2 * STORED)
    assert (pruned.found, pruned.lost, pruned.evicted_files) == (3, 0, 1)
    assert old not in on_disk(b)
    use = b.remote.cache.usage()
    assert (use.cached_files, use.cached_bytes) == (2, 2 * STORED)


def test_readers_at_once_share_the_limit(team):
    a, b = team.machine(), team.machine()
    sets = {f"ds{i}": blobs(10 + i, 5) for i in range(4)}
    for name, files in sets.items():
        commit(a, name, {**files, "shared": b"s" * SIZE})
    b.refresh()
    limit = 6 * STORED
    with_limit(b, limit)
    peaks = peaks_of(b)
    failures: list[BaseException] = []

    def reader(name: str) -> None:
        try:
            for _ in range(3):
                got = content(b, name)
                assert got == {**sets[name], "shared": b"s" * SIZE}
        except BaseException as e:
            failures.append(e)

    threads = [threading.Thread(target=reader, args=(name,)) for name in sets for _ in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert max(peaks) <= limit
    use = b.remote.cache.usage()
    assert use.cached_bytes == sum(on_disk(b).values()) <= limit
    assert use.cached_files == len(on_disk(b))


def test_gc_prunes_the_cache_and_its_records(team):
    a, b = team.machine(), team.machine()
    old = blobs(20, 3)
    new = {f"g{i}": data for i, data in enumerate(blobs(21, 2).values())}
    commit(a, "ds", old)
    commit(a, "ds", {**new, "f0": old["f0"]})
    b.refresh()
    assert content(b, "ds:v0") == old and content(b, "ds:v1") == {**new, "f0": old["f0"]}
    a.remove_version("ds:v0")
    b.refresh()
    report = gc.collect(b)  # a clone's versions are the remote's: nothing refused
    assert report.strays == 2  # the chunks only v0 had
    live = {digest_of(d) for d in (*new.values(), old["f0"])}
    assert set(on_disk(b)) == live
    use = b.remote.cache.usage()
    assert (use.cached_files, use.cached_bytes) == (3, 3 * STORED)
    with b.meta.read() as txn:  # no record of a file gone is left
        entries = list(meta.prefix_scan(txn, b.meta.db["cache"], meta.cache_entry_key(b"")))
    assert {bytes(k)[1:] for k, _ in entries} == live
    assert b.remote.cache.prune(0).evicted_files == 3
    with_limit(b, STORED)
    assert content(b, "ds:v1") == {**new, "f0": old["f0"]}  # fetched again, one kept
    assert b.remote.cache.usage().cached_bytes == sum(on_disk(b).values()) == STORED


def test_verify_reads_through_the_cache(team):
    files = blobs(30, 3)
    a, b = published(team, "ds", files)
    assert a.remote is not None
    a.remote.cache.prune(0)  # a's own chunks, uploaded, then evicted
    with_limit(a, STORED)
    for store in (a, b):
        report = verify(store, store.all_versions(), whole=True)
        assert report.damage == [] and report.chunks == 3
    assert a.remote.cache.usage().cached_bytes <= STORED


def test_a_limit_set_by_another_process_holds_at_the_next_fetch(team):
    files = blobs(40, 4)
    _, b = published(team, "ds", files)
    assert b.remote is not None
    pruned = b.remote.set_cache_limit(10 * STORED)  # writes STORE/remote.json
    assert pruned.evicted_files == 0
    saved = RemoteConfig.load(b.path)
    assert saved is not None and saved.cache_size == 10 * STORED
    saved.cache_size = 2 * STORED  # as 'artfs cache --limit' in another process
    os.utime(os.path.join(b.path, "remote.json"), ns=(0, 0))  # a new mtime, whatever the clock
    saved.save(b.path)
    assert content(b, "ds") == files
    assert b.remote.cache.limit() == 2 * STORED
    assert sum(on_disk(b).values()) == 2 * STORED


def test_hits_are_written_in_batches(team, monkeypatch):
    files = blobs(50, 2)
    _, b = published(team, "ds", files)
    content(b, "ds")
    assert b.remote is not None
    writes = []
    real_write = b.meta.write

    def counted():
        writes.append(1)
        return real_write()

    monkeypatch.setattr(b.meta, "write", counted)
    monkeypatch.setattr(cache_mod, "FLUSH_SECONDS", 3600.0)
    for _ in range(100):
        assert read(b, "ds", "f0") == files["f0"]
    assert writes == []  # a hit writes nothing by itself
    monkeypatch.setattr(cache_mod, "FLUSH_SECONDS", 0.0)
    read(b, "ds", "f1")
    assert len(writes) == 1  # then one transaction for all of them


def test_the_upgrade_to_format_6_counts_what_was_cached(team):
    files = blobs(60, 3)
    _, b = published(team, "ds", files)
    content(b, "ds")
    with b.meta.write() as txn:  # a store as format 5 left it: files, no records
        txn.drop(b.meta.db["cache"], delete=False)
        txn.put(b"format", b"5", db=b.meta.db["info"])
    path = b.path
    b.close()
    again = Store.open(path)
    with again.meta.read() as txn:
        assert txn.get(b"format", db=again.meta.db["info"]) == str(meta.FORMAT_VERSION).encode()
    again.attach(
        Remote(again, RemoteConfig("s3://team/x", cache_size=STORED), team.objects, team.refs)
    )
    use = again.remote.cache.usage()
    assert (use.cached_files, use.cached_bytes) == (3, 3 * STORED)
    again.remote.cache.enforce()
    assert len(on_disk(again)) == 1


def test_free_pages_past_the_end_of_the_data_file_are_not_damage(tmp_path):
    """Evicting many files at once has LMDB give back, unwritten, pages it took in the
    same transaction: the file may then end before LMDB's last page.  Not damage; a
    file cut short by one page in use still is."""
    store = Store.open(str(tmp_path / "store"))
    digests = [random.Random(i).randbytes(32) for i in range(256)]
    with store.meta.write() as txn:
        for i, digest in enumerate(digests):
            cache_mod._put(txn, store.meta.db, digest, STORED, i)
    with store.meta.write() as txn:  # hits noted, then everything evicted: one transaction
        cache_mod._note_hits(txn, store.meta.db, {d: 10**6 + i for i, d in enumerate(digests)})
        for digest in digests:
            cache_mod._drop(txn, store.meta.db, digest)
    data = str(tmp_path / "store" / "meta" / "data.mdb")
    psize, last = store.meta._psize, store.meta.env.info()["last_pgno"]
    assert os.path.getsize(data) < (last + 1) * psize  # the case at hand
    store.meta._size = -1
    store.meta._check_pages()  # passes
    in_use = store.meta._pages_in_use()
    store.close()
    Store.open(str(tmp_path / "store")).close()  # and the store opens again
    os.truncate(data, (in_use - 1) * psize)
    with pytest.raises(StoreError, match="cut short"):
        Store.open(str(tmp_path / "store"))


def test_a_damaged_cached_chunk_is_fetched_again(team):
    files = blobs(70, 2)
    _, b = published(team, "ds", files)
    assert content(b, "ds") == files
    path = b.chunks.path(digest_of(files["f0"]))
    os.chmod(path, 0o600)
    with open(path, "r+b") as f:  # bit rot in the cache
        f.seek(100)
        f.write(b"\xff" * 8)
    assert content(b, "ds") == files
    with open(path, "rb") as f:
        assert f.read()[1:] == files["f0"]  # repaired
    assert b.remote.cache.usage().cached_bytes == sum(on_disk(b).values())


def test_a_damaged_chunk_the_remote_lacks_is_refused(team, monkeypatch):
    a = team.machine()

    def unreachable(key, data):
        raise RemoteError("the remote could not be reached (in a test)")

    monkeypatch.setattr(team.objects, "put", unreachable)
    files = blobs(71, 1)
    with pytest.raises(RemoteError):
        commit(a, "ds", files)
    path = a.chunks.path(digest_of(files["f0"]))
    os.chmod(path, 0o600)
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(b"\xff" * 8)
    with pytest.raises(CorruptData, match="does not match its digest"):
        a.chunks.get(digest_of(files["f0"]))
