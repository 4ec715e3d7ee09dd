"""A store behind a remote, in process: two local stores on one in-memory remote stand
for two machines (tests/test_remote_s3.py does the same over S3, with processes)."""

import os
import random
import threading
import time

import pytest

from artfs.errors import AliasesHeld, Conflict, CorruptData, NotFound
from artfs.store import meta, packs, sharing
from artfs.store.commit import Commit, Node
from artfs.store.memory import MemoryObjects, MemoryRefs
from artfs.store.remote import Remote, version_key
from artfs.store.remoteconfig import RemoteConfig
from artfs.store.store import Store
from tests.conftest import write

pytestmark = pytest.mark.fast


class Team:
    """One remote and any number of machines on it."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.objects, self.refs = MemoryObjects(), MemoryRefs()
        self.machines = 0

    def machine(self) -> Store:
        self.machines += 1
        store = Store.open(str(self.tmp_path / f"machine{self.machines}"))
        store.attach(Remote(store, RemoteConfig("s3://team/x"), self.objects, self.refs))
        store.refresh(force=True)
        return store


def commit(store: Store, name: str, files: dict[str, bytes], **kwargs):
    with Commit(store) as c:
        node = Node()
        for path, data in files.items():
            node.place(path.encode(), c.bytes_entry(path.rsplit("/", 1)[-1].encode(), data))
        return c.publish(name, node, **kwargs)


def content(store: Store, ref: str) -> dict[str, bytes]:
    version = store.resolve(ref)
    return {
        path.decode(): b"".join(store.read_file(entry))
        for path, entry in store.walk(version.root)
        if entry.kind == 1
    }


@pytest.fixture
def team(tmp_path) -> Team:
    return Team(tmp_path)


def test_a_version_committed_on_one_machine_is_read_on_another(team):
    a, b = team.machine(), team.machine()
    files = {"data/x.bin": bytes(range(256)) * 4000, "y.txt": b"hello"}
    version, created = commit(a, "ds", files, aliases=["best"])
    assert created and version.number == 0
    assert b.refresh()
    assert content(b, "ds:best") == files
    assert b.resolve("ds:best").digest == version.digest


def test_machines_number_versions_together_and_none_is_lost(team):
    machines = [team.machine() for _ in range(3)]
    made: dict[int, bytes] = {}
    lock = threading.Lock()

    def work(i: int, store: Store) -> None:
        for j in range(4):
            data = f"machine {i} version {j}".encode()
            version, created = commit(store, "ds", {"f": data})
            assert created
            with lock:
                assert version.number not in made
                made[version.number] = data

    threads = [threading.Thread(target=work, args=(i, s)) for i, s in enumerate(machines)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(made) == list(range(12))
    reader = team.machine()
    for number, data in made.items():
        assert content(reader, f"ds:v{number}") == {"f": data}


def test_unchanged_content_makes_no_new_version_against_the_remote(team):
    a, b = team.machine(), team.machine()
    first, _ = commit(a, "ds", {"f": b"same"})
    again, created = commit(b, "ds", {"f": b"same"})
    assert not created and again.number == first.number == 0
    assert [v.number for v in b.versions("ds")] == [0]


def test_small_files_go_up_in_a_few_packs(team):
    a = team.machine()
    files = {f"d{i % 10}/f{i}.txt": f"file {i}\n".encode() * 3 for i in range(2000)}
    commit(a, "many", files)
    keys = list(team.objects.list(""))
    pack_keys = [k for k in keys if k.startswith("packs/")]
    assert len(pack_keys) == 2  # one of chunks, one of trees and attributes
    assert len(keys) == 2 * len(pack_keys)  # and an index for each
    assert content(team.machine(), "many") == files


def test_a_second_commit_uploads_only_what_is_new(team):
    a = team.machine()
    base = {f"f{i}": bytes([i]) * 5000 for i in range(50)}
    commit(a, "ds", base)
    before = set(team.objects.list("packs/"))
    commit(a, "ds", {**base, "new": b"only this is new"})
    added = set(team.objects.list("packs/")) - before
    data_packs = [
        k
        for k in added
        if packs.decode_index(team.objects.get("index/" + k[6:]), bytes.fromhex(k[6:]))[0]
        == packs.DATA_PACK
    ]
    assert len(data_packs) == 1
    kind, items = packs.decode_index(
        team.objects.get("index/" + data_packs[0][6:]), bytes.fromhex(data_packs[0][6:])
    )
    assert len(items) == 1  # the one new chunk


def test_aliases_and_edits_move_on_the_remote(team):
    a, b = team.machine(), team.machine()
    commit(a, "ds", {"f": b"1"})
    commit(a, "ds", {"f": b"2"})
    b.refresh()
    b.set_alias("ds:v0", "prod")
    b.edit_version("ds:v1", description="second", metadata={"acc": 0.9})
    a.refresh()
    assert a.resolve("ds:prod").number == 0
    edited = a.resolve("ds:v1")
    assert edited.record["description"] == "second"
    assert edited.record["metadata"] == {"acc": 0.9}
    assert edited.record["edits"][-1]["fields"] == ["description", "metadata"]
    a.set_alias("ds:v1", "prod")  # moved by the other machine
    a.remove_alias("ds", "prod")
    b.refresh()
    assert "prod" not in b.resolve("ds:v1").aliases


def test_a_removed_number_is_never_claimed_again(team):
    a, b = team.machine(), team.machine()
    commit(a, "ds", {"f": b"1"}, aliases=["keep"])
    commit(a, "ds", {"f": b"2"})
    with pytest.raises(AliasesHeld):
        a.remove_version("ds:v0")
    a.remove_version("ds:v1")
    assert b.refresh()
    assert [v.number for v in b.versions("ds")] == [0]
    version, created = commit(b, "ds", {"f": b"3"})
    assert created and version.number == 2
    a.refresh()
    assert [v.number for v in a.versions("ds")] == [0, 2]


def test_an_artifact_keeps_its_type_across_machines(team):
    a, b = team.machine(), team.machine()
    commit(a, "ds", {"f": b"1"}, type="dataset")
    with pytest.raises(Conflict, match="has type 'dataset'"):
        commit(b, "ds", {"f": b"2"}, type="model")
    assert team.refs.get(version_key("ds", 1)) is None


def test_a_chunk_damaged_on_the_remote_is_refetched_then_refused(team, monkeypatch):
    a, b = team.machine(), team.machine()
    commit(a, "ds", {"f": b"precious bytes" * 1000})
    b.refresh()
    real_get = team.objects.get
    calls = []

    def damaged(key, start=0, length=None):
        blob = real_get(key, start, length)
        if key.startswith("packs/") and length is not None:
            calls.append(key)
            return blob[:-1] + bytes([blob[-1] ^ 1])
        return blob

    monkeypatch.setattr(team.objects, "get", damaged)
    with pytest.raises(CorruptData, match="damaged on the remote"):
        content(b, "ds")
    assert len(calls) == 2  # fetched once more before giving up
    monkeypatch.setattr(team.objects, "get", real_get)
    assert content(b, "ds") == {"f": b"precious bytes" * 1000}


def test_a_chunk_is_fetched_once_however_many_read_it(team, monkeypatch):
    a, b = team.machine(), team.machine()
    commit(a, "ds", {"f": b"shared" * 10000})
    b.refresh()
    real_get = team.objects.get
    fetched = []
    gate = threading.Event()

    def slow(key, start=0, length=None):
        if key.startswith("packs/") and length is not None:
            fetched.append(key)
            gate.wait(5)
        return real_get(key, start, length)

    monkeypatch.setattr(team.objects, "get", slow)
    results = []
    readers = [threading.Thread(target=lambda: results.append(content(b, "ds"))) for _ in range(4)]
    for t in readers:
        t.start()
    threading.Timer(0.3, gate.set).start()
    for t in readers:
        t.join()
    assert len(fetched) == 1
    assert results == [{"f": b"shared" * 10000}] * 4


def test_pushing_a_store_that_had_no_remote(team, tmp_path):
    lone = Store.open(str(tmp_path / "lone"))
    write(tmp_path / "src" / "a.txt", "alpha")
    commit(lone, "ds", {"a": b"alpha"}, aliases=["best"])
    commit(lone, "ds", {"a": b"beta"})
    remote = Remote(lone, RemoteConfig("s3://team/x"), team.objects, team.refs)
    assert sharing.holds_only_versions_of(remote, lone)
    lone.attach(remote)
    assert sharing.push_all(remote) == 2
    other = team.machine()
    assert [v.number for v in other.versions("ds")] == [0, 1]
    assert content(other, "ds:best") == {"a": b"alpha"}
    version, _ = commit(other, "ds", {"a": b"gamma"})
    assert version.number == 2


def test_the_lineage_graph_is_the_teams(team):
    from artfs.store import runs

    a, b = team.machine(), team.machine()
    commit(a, "raw", {"f": b"input data"})
    b.refresh()
    run = runs.start_run(b, job_type="train", name="train-1")
    source = b.resolve("raw")
    runs.record_input(b, run["id"], source, {"f": 10})
    made, _ = commit(b, "model", {"w": b"weights"}, type="model", run_id=run["id"])
    runs.finish_run(b, run["id"])
    a.refresh()
    assert runs.get_run(a, run["id"])["status"] == "finished"
    [(name, number, edge)] = runs.run_inputs(a, run["id"])
    assert (name, number, edge["files"]) == ("raw", 0, {"f": 10})
    assert runs.consumers(a, a.resolve("raw")) == [run["id"]]
    assert runs.has_output(a, run["id"], "model", made.number)
    assert runs.running_runs(a) == {}  # another machine's process ids mean nothing here


def test_lineage_a_failed_push_sends_later(team, monkeypatch):
    from artfs.errors import RemoteError
    from artfs.store import runs

    a, b = team.machine(), team.machine()
    real_put = team.refs.put

    def down(*args, **kwargs):
        raise RemoteError("the remote is unreachable")

    monkeypatch.setattr(team.refs, "put", down)
    run = runs.start_run(a, job_type="prep")
    assert a.remote_problem == "the remote is unreachable"
    monkeypatch.setattr(team.refs, "put", real_put)
    b.refresh()
    with pytest.raises(NotFound):
        runs.get_run(b, run["id"])
    a.push_lineage()  # what 'artfs sync' or the run's next change does
    b.refresh()
    assert runs.get_run(b, run["id"])["job_type"] == "prep"


def listings(team, monkeypatch) -> list[str]:
    """From now on, the prefix of every listing of the remote's references and objects."""
    seen: list[str] = []
    for backend in (team.refs, team.objects):
        real = backend.list

        def listed(prefix: str = "", real=real):
            seen.append(prefix)
            return real(prefix)

        monkeypatch.setattr(backend, "list", listed)
    return seen


