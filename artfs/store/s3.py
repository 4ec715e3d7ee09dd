"""The ObjectStore and RefStore interfaces on an S3-compatible bucket, through obstore.

Layout under ``s3://BUCKET/PREFIX`` (docs/format.md, section 15.3): objects at
``objects/KEY``, references (``refs/...`` keys) under their own names, and two
kinds of tiny objects that every reference write replaces: ``journal/AREA`` for the
area of the reference (backend.area_of: ``refs/versions/ds`` holds the versions of
every artifact whose name starts with "ds"), then ``journal``, for all of them.
``token()`` is one HEAD of ``journal`` however many references there are (a reader
that polls asks only that), ``tokens()`` one LIST of ``journal/`` that says which
areas changed, so that the reader lists those alone.
A reference's tag is its ETag; ``RefStore.put``'s ``expect`` becomes
``If-None-Match: *`` or ``If-Match: ETAG`` on the PUT, which S3 (since 2024), R2,
GCS and Ceph RGW enforce atomically.
``check_bucket`` refuses a server that does not, since then two machines could both
claim one version number.

The ETag goes into If-Match as the server gave it, quoted (RFC 7232's entity-tag,
which AWS S3's PutObject reference points to, and what obstore sends), except on a
server that refuses the quoted form of the current ETag and accepts it bare: Debian
12's Ceph RGW 16.2.15 does (DigitalOcean Spaces reportedly too).  ``check_bucket``
finds out which form the server enforces (a stale tag refused) and ``remote add``
keeps it in remote.json (``unquoted_if_match``); an S3Refs not told (``$ARTFS_REMOTE``
without remote.json) starts quoted and goes bare once the server has refused the
quoted current tag and accepted it bare.

obstore retries network errors, 5xx and 503 SlowDown with exponential backoff for
at most ``retry_seconds``; what still fails becomes one RemoteError line.  A retried
conditional PUT can meet its own first try (done, its answer lost): a write id in
the object's metadata tells that from another writer's write.  Ceph RGW answers 500
to the losers of racing If-Match PUTs; their retry meets the winner's object and
gets 412, a RefConflict.  A conditional PUT that still fails is a RefConflict too if
the reference is no longer in the state it was conditional on (another write won),
else the RemoteError.
"""

import contextlib
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

import obstore
from obstore import exceptions as obs_errors
from obstore.store import S3Store

from artfs.errors import NotFound, RemoteDenied, RemoteError, RemoteRefused
from artfs.store.backend import ANY, Ref, RefConflict, _Any, area_of
from artfs.store.s3config import S3Location, resolve

if TYPE_CHECKING:  # obstore's typed dicts exist only in its stubs
    from obstore import GetOptions, ObjectMeta, PutMode

OBJECTS = "objects/"
REFS = "refs/"  # the key space's prefix of every reference
JOURNAL = "journal"  # for all references; journal/AREA for those of one area
WRITE_ID = "artfs-write"  # user metadata: x-amz-meta-artfs-write
PROBES = "probe/"
DEFAULT_RETRY_SECONDS = 60.0
log = logging.getLogger("artfs.remote")
_KEY = re.compile(r"[!-~]+(/[!-~]+)*")  # printable ASCII segments, no empty ones


def connect(location: S3Location, *, retry_seconds: float = DEFAULT_RETRY_SECONDS) -> S3Store:
    """An obstore client for ``location``; no request is made yet."""
    settings: dict = {"region": location.region}
    if location.endpoint:
        # S3-compatible servers (moto, Ceph RGW, R2...) are addressed by path, not
        # by a virtual host per bucket that a loopback name cannot resolve.
        settings.update(endpoint=location.endpoint, virtual_hosted_style_request=False)
    if location.access_key_id and location.secret_access_key:
        settings.update(
            access_key_id=location.access_key_id, secret_access_key=location.secret_access_key
        )
        if location.session_token:
            settings["token"] = location.session_token
    return S3Store(
        location.bucket,
        prefix=location.prefix or None,
        client_options={"allow_http": bool(location.endpoint and location.endpoint[:5] == "http:")},
        retry_config={
            "max_retries": 100,  # the time bound below is the one that matters
            "retry_timeout": timedelta(seconds=retry_seconds),
            "backoff": {
                "init_backoff": timedelta(milliseconds=50),
                "max_backoff": timedelta(seconds=5),
            },
        },
        **settings,
    )


