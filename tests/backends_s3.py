"""The S3 backend in the contract suite (tests/backends.py): a fresh bucket for each
test, on the session's moto server or on the server ARTFS_TEST_S3_ENDPOINT names (the
``s3_target`` fixture, tests/conftest.py); a reopened backend is another client, as
another machine would open the same remote.  Each client sends If-Match in the form
that ``check_bucket`` found the server to enforce, once a session, as ``artfs remote
add`` finds it and remote.json keeps it (bare ETags on Ceph RGW 16, quoted elsewhere)."""

from collections.abc import Iterator
from contextlib import contextmanager

from artfs.store import s3
from tests.backends import Backend, register

_FORMS: dict[str, bool] = {}  # endpoint -> unquoted_if_match, as check_bucket found


@contextmanager
def s3_backend(request, tmp_path) -> Iterator[Backend]:
    location = request.getfixturevalue("s3_target").location()
    endpoint = location.endpoint or ""
    if endpoint not in _FORMS:
        _FORMS[endpoint] = s3.check_location(location)
    unquoted = _FORMS[endpoint]

    def reopen() -> Backend:
        client = s3.connect(location, retry_seconds=10)
        return Backend(s3.S3Objects(client), s3.S3Refs(client, unquoted_if_match=unquoted), reopen)

    yield reopen()


register("s3", s3_backend)