def test_a_refresh_lists_only_the_areas_that_changed(team, monkeypatch):
    from artfs.store import runs

    a, b = team.machine(), team.machine()
    commit(a, "ds", {"f": b"one"})
    commit(a, "other", {"f": b"two"})
    b.refresh()
    seen = listings(team, monkeypatch)
    assert not b.refresh() and seen == []  # nothing changed: no listing at all
    team.refs._changes += 1  # the journal moved, no area did (a race with a writer)
    assert not b.refresh() and seen == []
    run = runs.start_run(a, job_type="prep")
    seen.clear()
    assert b.refresh()
    assert seen == [f"refs/runs/{run['id'][:2]}"]  # one run: its area alone, no pack
    assert runs.get_run(b, run["id"])["job_type"] == "prep"
    commit(a, "ds", {"f": b"three"})
    seen.clear()
    assert b.refresh()
    # the version's area (no alias moved, the artifact's record stayed), the indexes
    # and, for the new packs, gc's marks
    assert sorted(seen) == ["index/", "refs/gc/packs/", "refs/versions/ds"]
    assert content(b, "ds") == {"f": b"three"}


def test_a_commit_claims_the_number_after_the_newest_it_knows_without_listing(team, monkeypatch):
    def number(store, data: bytes) -> int:
        return commit(store, "ds", {"f": data})[0].number

    a, b = team.machine(), team.machine()
    number(a, b"one")
    number(a, b"two")
    seen = listings(team, monkeypatch)
    assert number(a, b"three") == 2
    assert number(a, b"three") == 2  # unchanged: no new version
    assert not any(p.startswith("refs/versions/") for p in seen)
    b.refresh()
    number(a, b"four")  # b does not know of v3
    assert number(b, b"five") == 4  # v3 was taken: listed, then v4
    assert number(b, b"four") == 5  # v3 has it, but v4 is newer
    assert "refs/versions/ds/" in seen
    b.refresh()
    assert [v.number for v in b.versions("ds")] == [0, 1, 2, 3, 4, 5]


