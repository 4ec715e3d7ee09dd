"""Does an S3 server enforce conditional writes?  Each request and the server's answer.

    python scripts/s3_conditions.py BUCKET

The server and keys are the contract suite's: ARTFS_TEST_S3_ENDPOINT,
ARTFS_TEST_S3_ACCESS_KEY, ARTFS_TEST_S3_SECRET_KEY (tests/s3server.py).  On one fresh
key: a create-only PUT (If-None-Match: *) twice, a PUT with the current and then the
stale ETag (If-Match), a DELETE with the stale and then the current ETag.  The requests
are presigned (obstore signs them, as artfs's conditional delete does) and sent as they
are, so what is printed is the HTTP status and S3 error code the server chose.  An
ETag goes back as the server's ETag header gave it: quoted, as RFC 7232 writes entity
tags and as obstore (so artfs) sends them.  Exits 1 if any answer is not S3's.
"""

import os
import re
import sys
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

import obstore

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from artfs.store import s3  # noqa: E402
from tests.s3server import ExternalS3  # noqa: E402


def send(client, method: str, path: str, headers: dict, body: bytes = b"") -> tuple[int, str, str]:
    """(status, reason and S3 error code, ETag) of one presigned request."""
    url = obstore.sign(client, method, path, timedelta(minutes=5))
    # A body without a Content-Type would go as a form (urllib), which servers may parse.
    headers = {**headers, "Content-Type": "application/octet-stream"}
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.reason, answer.headers.get("ETag", "")
    except urllib.error.HTTPError as exc:
        with exc:
            code = re.search(rb"<Code>([^<]+)</Code>", exc.read())
            detail = f"{exc.reason} ({code.group(1).decode()})" if code else exc.reason
            return exc.code, detail, ""


def main(bucket: str) -> int:
    server = ExternalS3.from_env()
    if server is None:
        sys.exit("set ARTFS_TEST_S3_ENDPOINT, ARTFS_TEST_S3_ACCESS_KEY, ARTFS_TEST_S3_SECRET_KEY")
    client = s3.connect(server.location_of(bucket, ""), retry_seconds=10)
    key = f"probe/conditions-{uuid.uuid4().hex}"
    print(f"conditional requests on {server.url}/{bucket}/{key}:")
    wrong = 0

    def step(method: str, header: str, value: str, state: str, expected: int, body=b""):
        nonlocal wrong
        status, detail, etag = send(client, method, key, {header: value}, body)
        verdict = "ok" if status == expected else f"WRONG: S3 answers {expected}"
        wrong += status != expected
        print(f"  {method:6} {header}: {value:34}  ({state}) -> {status} {detail}  [{verdict}]")
        return etag

    try:
        first = step("PUT", "If-None-Match", "*", "key absent", 200, b"1")
        step("PUT", "If-None-Match", "*", "key exists", 412, b"2")
        second = step("PUT", "If-Match", first, "ETag current", 200, b"3")
        step("PUT", "If-Match", first, "ETag stale", 412, b"4")
        step("DELETE", "If-Match", first, "ETag stale", 412)
        step("DELETE", "If-Match", second or first, "ETag current", 204)
    finally:
        obstore.delete(client, key)  # whatever the answers, leave no probe behind
    print("conditional writes:", "enforced" if not wrong else f"{wrong} answer(s) wrong")
    return 1 if wrong else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
