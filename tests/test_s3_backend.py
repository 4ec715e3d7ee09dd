"""The S3 backend against moto's S3 server on loopback (the ``s3_server`` fixture of
conftest.py), and against fake servers that misbehave on purpose (ignore conditions,
throttle, refuse connections)."""

import email.utils
import hashlib
import http.server
import os
import re
import subprocess
import sys
import threading
from collections import Counter

import obstore
import pytest

from artfs.errors import NotFound, UsageError
from artfs.store import s3
from artfs.store.backend import RefConflict
from artfs.store.s3config import S3Location, parse_url, resolve
from tests.s3server import ExternalS3

CLOSED_PORT = 18699  # nothing listens there


@pytest.fixture
def location(s3_server, monkeypatch) -> S3Location:
    """A fresh bucket, with the dummy keys and endpoint in the environment as a user
    of AWS tools would set them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.url)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return resolve(f"s3://{s3_server.bucket()}/team/store")


@pytest.fixture
def objects(location) -> s3.S3Objects:
    return s3.S3Objects(s3.connect(location, retry_seconds=5))


@pytest.fixture
def refs(location) -> s3.S3Refs:
    return s3.S3Refs(s3.connect(location, retry_seconds=5))


# Objects


def test_object_round_trip_and_ranges(objects):
    data = bytes(range(256)) * 40
    objects.put("chunks/ab", data)
    objects.put("chunks/ab", data)  # again: a no-op, not an error
    assert objects.get("chunks/ab") == data
    assert objects.get("chunks/ab", 1000) == data[1000:]
    assert objects.get("chunks/ab", 1000, 77) == data[1000:1077]
    assert objects.get("chunks/ab", len(data) - 5, 100) == data[-5:]
    assert objects.get("chunks/ab", len(data), 10) == b""
    assert objects.get("chunks/ab", len(data)) == b""
    assert objects.get("chunks/ab", 3, 0) == b""
    assert objects.has("chunks/ab") and not objects.has("chunks/ac")


def test_missing_object_is_not_found(objects):
    for read in (lambda: objects.get("chunks/00"), lambda: objects.get("chunks/00", 5, 5)):
        with pytest.raises(NotFound, match="chunks/00 is not on the remote"):
            read()
    with pytest.raises(NotFound):
        objects.get("chunks/00", 0, 0)
    objects.delete("chunks/00")  # a missing key is not an error


def test_delete_object(objects):
    objects.put("packs/p1", b"pack")
    objects.delete("packs/p1")
    assert not objects.has("packs/p1")
    assert list(objects.list()) == []


def test_list_by_prefix_in_key_order(objects):
    keys = ["chunks/a", "chunks/aa", "chunks/ab", "chunks/b/c", "chunksx", "trees/t"]
    for key in reversed(keys):
        objects.put(key, key.encode())
    assert list(objects.list()) == keys
    assert list(objects.list("chunks/a")) == ["chunks/a", "chunks/aa", "chunks/ab"]
    assert list(objects.list("chunks/ab")) == ["chunks/ab"]
    assert list(objects.list("chunks/")) == keys[:4]
    assert list(objects.list("chunks")) == keys[:5]
    assert list(objects.list("chunks/b")) == ["chunks/b/c"]
    assert list(objects.list("nothing")) == []


def test_list_past_one_page(objects, s3_server):
    keys = [f"chunks/{i:05x}" for i in range(1100)]
    for key in keys:
        objects.put(key, b"x")
    objects.put("zzz", b"outside the prefix")
    s3_server.reset_counts()
    assert list(objects.list("chunks/")) == keys
    assert s3_server.counts()["LIST"] == 2  # S3 answers at most 1000 keys a page


def test_invalid_key_is_a_bug(objects):
    for key in ("", "/chunks/a", "chunks//a", "chunks/../a", "chunks/a b", "chunks/\u00e9"):
        with pytest.raises(ValueError):
            objects.put(key, b"x")


# References


def test_create_replace_and_conditions(refs):
    tag1 = refs.put("refs/versions/m/1", b"one", expect=None)
    assert refs.get("refs/versions/m/1") == s3.Ref(b"one", tag1)
    with pytest.raises(RefConflict):
        refs.put("refs/versions/m/1", b"other", expect=None)
    tag2 = refs.put("refs/versions/m/1", b"two", expect=tag1)
    assert tag2 != tag1
    with pytest.raises(RefConflict):
        refs.put("refs/versions/m/1", b"three", expect=tag1)
    with pytest.raises(RefConflict):
        refs.put("refs/versions/m/2", b"three", expect=tag1)  # absent: no tag can match
    assert refs.get("refs/versions/m/2") is None
    tag3 = refs.put("refs/versions/m/1", b"any", expect=s3.ANY)
    assert refs.get("refs/versions/m/1") == s3.Ref(b"any", tag3)


def test_failed_condition_changes_nothing(refs):
    tag = refs.put("refs/aliases/m/latest", b"v1", expect=None)
    token = refs.token()
    for attempt in (
        lambda: refs.put("refs/aliases/m/latest", b"v2", expect=None),
        lambda: refs.put("refs/aliases/m/latest", b"v2", expect='"0123"'),
        lambda: refs.put("refs/aliases/m/latest", b"v2", expect="0123"),
    ):
        with pytest.raises(RefConflict):
            attempt()
        assert refs.get("refs/aliases/m/latest") == s3.Ref(b"v1", tag)
        assert refs.token() == token


def test_the_same_bytes_from_another_writer_conflict(refs):
    refs.put("refs/artifacts/m", b"0", expect=None)
    with pytest.raises(RefConflict):
        refs.put("refs/artifacts/m", b"0", expect=None)
    tag = refs.get("refs/artifacts/m").tag
    refs.put("refs/artifacts/m", b"1", expect=tag)
    with pytest.raises(RefConflict):
        refs.put("refs/artifacts/m", b"1", expect=tag)  # a racing writer counted 0 -> 1 too


def test_the_write_id_is_stored_with_the_reference(refs, location):
    """What tells a lost answer from another writer (see the fake's test below)."""
    refs.put("refs/runs/r1", b"run", expect=None)
    got = obstore.get(s3.connect(location), "refs/runs/r1")
    assert len(got.attributes[s3.WRITE_ID]) == 32


def test_invalid_reference_key_is_a_bug(refs):
    with pytest.raises(ValueError):
        refs.put("versions/m/1", b"x")
    assert list(refs.list("versions/")) == []


def test_list_refs_with_tags(refs, objects):
    tags = {
        key: refs.put(key, key.encode(), expect=None)
        for key in ("refs/b/1", "refs/a/2", "refs/a/1")
    }
    objects.put("refs/a/object", b"not a reference")
    assert list(refs.list()) == sorted(tags.items())
    assert list(refs.list("refs/a/")) == [
        ("refs/a/1", tags["refs/a/1"]),
        ("refs/a/2", tags["refs/a/2"]),
    ]


def test_token_changes_with_every_write(refs):
    seen = [refs.token()]
    assert refs.token() == seen[0]  # nothing changed
    tag = refs.put("refs/runs/r1", b"r", expect=None)
    seen.append(refs.token())
    refs.put("refs/runs/r1", b"r2", expect=tag)
    seen.append(refs.token())
    refs.delete("refs/runs/r1")
    seen.append(refs.token())
    assert len(set(seen)) == 4


def test_racing_creates_have_one_winner(location):
    """Eight writers (own clients, as eight machines) claim the same version numbers."""
    winners: dict[str, list[int]] = {}
    lock = threading.Lock()

    def claim(writer: int) -> None:
        refs = s3.S3Refs(s3.connect(location))
        for number in range(25):
            try:
                refs.put(f"refs/versions/m/{number}", f"writer {writer}".encode(), expect=None)
            except RefConflict:
                continue
            with lock:
                winners.setdefault(f"refs/versions/m/{number}", []).append(writer)

    _run_threads(claim, 8)
    refs = s3.S3Refs(s3.connect(location))
    assert sorted(winners) == sorted(f"refs/versions/m/{n}" for n in range(25))
    for key, won in winners.items():
        assert len(won) == 1
        assert refs.get(key).value == f"writer {won[0]}".encode()


def test_compare_and_swap_loses_no_update(location):
    """Eight threads of one machine (one client) increment a counter by read,
    conditional write, retry."""
    refs = s3.S3Refs(s3.connect(location))

    def increment(writer: int) -> None:
        for _ in range(10):
            while True:
                now = refs.get("refs/counter")
                count = int(now.value.split()[0]) if now else 0
                value = f"{count + 1} by {writer}".encode()
                try:
                    refs.put("refs/counter", value, expect=now.tag if now else None)
                    break
                except RefConflict:
                    continue

    _run_threads(increment, 8)
    assert refs.get("refs/counter").value.split()[0] == b"80"


def _run_threads(work, count: int) -> None:
    errors = []

    def guarded(n: int) -> None:
        try:
            work(n)
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# The bucket check


def test_check_bucket_accepts_moto_and_cleans_up(location):
    s3.check_bucket(location.url)
    everything = obstore.list(s3.connect(location))
    assert [meta["path"] for page in everything for meta in page] == []


def test_check_bucket_refuses_a_server_that_ignores_conditions(fake_s3):
    with pytest.raises(s3.RemoteRefused, match="If-None-Match") as refused:
        s3.check_bucket("s3://bucket/p", fake_s3.url)
    assert "\n" not in str(refused.value)
    assert fake_s3.objects == {}  # the probe was removed


def test_check_bucket_refuses_a_server_that_ignores_if_match(fake_s3):
    fake_s3.enforces_create = True
    with pytest.raises(s3.RemoteRefused, match="stale If-Match"):
        s3.check_bucket("s3://bucket/p", fake_s3.url)
    assert fake_s3.objects == {}


def test_check_bucket_refuses_a_server_that_refuses_the_current_etag(fake_s3):
    fake_s3.enforces_create = fake_s3.refuses_every_if_match = True
    with pytest.raises(s3.RemoteRefused, match="current ETag, quoted and bare") as refused:
        s3.check_bucket("s3://bucket/p", fake_s3.url)
    assert "\n" not in str(refused.value)
    assert fake_s3.objects == {}


def test_check_bucket_finds_the_form_of_if_match_a_server_enforces(location, fake_s3):
    """Quoted on moto (and AWS); bare on a server that, as Ceph RGW 16 does, refuses the
    quoted current ETag and enforces the bare one.  Neither is asked about DELETE."""
    assert s3.check_bucket(location.url) is False
    fake_s3.enforces_create, fake_s3.if_match_bare = True, "checked"
    assert s3.check_bucket("s3://bucket/p", fake_s3.url) is True
    assert fake_s3.served["DELETE"] + fake_s3.served["POST"] == 1  # the probe's removal
    assert fake_s3.objects == {}


def test_check_bucket_refuses_a_server_that_ignores_a_stale_bare_if_match(fake_s3):
    fake_s3.enforces_create, fake_s3.if_match_bare = True, "unchecked"
    with pytest.raises(s3.RemoteRefused, match=r"a stale If-Match \(bare\)"):
        s3.check_bucket("s3://bucket/p", fake_s3.url)
    assert fake_s3.objects == {}


def test_references_on_a_server_that_wants_if_match_bare(fake_s3, fake_location):
    """As remote.json says after 'remote add' (True), as it says for AWS (False: such a
    server then refuses, a conflict), and not known (None: the first refused current
    tag is tried bare, and bare it stays)."""
    fake_s3.enforces_create, fake_s3.if_match_bare = True, "checked"
    client = s3.connect(fake_location, retry_seconds=5)
    told = s3.S3Refs(client, unquoted_if_match=True)
    first = told.put("refs/a/1", b"1", expect=None)
    second = told.put("refs/a/1", b"2", expect=first)
    with pytest.raises(RefConflict):
        told.put("refs/a/1", b"3", expect=first)  # stale
    assert told.get("refs/a/1") == s3.Ref(b"2", second)
    with pytest.raises(RefConflict):
        s3.S3Refs(client, unquoted_if_match=False).put("refs/a/1", b"3", expect=second)
    unknown = s3.S3Refs(client)
    with pytest.raises(RefConflict):
        unknown.put("refs/a/1", b"3", expect=first)  # stale: nothing learnt
    assert unknown.unquoted_if_match is None
    before = fake_s3.served["PUT"]
    third = unknown.put("refs/a/1", b"3", expect=second)
    assert unknown.unquoted_if_match is True
    assert fake_s3.served["PUT"] - before == 4  # quoted (refused), bare, the 2 journals
    before = fake_s3.served["PUT"]
    unknown.put("refs/a/1", b"4", expect=third)
    assert fake_s3.served["PUT"] - before == 3  # bare at once, the area's journal, all's


def test_a_losing_replace_answered_500_is_a_conflict(fake_s3, fake_location):
    """Ceph RGW 16 answers 500 to the losers of racing If-Match PUTs: obstore retries,
    the retry meets the winner's object (412), and the write id shows it is not ours."""
    fake_s3.enforces_create, fake_s3.if_match_bare = True, "checked"
    refs = s3.S3Refs(s3.connect(fake_location, retry_seconds=20), unquoted_if_match=True)
    read = refs.put("refs/a/1", b"start", expect=None)
    refs.put("refs/a/1", b"the winner", expect=read)
    fake_s3.failures = [500]
    before = fake_s3.served["PUT"]
    with pytest.raises(RefConflict):
        refs.put("refs/a/1", b"a loser", expect=read)
    assert fake_s3.served["PUT"] - before == 2  # the 500 and its retry; no journal
    assert fake_s3.objects["p/refs/a/1"] == b"the winner"


def test_a_conditional_put_failing_past_its_retries(fake_s3, fake_location):
    """A conflict if another write moved the reference out of the state it was
    conditional on (it can no longer happen), else the failure, in one line."""
    fake_s3.enforces_create, fake_s3.if_match_bare = True, "checked"
    refs = s3.S3Refs(s3.connect(fake_location, retry_seconds=0), unquoted_if_match=True)
    read = refs.put("refs/a/1", b"start", expect=None)
    fake_s3.failures = [500]
    with pytest.raises(s3.RemoteError, match="500") as failed:
        refs.put("refs/a/1", b"mine", expect=read)
    assert "\n" not in str(failed.value)
    refs.put("refs/a/1", b"another's", expect=read)
    for expect in (read, None):
        fake_s3.failures = [500]
        with pytest.raises(RefConflict):
            refs.put("refs/a/1", b"mine", expect=expect)
    assert fake_s3.objects["p/refs/a/1"] == b"another's"


def test_missing_bucket(s3_server, location):
    with pytest.raises(s3.RemoteError, match="does not exist"):
        s3.check_bucket("s3://no-such-bucket/p", s3_server.url)


# An S3 server run by someone else (ARTFS_TEST_S3_*: scripts/ceph-rgw.sh's Ceph RGW)


def test_external_s3_from_the_environment():
    assert ExternalS3.from_env({}) is None
    with pytest.raises(RuntimeError, match="ARTFS_TEST_S3_SECRET_KEY"):
        ExternalS3.from_env({"ARTFS_TEST_S3_ENDPOINT": "http://x", "ARTFS_TEST_S3_ACCESS_KEY": "a"})
    server = ExternalS3.from_env(
        {
            "ARTFS_TEST_S3_ENDPOINT": "http://127.0.0.1:1",
            "ARTFS_TEST_S3_ACCESS_KEY": "key",
            "ARTFS_TEST_S3_SECRET_KEY": "secret",
        }
    )
    assert server is not None
    assert (server.url, server.region, server.access_key) == (
        "http://127.0.0.1:1",
        "us-east-1",
        "key",
    )


def test_external_s3_makes_fresh_buckets_and_removes_them(s3_server):
    """Signed requests (moto takes any keys), and every bucket it made gone afterwards,
    with what the test wrote in it."""
    server = ExternalS3(s3_server.url, "testing", "testing", "us-east-1")
    first, second = server.location(), server.location()
    assert first.bucket != second.bucket and first.endpoint == s3_server.url
    objects = s3.S3Objects(s3.connect(first, retry_seconds=5))
    objects.put("chunks/aa", b"data")
    assert objects.get("chunks/aa") == b"data"
    server.remove_buckets()
    with pytest.raises(s3.RemoteError, match="does not exist"):
        objects.put("chunks/ab", b"more")
    with pytest.raises(s3.RemoteError, match="does not exist"):
        s3.S3Objects(s3.connect(second, retry_seconds=5)).put("chunks/aa", b"x")


def _conditions_probe(url: str, bucket: str) -> subprocess.CompletedProcess:
    script = os.path.join(os.path.dirname(__file__), "..", "scripts", "s3_conditions.py")
    env = {
        **os.environ,
        "ARTFS_TEST_S3_ENDPOINT": url,
        "ARTFS_TEST_S3_ACCESS_KEY": "testing",
        "ARTFS_TEST_S3_SECRET_KEY": "testing",
    }
    return subprocess.run(
        [sys.executable, script, bucket], capture_output=True, text=True, env=env, timeout=120
    )


def test_conditions_probe_passes_a_server_that_enforces_them(s3_server):
    probed = _conditions_probe(s3_server.url, s3_server.bucket())
    assert probed.returncode == 0, probed.stdout + probed.stderr
    assert probed.stdout.count("[ok]") == 8
    assert "conditional writes: enforced (If-Match quoted)\n" in probed.stdout


def test_conditions_probe_names_what_a_server_ignores(fake_s3):
    fake_s3.enforces_create = True  # but not If-Match, on PUT or DELETE
    probed = _conditions_probe(fake_s3.url, "bucket")
    assert probed.returncode == 1
    wrong = [line for line in probed.stdout.splitlines() if "WRONG" in line]
    assert len(wrong) == 1 and "PUT    If-Match" in wrong[0] and "(ETag stale) -> 200" in wrong[0]
    differs = [line for line in probed.stdout.splitlines() if "differs" in line]
    assert len(differs) == 2 and "(ETag stale, bare) -> 200" in differs[0]  # sent quoted
    assert "DELETE If-Match" in differs[1] and "(ETag stale) -> 204" in differs[1]
    assert "1 answer(s) wrong" in probed.stdout
    assert fake_s3.objects == {}  # the probe's key was removed


def test_conditions_probe_passes_a_server_that_wants_if_match_bare(fake_s3):
    """As Ceph RGW 16 answers: the quoted current ETag refused, the bare one enforced,
    If-Match on DELETE ignored; artfs copes with both differences."""
    fake_s3.enforces_create, fake_s3.if_match_bare = True, "checked"
    probed = _conditions_probe(fake_s3.url, "bucket")
    assert probed.returncode == 0, probed.stdout + probed.stderr
    differs = [line for line in probed.stdout.splitlines() if "differs" in line]
    assert len(differs) == 2 and "(ETag current) -> 412" in differs[0]
    assert "DELETE" in differs[1] and "(ETag stale) -> 204" in differs[1]
    assert "enforced (If-Match bare); 2 answer(s) differ from S3" in probed.stdout
    fake_s3.if_match_bare = "unchecked"  # any bare tag taken: no compare-and-swap
    probed = _conditions_probe(fake_s3.url, "bucket")
    assert probed.returncode == 1
    [wrong] = [line for line in probed.stdout.splitlines() if "WRONG" in line]
    assert "(ETag stale, bare) -> 200" in wrong


# Faults


def test_throttling_is_retried(fake_s3, fake_location):
    fake_s3.objects["p/objects/chunks/aa"] = b"content"
    fake_s3.failures = [503, 503, 500]
    assert s3.S3Objects(s3.connect(fake_location, retry_seconds=20)).get("chunks/aa") == (
        b"content"
    )
    assert fake_s3.served["GET"] == 4


def test_persistent_throttling_fails_in_one_line(fake_s3, fake_location):
    fake_s3.failures = [503] * 10_000
    objects = s3.S3Objects(s3.connect(fake_location, retry_seconds=1))
    with pytest.raises(s3.RemoteError, match="503") as failed:
        objects.put("chunks/aa", b"x")
    assert "\n" not in str(failed.value)
    assert fake_s3.served["PUT"] > 1
    assert fake_s3.objects == {}


def test_reference_written_when_the_journal_is_not(fake_s3, fake_location, caplog):
    fake_s3.failures = [0] + [503] * 10_000  # the reference PUT passes, the journal's not
    refs = s3.S3Refs(s3.connect(fake_location, retry_seconds=1))
    assert refs.put("refs/v/1", b"claim", expect=None) == _etag(b"claim")
    assert fake_s3.objects == {"p/refs/v/1": b"claim"}
    assert "the journal did not" in caplog.text


def test_a_put_whose_answer_was_lost_is_recognised(fake_s3, fake_location):
    """The first PUT stored the reference but its answer was a 500; obstore retried, the
    retry got 412, and the write id in the object's metadata shows the write was ours."""
    fake_s3.enforces_create = True
    fake_s3.failures = [-500]
    refs = s3.S3Refs(s3.connect(fake_location, retry_seconds=20))
    assert refs.put("refs/v/1", b"claim", expect=None) == _etag(b"claim")
    assert fake_s3.served["PUT"] == 4  # the lost one, its retry, the 2 journals
    with pytest.raises(RefConflict):  # the same bytes by another write: not ours
        refs.put("refs/v/1", b"claim", expect=None)


def test_refused_credentials(fake_s3, fake_location):
    fake_s3.failures = [403]
    with pytest.raises(s3.RemoteError, match="refused the credentials to read chunks/aa"):
        s3.S3Objects(s3.connect(fake_location, retry_seconds=5)).get("chunks/aa")
    assert fake_s3.served["GET"] == 1  # a 403 is an answer, not retried


def test_unreachable_endpoint_fails_in_one_line():
    location = S3Location("bucket", "p", f"http://127.0.0.1:{CLOSED_PORT}", "us-east-1", "k", "s")
    with pytest.raises(s3.RemoteError, match="could not read chunks/aa") as failed:
        s3.S3Objects(s3.connect(location, retry_seconds=1)).get("chunks/aa")
    assert "\n" not in str(failed.value)


def test_conditional_request_conflict_is_a_ref_conflict(fake_s3, fake_location):
    fake_s3.failures = [409]
    with pytest.raises(RefConflict):
        s3.S3Refs(s3.connect(fake_location, retry_seconds=5)).put("refs/v/1", b"x", expect=None)
    assert fake_s3.objects == {}


# Where the remote is


def test_parse_url():
    assert parse_url("s3://bucket") == ("bucket", "")
    assert parse_url("s3://bucket/a/b/") == ("bucket", "a/b")
    for bad in ("bucket/a", "s3:///a", "s3://b/a//c", "gs://b/a"):
        with pytest.raises(UsageError):
            parse_url(bad)


def test_resolve_from_environment_over_profile(tmp_path):
    _aws_files(tmp_path)
    env = {
        "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": "env-key",
        "AWS_SECRET_ACCESS_KEY": "env-secret",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_ENDPOINT_URL": "http://env:1",
    }
    found = resolve("s3://b/p", env=env)
    assert (found.access_key_id, found.secret_access_key) == ("env-key", "env-secret")
    assert (found.region, found.endpoint) == ("eu-west-1", "http://env:1")
    assert resolve("s3://b/p", "http://flag:2", env=env).endpoint == "http://flag:2"
    env["AWS_ENDPOINT_URL_S3"] = "http://s3-only:3"
    assert resolve("s3://b/p", env=env).endpoint == "http://s3-only:3"


def test_resolve_from_named_profile(tmp_path):
    _aws_files(tmp_path)
    found = resolve("s3://b/p", env={"HOME": str(tmp_path), "AWS_PROFILE": "team"})
    assert (found.access_key_id, found.secret_access_key) == ("team-key", "team-secret")
    assert found.session_token == "team-token"
    assert (found.region, found.endpoint) == ("ap-south-1", "http://team:9")
    default = resolve("s3://b", env={"HOME": str(tmp_path)})
    assert (default.access_key_id, default.region) == ("default-key", "us-east-1")
    with pytest.raises(UsageError, match="'nobody'"):
        resolve("s3://b", env={"HOME": str(tmp_path), "AWS_PROFILE": "nobody"})


def test_resolve_with_nothing_configured(tmp_path):
    found = resolve("s3://b/p", env={"HOME": str(tmp_path)})
    assert found == S3Location("b", "p", None, "us-east-1")


def _aws_files(home) -> None:
    (home / ".aws").mkdir()
    (home / ".aws/credentials").write_text(
        "[default]\naws_access_key_id = default-key\naws_secret_access_key = default-secret\n"
        "[team]\naws_access_key_id = team-key\naws_secret_access_key = team-secret\n"
        "aws_session_token = team-token\n"
    )
    (home / ".aws/config").write_text(
        "[default]\nregion = us-east-1\n"
        "[profile team]\nregion = ap-south-1\nendpoint_url = http://team:9\n"
    )


# A fake S3 that stores objects but ignores every condition, and fails on request


class FakeS3(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), FakeS3Handler)  # a free port: suites may run at once
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.objects: dict[str, bytes] = {}
        # Statuses to answer, one per request: 0 serves it, -S (PUT only) stores and
        # then answers S.
        self.failures: list[int] = []
        self.metadata: dict[str, dict[str, str]] = {}  # x-amz-meta-* headers by key
        self.served: Counter = Counter()
        self.enforces_create = False  # If-None-Match: * (some servers do only that)
        self.refuses_every_if_match = False
        # As Ceph RGW 16.2: If-Match compared with the bare ETag, so the quoted one that
        # it hands out never matches; or (unchecked) any bare one matches.
        self.if_match_bare: str | None = None  # None, "checked" or "unchecked"