def test_a_remote_that_lacks_the_newest_number_a_store_knows_gets_no_gap(team):
    a = team.machine()
    commit(a, "ds", {"f": b"one"})
    commit(a, "ds", {"f": b"two"})
    for key, _ in list(team.refs.list("refs/versions/")):
        team.refs.delete(key)  # emptied behind the store's back
    assert commit(a, "ds", {"f": b"three"})[0].number == 0


def test_new_bytes_count_what_the_remote_lacked(team):
    rng = random.Random(7)
    x, y = rng.randbytes(50_000), rng.randbytes(30_000)  # random: stored raw, plus a byte
    a, b = team.machine(), team.machine()
    first, _ = commit(a, "ds", {"x": x})
    assert first.record["new_bytes"] == len(x) + 1
    b.refresh()
    second, _ = commit(b, "ds", {"x": x, "y": y})  # x is not cached on b, but on the remote
    assert second.record["new_bytes"] == len(y) + 1
    assert a.refresh() and a.resolve("ds:v1").record["new_bytes"] == len(y) + 1


def test_an_area_with_a_version_not_taken_yet_is_listed_again(team, monkeypatch):
    a, b = team.machine(), team.machine()
    commit(a, "ds", {"f": b"one"})
    b.refresh()
    record = meta.loads(team.refs.get(version_key("ds", 0)).value)
    record["root"] = "ab" * 32  # a tree no pack holds (yet)
    team.refs.put(version_key("ds", 1), meta.dumps(record), expect=None)
    seen = listings(team, monkeypatch)
    assert b.refresh()
    assert [v.number for v in b.versions("ds")] == [0]
    seen.clear()
    assert b.refresh()  # no new token, but the version is looked at again
    assert "refs/versions/ds" in seen


