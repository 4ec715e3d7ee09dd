"""moto's S3 server on loopback, for the S3 backend's tests and scripts/bench_s3.py.

It runs moto's own WSGI application in a child process, served one request at a
time: moto checks If-None-Match / If-Match and then stores, without a lock, so
under its threaded server two racing conditional PUTs could both pass the check;
served serially, every request is atomic, as it is on S3.  A small middleware
counts requests by kind (GET /_counts answers them as JSON) and the bytes of request
and answer bodies (GET /_bytes: {"sent": ..., "received": ...}, as the clients see
it); DELETE /_counts resets both, so a benchmark can report what went over the wire.

Run as ``python -m tests.s3server PORT``.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter

from artfs.store.s3config import S3Location

COUNTS_PATH = "/_counts"  # no bucket can be named "_counts": names start with a letter
BYTES_PATH = "/_bytes"


class S3Server:
    """The server process: ``start()``, then ``url``, ``bucket()`` or ``location()``,
    ``counts()``, ``body_bytes()``, ``stop()``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
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