class FakeS3Handler(http.server.BaseHTTPRequestHandler):
    server: FakeS3

    def log_message(self, format, *args) -> None:
        """Quiet: the tests read what was served from the server's counters."""

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status = self._fault()
        if status > 0:
            self._reply(status, body=f"<Error><Code>Fault{status}</Code></Error>".encode())
            return
        exists = self._key() in self.server.objects
        if exists and self.server.enforces_create and self.headers.get("If-None-Match") == "*":
            self._reply(412, body=b"<Error><Code>PreconditionFailed</Code></Error>")
            return
        if self.server.refuses_every_if_match and "If-Match" in self.headers:
            self._reply(412, body=b"<Error><Code>PreconditionFailed</Code></Error>")
            return
        if_match, current = self.headers.get("If-Match"), self.server.objects.get(self._key())
        if self.server.if_match_bare and if_match is not None:
            quoted = if_match.startswith('"')
            if quoted or (
                self.server.if_match_bare == "checked"
                and (current is None or f'"{if_match}"' != _etag(current))
            ):
                self._reply(412, body=b"<Error><Code>PreconditionFailed</Code></Error>")
                return
        self.server.objects[self._key()] = body
        self.server.metadata[self._key()] = {
            name: value for name, value in self.headers.items() if name.startswith("x-amz-meta-")
        }
        if status < 0:  # done, but the answer is a failure (a lost answer, to the client)
            self._reply(-status, body=b"<Error><Code>InternalError</Code></Error>")
            return
        self._reply(200, {"ETag": _etag(body)})

    def do_DELETE(self) -> None:
        if not self._failed():
            self.server.objects.pop(self._key(), None)
            self._reply(204)

    def do_POST(self) -> None:
        """obstore deletes through S3's multi-object delete: POST ?delete, keys in XML."""
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        if self._failed():
            return
        keys = re.findall(r"<Key>([^<]+)</Key>", body)
        for key in keys:
            self.server.objects.pop(key.removeprefix("bucket/"), None)
        deleted = "".join(f"<Deleted><Key>{key}</Key></Deleted>" for key in keys)
        self._reply(200, body=f"<DeleteResult>{deleted}</DeleteResult>".encode())

    def _answer(self, with_body: bool) -> None:
        if self._failed():
            return
        data = self.server.objects.get(self._key())
        if data is None:
            self._reply(404, body=b"<Error><Code>NoSuchKey</Code></Error>")
            return
        headers = {"ETag": _etag(data), **self.server.metadata.get(self._key(), {})}
        self._reply(200, headers, data if with_body else b"", len(data))

    def _fault(self) -> int:
        """The status this request is to fail with (0: none), from the server's list."""
        self.server.served[self.command] += 1
        return self.server.failures.pop(0) if self.server.failures else 0

    def _failed(self) -> bool:
        status = self._fault()
        if status:
            self._reply(status, body=f"<Error><Code>Fault{status}</Code></Error>".encode())
        return bool(status)

    def _key(self) -> str:
        return self.path.split("?")[0].removeprefix("/bucket/")

    def _reply(self, status: int, headers=None, body: bytes = b"", length=None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Last-Modified", email.utils.formatdate(usegmt=True))
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)


def _etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


@pytest.fixture
def fake_s3(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server = FakeS3()
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def fake_location(fake_s3) -> S3Location:
    return S3Location("bucket", "p", fake_s3.url, "us-east-1", "testing", "testing")