# --- gc on the remote -------------------------------------------------------------------


def pack_keys(team) -> set[str]:
    return set(team.objects.list("packs/"))


def test_gc_dooms_then_deletes_what_no_version_references(team):
    from artfs.store import remotegc

    a, b = team.machine(), team.machine()
    commit(a, "ds", {"f": b"kept " * 1000})
    commit(a, "ds", {"f": b"removed " * 1000})
    before = pack_keys(team)
    a.remove_version("ds:v1")
    first = remotegc.collect(a, grace=3600)
    assert len(first.doomed) == 2 and first.deleted == []  # its data and its trees
    assert pack_keys(team) == before
    second = remotegc.collect(a, grace=0)
    assert sorted(second.deleted) == sorted(first.doomed)
    gone = {packs.pack_key(bytes.fromhex(h)) for h in second.deleted}
    assert pack_keys(team) == before - gone
    assert content(team.machine(), "ds:v0") == {"f": b"kept " * 1000}
    b.refresh()
    assert content(b, "ds:v0") == {"f": b"kept " * 1000}


def test_a_commit_never_relies_on_a_doomed_pack(team):
    from artfs.store import remotegc

    a, b = team.machine(), team.machine()
    commit(a, "ds", {"f": b"comes back " * 1000})
    commit(a, "ds", {"f": b"other"})
    a.remove_version("ds:v0")
    assert remotegc.collect(a, grace=3600).doomed
    b.refresh()  # b knows the doomed pack's index, but not its chunk
    version, created = commit(b, "again", {"f": b"comes back " * 1000})
    assert created
    remotegc.collect(a, grace=0)  # deletes the doomed packs
    assert content(team.machine(), "again") == {"f": b"comes back " * 1000}