def open_remote(
    url: str,
    endpoint_url: str | None = None,
    *,
    retry_seconds: float = DEFAULT_RETRY_SECONDS,
    unquoted_if_match: bool | None = None,
) -> tuple["S3Objects", "S3Refs"]:
    """The object and reference stores of the remote at ``s3://BUCKET/PREFIX``;
    ``unquoted_if_match`` as ``check_bucket`` found it (None: not checked)."""
    client = connect(resolve(url, endpoint_url), retry_seconds=retry_seconds)
    return S3Objects(client), S3Refs(client, unquoted_if_match=unquoted_if_match)


class S3Objects:
    """Immutable objects, one S3 object each; a PUT is atomic, so ``barrier`` has nothing
    to wait for."""

    def __init__(self, client: S3Store) -> None:
        self._client = client

    def has(self, key: str) -> bool:
        try:
            with _mapped(self._client, "look up", key):
                obstore.head(self._client, OBJECTS + _checked(key))
        except NotFound:
            return False
        return True

    def get(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        path = OBJECTS + _checked(key)
        if length == 0:  # S3 has no empty range; the answer is known once the key exists
            if not self.has(key):
                raise NotFound(f"{key} is not on the remote {_where(self._client)}")
            return b""
        with _mapped(self._client, "read", key):
            try:
                if length is None:
                    options: GetOptions = {"range": {"offset": start}} if start else {}
                    return bytes(obstore.get(self._client, path, options=options).bytes())
                return bytes(obstore.get_range(self._client, path, start=start, length=length))
            except obs_errors.GenericError as exc:
                if "416 Range Not Satisfiable" in str(exc):  # start at or past the end
                    return b""
                raise

    def put(self, key: str, data: bytes) -> None:
        # Create-only: an object once written is never replaced, even by a buggy
        # writer, and "already there" is the idempotent success the interface asks.
        path = OBJECTS + _checked(key)
        with (
            _mapped(self._client, "write", key),
            contextlib.suppress(obs_errors.AlreadyExistsError),
        ):
            obstore.put(self._client, path, data, mode="create", use_multipart=False)

    def delete(self, key: str) -> None:
        with _mapped(self._client, "delete", key):
            obstore.delete(self._client, OBJECTS + _checked(key))

    def list(self, prefix: str = "") -> Iterator[str]:
        for meta in _listed(self._client, OBJECTS, prefix):
            yield meta["path"][len(OBJECTS) :]

    def barrier(self) -> None:
        """Every returned PUT is durable on S3 already."""


class S3Refs:
    """References as S3 objects whose ETag is the tag; every write also replaces the
    journal so that ``token`` changes.  Keys are the key space's ``refs/...``, stored
    under the same name.  ``unquoted_if_match``: send If-Match's ETag without its
    quotes (True), with them (False), or with them until the server has shown it
    wants them off (None: see the module's description)."""

    def __init__(self, client: S3Store, *, unquoted_if_match: bool | None = None) -> None:
        self._client = client
        self.unquoted_if_match = unquoted_if_match

    def get(self, key: str) -> Ref | None:
        read = self._read(key)
        return None if read is None else read[0]

    def put(self, key: str, value: bytes, *, expect: str | None | _Any = ANY) -> str:
        # A unique id in the object's metadata tells a refused PUT that is a retry of
        # our own successful one (its answer lost) from a write by someone else.
        write_id = uuid.uuid4().hex
        unquoted = bool(self.unquoted_if_match)
        try:
            tag = self._put(key, value, expect, write_id, unquoted)
        except (RefConflict, NotFound) as conflict:  # AWS: If-Match on a missing key is 404
            read = self._read(key)
            if read is not None and read[1] == write_id:
                tag = read[0].tag
            elif isinstance(expect, str) and self._bare_tag_wanted(read, expect, unquoted):
                tag = self._put_bare(key, value, expect, write_id, conflict)
            else:
                raise _as_conflict(key, conflict) from None
        except RemoteError as failure:
            if isinstance(expect, _Any):
                raise
            tag = self._after_failure(key, expect, write_id, failure)
        self._bump_journal(key)
        return tag or ""

    def _put(self, key: str, value: bytes, expect, write_id: str, unquoted: bool) -> str | None:
        with _mapped(self._client, "write", key):
            return obstore.put(
                self._client,
                _ref_path(key),
                value,
                mode=_put_mode(expect, unquoted),
                attributes={WRITE_ID: write_id},
            )["e_tag"]

    def _bare_tag_wanted(self, read, expect: str, unquoted: bool) -> bool:
        """Was a quoted If-Match refused although the reference still has that tag, by a
        server whose form is not known yet?  Then it may want the tag bare."""
        return (
            self.unquoted_if_match is None
            and not unquoted
            and read is not None
            and read[0].tag == expect
        )

    def _put_bare(
        self, key: str, value: bytes, expect: str, write_id: str, conflict: Exception
    ) -> str:
        """The refused PUT again with the tag bare; if the server takes it, it is of the
        kind that wants If-Match bare (Ceph RGW 16), and this store sends it so from now
        on.  Anything else: the first refusal stands."""
        try:
            tag = self._put(key, value, expect, write_id, unquoted=True)
        except (RefConflict, NotFound, RemoteError):
            read = self._read(key)
            if read is not None and read[1] == write_id:
                return read[0].tag
            raise _as_conflict(key, conflict) from None
        self.unquoted_if_match = True
        log.info("%s wants If-Match without quotes; sending it so", _where(self._client))
        return tag or ""

    def _after_failure(self, key: str, expect, write_id: str, failure: RemoteError) -> str:
        """A conditional PUT that failed past its retries: done if the reference holds our
        write, a RefConflict if another write moved it out of the state ours was
        conditional on (ours can no longer happen), else the failure."""
        try:
            read = self._read(key)
        except RemoteError:
            raise failure from None
        if read is not None and read[1] == write_id:
            return read[0].tag
        current = None if read is None else read[0].tag
        if current != expect:
            raise RefConflict(f"reference {key} changed while it was written; read it again")
        raise failure

    def delete(self, key: str) -> None:
        with _mapped(self._client, "delete", key):
            obstore.delete(self._client, _ref_path(key))
        self._bump_journal(key)

    def list(self, prefix: str = "") -> Iterator[tuple[str, str]]:
        if not (prefix.startswith(REFS) or REFS.startswith(prefix)):
            return  # no reference lives outside refs/
        for meta in _listed(self._client, "", max(prefix, REFS, key=len)):
            yield meta["path"], meta["e_tag"] or ""

    def items(self, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        """A LIST, then a GET of each: S3 lists no values.  A key deleted in between is
        left out."""
        for key, _ in self.list(prefix):
            ref = self.get(key)
            if ref is not None:
                yield key, ref.value

    def token(self) -> str:
        """The journal's ETag: one HEAD of a few bytes, where a LIST of the references
        would cost one request per thousand of them (scripts/bench_s3.py)."""
        try:
            with _mapped(self._client, "read", JOURNAL):
                return obstore.head(self._client, JOURNAL)["e_tag"] or ""
        except NotFound:
            return "none"

    def tokens(self) -> dict[str, str]:
        """The ETag of every area's journal: one LIST per thousand areas, where listing
        the references would cost one per thousand of them."""
        start = JOURNAL + "/"
        return {
            meta["path"][len(start) :]: meta["e_tag"] or ""
            for meta in _listed(self._client, "", start)
        }

    def _read(self, key: str) -> tuple[Ref, str | None] | None:
        """The reference and the id of the write that made it, or None if absent."""
        try:
            with _mapped(self._client, "read", key):
                got = obstore.get(self._client, _ref_path(key))
                ref = Ref(bytes(got.bytes()), got.meta["e_tag"] or "")
                return ref, got.attributes.get(WRITE_ID)
        except NotFound:
            return None

    def _bump_journal(self, key: str) -> None:
        # Unconditional and unique: concurrent bumps cannot conflict, and any of them
        # changes the ETag a reader compares.  The reference write before it has
        # happened, so failing here would report a done write as failed: readers
        # learn of it at the next bump instead, as after a crash between the two.
        # The area's first: a reader that sees the journal changed finds which area did.
        try:
            for journal in (f"{JOURNAL}/{area_of(key)}", JOURNAL):
                with _mapped(self._client, "write", journal):
                    obstore.put(self._client, journal, uuid.uuid4().bytes, mode="overwrite")
        except RemoteError as exc:
            log.warning("a reference changed but the journal did not: %s", exc)


def _as_conflict(key: str, refused: Exception) -> RefConflict:
    """A refused conditional PUT as a RefConflict (AWS answers an If-Match on a missing
    key with 404, a NotFound here)."""
    if isinstance(refused, RefConflict):
        return refused
    return RefConflict(f"reference {key} was deleted since it was read; read it again")


def _put_mode(expect: str | None | _Any, unquoted: bool = False) -> "PutMode":
    if isinstance(expect, _Any):
        return "overwrite"
    if expect is None:
        return "create"
    return {"e_tag": _bare(expect) if unquoted else expect}


def _bare(tag: str) -> str:
    """An entity-tag without its quotes (``"abc"`` -> ``abc``)."""
    return tag[1:-1] if len(tag) >= 2 and tag[0] == tag[-1] == '"' else tag


def check_bucket(url: str, endpoint_url: str | None = None) -> bool:
    """Refuse a bucket whose server does not enforce create-if-absent and
    replace-if-unchanged: probe it once with a throwaway reference, then remove it.
    → whether If-Match must carry the ETag bare (True: Ceph RGW 16), the form proven
    enforced: the current tag accepted, a stale one refused.

    A DELETE with a stale If-Match is not probed: artfs deletes only unconditionally
    (``RefStore.delete``; what must go only if unchanged is replaced by compare-and-swap
    instead), so a server that ignores If-Match there, as Ceph RGW 16 does, is sound."""
    return check_location(resolve(url, endpoint_url))


def check_location(location: S3Location) -> bool:
    """``check_bucket`` of a resolved location (endpoint and keys as given)."""
    url, client = location.url, connect(location)
    probe = PROBES + uuid.uuid4().hex
    try:
        with _mapped(client, "write", probe):
            first = obstore.put(client, probe, b"1", mode="create")["e_tag"] or ""
        _expect_refused(url, "a second create-only PUT (If-None-Match: *)", client, probe, "create")
        for unquoted in (False, True):  # as the server gave the tag, then bare
            try:
                with _mapped(client, "write", probe):
                    obstore.put(client, probe, b"2", mode=_put_mode(first, unquoted))
                break
            except RefConflict:
                continue
        else:
            raise RemoteRefused(
                f"{url}: the server refused a PUT whose If-Match is the object's current "
                "ETag, quoted and bare, which it must accept; without working "
                "compare-and-swap artfs cannot move aliases or share runs there"
            )
        stale = _put_mode(first, unquoted)
        what = "a PUT with a stale If-Match" + (" (bare)" if unquoted else "")
        _expect_refused(url, what, client, probe, stale)
        return unquoted
    finally:
        with _mapped(client, "delete", probe):
            obstore.delete(client, probe)


def _expect_refused(url: str, what: str, client: S3Store, probe: str, mode: "PutMode") -> None:
    try:
        with _mapped(client, "write", probe):
            obstore.put(client, probe, b"x", mode=mode)
    except RefConflict:
        return
    raise _refusal(url, what)


def _refusal(url: str, what: str) -> RemoteRefused:
    return RemoteRefused(
        f"{url}: the server accepted {what} that it must refuse; without enforced "
        "conditional writes two machines can claim the same version, so artfs will not "
        "use it (AWS S3, R2, GCS and Ceph RGW enforce them)"
    )


def _ref_path(key: str) -> str:
    if not key.startswith(REFS):
        raise ValueError(f"reference key {key!r} is not under {REFS}")  # a caller's bug
    return _checked(key)


def _checked(key: str) -> str:
    if not _KEY.fullmatch(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"invalid storage key {key!r}")  # a caller's bug, not user input
    return key


def _listed(client: S3Store, root: str, prefix: str) -> Iterator["ObjectMeta"]:
    """Metadata of every object under ``root`` whose key starts with ``prefix``, in key
    order.  obstore lists whole path segments, so a partial last segment is listed from
    its parent, from just before it (S3's start-after) to just past it."""
    if prefix:
        _checked(prefix.rstrip("/"))
    parent, _, partial = (root + prefix).rpartition("/")
    # Start after the partial segment less its last character: no key that sorts
    # before that can match, and S3 skips them server-side.
    offset = f"{parent}/{partial[:-1]}" if len(partial) > 1 else None
    with _mapped(client, "list", root + prefix):
        for page in obstore.list(client, parent or None, offset=offset, chunk_size=1000):
            for meta in page:
                if meta["path"].startswith(root + prefix):
                    yield meta
                elif meta["path"] > root + prefix:
                    return


@contextlib.contextmanager
def _mapped(client: S3Store, verb: str, key: str) -> Iterator[None]:
    """obstore's exceptions as artfs errors of one line (obstore's carry the server's
    XML and several lines of causes)."""
    try:
        yield
    except FileNotFoundError as exc:
        if "NoSuchBucket" in str(exc):
            raise RemoteError(
                f"{_where(client)} does not exist; create the bucket or fix the URL"
            ) from None
        raise NotFound(f"{key} is not on the remote {_where(client)}") from None
    except (obs_errors.AlreadyExistsError, obs_errors.PreconditionError):
        raise RefConflict(f"reference {key} changed since it was read; read it again") from None
    except (obs_errors.PermissionDeniedError, obs_errors.UnauthenticatedError):
        raise RemoteDenied(
            f"{_where(client)} refused the credentials to {verb} {key}; check AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        ) from None
    except (obs_errors.BaseError, OSError) as exc:
        if "409 Conflict" in str(exc):  # S3's ConditionalRequestConflict: a racing write
            raise RefConflict(
                f"reference {key} changed while it was written; read it again"
            ) from None
        raise RemoteError(
            f"could not {verb} {key} on {_where(client)}: {_summary(exc)}; check the network "
            "and the endpoint, then try again"
        ) from None


def _where(client: S3Store) -> str:
    prefix = client.prefix
    return f"s3://{client.config['bucket']}" + (f"/{prefix}" if prefix else "")


def _summary(exc: BaseException) -> str:
    """The status line and S3 error code, or the innermost cause, of obstore's message."""
    text = str(exc)
    status = re.search(r"status code: (\d{3}[^:<]*)", text)
    code = re.search(r"<Code>([^<]+)</Code>", text)
    if status:
        return status.group(1).strip() + (f" ({code.group(1)})" if code else "")
    os_message = re.search(r'message: "([^"]+)"', text)  # the system's, in the debug dump
    if os_message:
        return os_message.group(1)
    head = text.split("\n\nDebug source", 1)[0]
    causes = [part.strip() for part in re.split(r"[:\n]", head) if part.strip()]
    return causes[-1] if causes else type(exc).__name__
