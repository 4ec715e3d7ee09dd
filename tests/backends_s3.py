"""The S3 backend in the contract suite (tests/backends.py): a fresh bucket for each
test, on the session's moto server or on the server ARTFS_TEST_S3_ENDPOINT names (the
``s3_target`` fixture, tests/conftest.py); a reopened backend is another client, as
another machine would open the same remote."""

from collections.abc import Iterator
from contextlib import contextmanager

from artfs.store import s3
from tests.backends import Backend, register


@contextmanager
def s3_backend(request, tmp_path) -> Iterator[Backend]:
    location = request.getfixturevalue("s3_target").location()

    def reopen() -> Backend:
        client = s3.connect(location, retry_seconds=10)
        return Backend(s3.S3Objects(client), s3.S3Refs(client), reopen)

    yield reopen()


register("s3", s3_backend)