def test_a_version_made_from_a_doomed_pack_within_the_grace_revives_it(team, monkeypatch):
    from artfs.store import remote as remote_mod
    from artfs.store import remotegc

    a, b = team.machine(), team.machine()
    commit(a, "ds", {"f": b"revived " * 1000})
    commit(a, "ds", {"f": b"other"})
    a.remove_version("ds:v0")
    doomed = remotegc.collect(a, grace=3600).doomed
    # b read the indexes before the doom and commits within the grace period
    monkeypatch.setattr(remote_mod, "condemned", lambda refs: set())
    commit(b, "copy", {"f": b"revived " * 1000})
    monkeypatch.undo()
    report = remotegc.collect(a, grace=0)
    assert report.deleted == [] and sorted(report.revived) == sorted(doomed)
    assert content(team.machine(), "copy") == {"f": b"revived " * 1000}


def test_what_a_killed_commit_uploaded_is_collected(team):
    from artfs.store import remotegc

    a = team.machine()
    commit(a, "ds", {"f": b"live"})
    with Commit(a) as c:
        node = Node()
        node.place(b"f", c.bytes_entry(b"f", b"never published " * 500))
        root, attrs_root, _, _ = c.build(node)
        c._drain()
        with a.objects.transaction(write=True) as txn:
            c._write_objects(txn)
    before = pack_keys(team)
    assert a.remote.upload(root, attrs_root) > 0  # then the process died: no claim
    assert len(pack_keys(team) - before) == 2  # its data and its trees
    assert len(remotegc.collect(a, grace=0).doomed) == 2
    assert len(remotegc.collect(a, grace=0).deleted) == 2
    assert content(team.machine(), "ds") == {"f": b"live"}


def test_one_gc_at_a_time_and_a_dead_holders_lease_expires(team, monkeypatch):
    from artfs.store import remotegc

    a = team.machine()
    commit(a, "ds", {"f": b"x"})
    with remotegc.Lease(team.refs), pytest.raises(Conflict, match="a gc is running on"):
        remotegc.collect(a)
    held = remotegc.Lease(team.refs, seconds=-1)  # taken, then its holder died
    held.__enter__()
    assert remotegc.collect(a).live_packs == 2


def test_the_gc_lease_is_released_by_compare_and_swap_never_deleted(team, monkeypatch):
    """Released means expired (until 0), written only over the holder's own lease: a
    server may ignore If-Match on DELETE (Ceph RGW 16), so the lease is never deleted."""
    from artfs.errors import StoreError
    from artfs.store import remotegc

    a = team.machine()
    commit(a, "ds", {"f": b"x"})
    monkeypatch.setattr(team.refs, "delete", None)  # any delete at all fails the test
    remotegc.collect(a)
    released = meta.loads(team.refs.get(remotegc.LEASE).value)
    assert released["until"] == 0
    remotegc.collect(a)  # at once: nothing holds it
    slow = remotegc.Lease(team.refs, seconds=-1).__enter__()  # expired at once...
    with remotegc.Lease(team.refs) as fast:  # ...so another gc takes it over
        with pytest.raises(StoreError, match="taken over"):
            slow.renew()
        slow.__exit__(None, None, None)  # the slow one's release leaves the lease alone
        held = meta.loads(team.refs.get(remotegc.LEASE).value)
        assert held["holder"] == fast.holder and held["until"] > time.time()
    assert meta.loads(team.refs.get(remotegc.LEASE).value)["until"] == 0


