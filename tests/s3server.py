"""moto's S3 server on loopback, for the S3 backend's tests and scripts/bench_s3.py.

It runs moto's own WSGI application in a child process, served one request at a
time: moto checks If-None-Match / If-Match and then stores, without a lock, so
under its threaded server two racing conditional PUTs could both pass the check;
served serially, every request is atomic, as it is on S3.  A small middleware
counts requests by kind (GET /_counts answers them as JSON) and the bytes of request
and answer bodies (GET /_bytes: {"sent": ..., "received": ...}, as the clients see
it); DELETE /_counts resets both, so a benchmark can report what went over the wire.

Run as ``python -m tests.s3server PORT``.

``ExternalS3`` stands for a server run by someone else (scripts/ceph-rgw.sh's Ceph
RGW, say), named by the environment: ARTFS_TEST_S3_ENDPOINT, ARTFS_TEST_S3_ACCESS_KEY,
ARTFS_TEST_S3_SECRET_KEY and, if not us-east-1, ARTFS_TEST_S3_REGION.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Mapping

from artfs.store.s3config import DEFAULT_REGION, S3Location

COUNTS_PATH = "/_counts"  # no bucket can be named "_counts": names start with a letter
BYTES_PATH = "/_bytes"


def free_port() -> int:
    """A loopback port nobody listens on now: two suites on one machine must not meet."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class S3Server:
    """The server process: ``start()``, then ``url``, ``bucket()`` or ``location()``,
    ``counts()``, ``body_bytes()``, ``stop()``."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen | None = None
        self._buckets = 0

    def start(self) -> "S3Server":
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.s3server", str(self.port)],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.counts()
                return self
            except OSError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto's S3 server did not start on {self.url}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=30)
            self._proc = None

    def bucket(self, name: str = "") -> str:
        """Create a fresh bucket and return its name."""
        self._buckets += 1
        name = name or f"bucket-{os.getpid()}-{self._buckets}"
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/{name}", method="PUT"))
        return name

    def location(self, prefix: str = "store") -> S3Location:
        """A fresh bucket's ``s3://BUCKET/PREFIX`` on this server, with dummy keys."""
        return S3Location(self.bucket(), prefix, self.url, "us-east-1", "testing", "testing")

    def counts(self) -> Counter:
        """Requests served since the last reset, by kind (GET, PUT, HEAD, DELETE, LIST...)."""
        with urllib.request.urlopen(self.url + COUNTS_PATH, timeout=5) as answer:
            return Counter(json.load(answer))

    def body_bytes(self) -> Counter:
        """Bytes of request bodies ("sent", by Content-Length) and of answer bodies
        ("received") since the last reset."""
        with urllib.request.urlopen(self.url + BYTES_PATH, timeout=5) as answer:
            return Counter(json.load(answer))

    def reset_counts(self) -> None:
        request = urllib.request.Request(self.url + COUNTS_PATH, method="DELETE")
        urllib.request.urlopen(request, timeout=5).close()


class ExternalS3:
    """An S3 endpoint this process did not start: ``bucket()`` and ``location()`` as
    S3Server's, each bucket made by a signed CreateBucket (boto3, a test dependency
    through moto, signs it), and ``remove_buckets()`` for the ones it made."""

    def __init__(self, url: str, access_key: str, secret_key: str, region: str) -> None:
        import boto3
        from botocore.config import Config

        self.url, self.region = url, region
        self.access_key, self.secret_key = access_key, secret_key
        self._client = boto3.client(
            "s3",
            endpoint_url=url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(s3={"addressing_style": "path"}),  # as artfs addresses it
        )
        self._made: list[str] = []

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ExternalS3 | None":
        """The server ARTFS_TEST_S3_ENDPOINT names, or None if it is not set."""
        env = os.environ if env is None else env
        url = env.get("ARTFS_TEST_S3_ENDPOINT")
        if not url:
            return None
        access_key = env.get("ARTFS_TEST_S3_ACCESS_KEY")
        secret_key = env.get("ARTFS_TEST_S3_SECRET_KEY")
        if not (access_key and secret_key):
            raise RuntimeError(
                "ARTFS_TEST_S3_ENDPOINT is set, but not ARTFS_TEST_S3_ACCESS_KEY and "
                "ARTFS_TEST_S3_SECRET_KEY; set both, or unset it to test on moto"
            )
        return cls(url, access_key, secret_key, env.get("ARTFS_TEST_S3_REGION") or DEFAULT_REGION)

    def bucket(self, name: str = "") -> str:
        """Create a fresh bucket and return its name.  The server outlives this process,
        so the default name is random: no earlier run can have left it behind."""
        name = name or f"artfs-test-{uuid.uuid4().hex[:16]}"
        self._client.create_bucket(Bucket=name)
        self._made.append(name)
        return name

    def location(self, prefix: str = "store") -> S3Location:
        """A fresh bucket's ``s3://BUCKET/PREFIX`` on this server, with its keys."""
        return self.location_of(self.bucket(), prefix)

    def location_of(self, bucket: str, prefix: str) -> S3Location:
        return S3Location(bucket, prefix, self.url, self.region, self.access_key, self.secret_key)

    def remove_buckets(self) -> None:
        """Empty and delete every bucket made here: a shared server keeps no litter.  One
        plain DELETE per key, the request every S3 server takes alike."""
        while self._made:
            name = self._made.pop()
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=name)
            for page in pages:
                for item in page.get("Contents", []):
                    self._client.delete_object(Bucket=name, Key=item["Key"])
            self._client.delete_bucket(Bucket=name)


def counting(app, counts: Counter, sizes: Counter):
    """WSGI middleware: count each request by kind and its body's and answer's bytes,
    answer the counters' own paths."""

    def counted(environ, start_response):
        if environ["PATH_INFO"] in (COUNTS_PATH, BYTES_PATH):
            if environ["REQUEST_METHOD"] == "DELETE":
                counts.clear()
                sizes.clear()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(counts if environ["PATH_INFO"] == COUNTS_PATH else sizes).encode()]
        counts[_kind(environ)] += 1
        sizes["sent"] += int(environ.get("CONTENT_LENGTH") or 0)
        answer = app(environ, start_response)
        if environ["REQUEST_METHOD"] == "HEAD":  # the server sends no body
            return answer
        return _measured(answer, sizes)

    return counted


def _measured(answer, sizes: Counter):
    try:
        for part in answer:
            sizes["received"] += len(part)
            yield part
    finally:
        if hasattr(answer, "close"):
            answer.close()


def _kind(environ) -> str:
    method, query = environ["REQUEST_METHOD"], environ.get("QUERY_STRING", "")
    if method == "GET" and "list-type" in query:
        return "LIST"
    if method == "GET" and environ.get("HTTP_RANGE"):
        return "GET-RANGE"
    if method == "PUT" and ("HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MATCH" in environ):
        return "PUT-CONDITIONAL"
    return method


def serve(port: int) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = counting(DomainDispatcherApplication(create_backend_app), Counter(), Counter())
    make_server(
        "127.0.0.1", port, app, threaded=False, request_handler=MotoRequestHandler
    ).serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