def test_remote_json_keeps_the_form_of_if_match(tmp_path, monkeypatch):
    """What 'remote add' found; False in a remote.json from before it was kept (its check
    proved the quoted form); None, to be found out, for $ARTFS_REMOTE alone."""
    RemoteConfig("s3://b/p", unquoted_if_match=True).save(str(tmp_path))
    assert RemoteConfig.load(str(tmp_path)).unquoted_if_match is True
    (tmp_path / "remote.json").write_text('{"url": "s3://b/p", "cache_size": null}')
    assert RemoteConfig.load(str(tmp_path)).unquoted_if_match is False
    monkeypatch.setenv("ARTFS_REMOTE", "s3://b/q")
    assert RemoteConfig.load(str(tmp_path / "none")) == RemoteConfig("s3://b/q")
    assert RemoteConfig("s3://b/q").unquoted_if_match is None


def test_verify_remote_names_a_missing_and_a_damaged_pack(team, monkeypatch):
    from artfs.store.remoteverify import verify_remote

    a = team.machine()
    commit(a, "ds", {"f": b"fine " * 1000})
    assert verify_remote(a).problems == []
    commit(a, "other", {"g": b"will be damaged " * 1000})
    data_pack = a.remote.location(a.file_chunks(a.lookup(a.resolve("other").root, b"g"))[0][0])
    key = packs.pack_key(data_pack.pack)
    blob = bytearray(team.objects.get(key))
    blob[data_pack.offset + 5] ^= 0xFF
    monkeypatch.setitem(team.objects._objects, key, bytes(blob))
    [problem] = verify_remote(a).problems
    assert "is damaged in pack" in problem and "other:v0" in problem
    team.objects.delete(key)
    [problem] = verify_remote(a).problems
    assert "which is missing" in problem and "other:v0" in problem


# --- offline --------------------------------------------------------------------------


def test_an_offline_commit_waits_for_sync_and_survives_gc(team, monkeypatch):
    from artfs.store import gc, pending
    from artfs.store.commit import publish_pending
    from artfs.store.store import PENDING

    a, b = team.machine(), team.machine()
    commit(a, "ds", {"f": b"online"})
    monkeypatch.setenv("ARTFS_OFFLINE", "1")
    kept, created = commit(a, "ds", {"f": b"made offline " * 500}, aliases=["new"])
    assert created and kept.number == PENDING and kept.label == "ds:pending"
    assert team.refs.get(version_key("ds", 1)) is None  # the remote was left alone
    gc.collect(a)  # its objects are pinned while it waits
    monkeypatch.delenv("ARTFS_OFFLINE")
    commit(b, "ds", {"f": b"meanwhile on b"})  # b is online: it takes v1
    assert publish_pending(a) == 1
    assert list(pending.waiting(a)) == []
    b.refresh()
    assert content(b, "ds:new") == {"f": b"made offline " * 500}
    assert b.resolve("ds:new").number == 2


def test_a_staging_is_not_committed_offline(team, monkeypatch):
    from artfs.errors import UsageError
    from artfs.store.staging import Staging

    a = team.machine()
    commit(a, "ds", {"f": b"1"})
    staging = Staging(a, "ds")
    staging.create(base=a.resolve("ds"))
    monkeypatch.setenv("ARTFS_OFFLINE", "1")
    with pytest.raises(UsageError, match="offline"):
        staging.commit()


def test_an_offline_wandb_run_keeps_its_artifact_for_sync(team, tmp_path):
    import artfs as wandb
    from artfs.errors import ArtifactNotLoggedError
    from artfs.store.commit import publish_pending

    a = team.machine()
    write(tmp_path / "data.csv", "a,b\n1,2\n")
    with wandb.init(project="p", mode="offline", store=a.path) as run:
        art = wandb.Artifact("table", type="dataset")
        art.add_file(str(tmp_path / "data.csv"))
        run.log_artifact(art)
        assert a.is_offline()
    assert not a.is_offline()  # the offline run has finished
    assert team.refs.get(version_key("table", 0)) is None
    with pytest.raises(ArtifactNotLoggedError, match="artfs sync"):
        _ = art.version
    assert publish_pending(a) == 1
    assert content(team.machine(), "table") == {"data.csv": b"a,b\n1,2\n"}


def test_the_chunks_after_a_missing_one_come_in_the_same_request(team, monkeypatch):
    a, b = team.machine(), team.machine()
    files = {f"d/f{i:03d}": bytes([i]) * 3000 + os.urandom(100) for i in range(40)}
    commit(a, "ds", files)
    b.refresh()
    real_get = team.objects.get
    ranged = []

    def counted(key, start=0, length=None):
        if key.startswith("packs/") and length is not None:
            ranged.append(length)
        return real_get(key, start, length)

    monkeypatch.setattr(team.objects, "get", counted)
    assert content(b, "ds") == files
    assert len(ranged) == 1  # 40 small files, one GET: each chunk still checked
    del ranged[:]
    assert content(b, "ds") == files  # all cached now
    assert ranged == []


def test_a_clone_may_have_credentials_that_only_read(team, tmp_path, monkeypatch):
    from artfs.errors import RemoteDenied
    from artfs.store import s3

    a = team.machine()
    commit(a, "ds", {"f": b"for training nodes"})

    def denied(url, endpoint_url=None):
        raise RemoteDenied("s3://team/x refused the credentials to write probe/1")

    monkeypatch.setattr(s3, "check_bucket", denied)
    monkeypatch.setattr(
        Remote,
        "open",
        classmethod(lambda cls, store, config: cls(store, config, team.objects, team.refs)),
    )
    warnings: list[str] = []
    reader = Store.open(str(tmp_path / "reader"))
    sharing.add_remote(reader, RemoteConfig("s3://team/x"), warn=warnings.append)
    assert warnings == ["s3://team/x lets these credentials read but not write: commits will fail"]
    assert content(reader, "ds") == {"f": b"for training nodes"}
    writer = Store.open(str(tmp_path / "writer"))
    with pytest.raises(RemoteDenied):  # remote add (no warn): a store that will commit
        sharing.add_remote(writer, RemoteConfig("s3://team/x"))


def test_local_gc_keeps_what_a_remote_pack_holds_before_its_version_arrives(team):
    """A refresh can learn a metadata pack before the version record that needs it (the
    record is claimed after the upload, and references are listed before indexes): a
    local gc in between must keep its trees, which no later refresh brings again."""
    from artfs.store import gc

    a, b = team.machine(), team.machine()
    files = {"f": b"uploaded, then claimed " * 500}
    with Commit(a) as c:
        node = Node()
        node.place(b"f", c.bytes_entry(b"f", files["f"]))
        root, attrs_root, _, _ = c.build(node)
        c._drain()
        with a.objects.transaction(write=True) as txn:
            c._write_objects(txn)
    a.remote.upload(root, attrs_root)  # the claim comes later
    b.refresh(force=True)
    with b.meta.read() as txn:
        assert txn.get(root, db=b.meta.db["trees"]) is not None  # learned, no version yet
    gc.collect(b)
    commit(a, "ds", files)  # the same content: nothing to upload, the number claimed
    b.refresh(force=True)
    assert content(b, "ds") == files
    assert gc.referenced(b)
