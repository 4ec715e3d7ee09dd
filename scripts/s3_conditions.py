"""Does an S3 server enforce conditional writes?  Each request and the server's answer.

    python scripts/s3_conditions.py BUCKET

The server and keys are the contract suite's: ARTFS_TEST_S3_ENDPOINT,
ARTFS_TEST_S3_ACCESS_KEY, ARTFS_TEST_S3_SECRET_KEY (tests/s3server.py).  On one fresh
key: a create-only PUT (If-None-Match: *) twice; a PUT with the current ETag in
If-Match as the server's ETag header gave it (quoted, as RFC 7232 writes entity tags
and as obstore sends them), then bare (without the quotes); a PUT with the stale ETag,
quoted and bare; a DELETE with the stale and then the current ETag.  The requests are
presigned (obstore signs them) and sent as they are, so what is printed is the HTTP
status and S3 error code the server chose.

Each answer is marked ok (S3's), WRONG (not S3's, where artfs needs S3's: such a server
is refused by 'artfs remote add'), or "differs" (not S3's, where artfs copes: a server
that refuses the quoted current ETag but enforces the bare one gets If-Match bare, see
artfs/store/s3.py; and artfs deletes nothing conditionally, so If-Match on DELETE is
only reported).  Debian 12's Ceph RGW 16.2.15 differs in two: the quoted current ETag
refused (412), the DELETE with a stale ETag carried out (204).  Exits 1 if any answer
is WRONG.
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
    wrong = differs = 0

    def step(method, header, value, state, expected, body=b"", copes=""):
        """``copes``: why artfs works with another answer (empty: it needs S3's)."""
        nonlocal wrong, differs
        status, detail, etag = send(client, method, key, {header: value}, body)
        if status == expected:
            verdict = "ok"
        elif copes:
            verdict = f"differs: S3 answers {expected}; artfs copes, {copes}"
            differs += 1
        else:
            verdict = f"WRONG: S3 answers {expected}; artfs needs that"
            wrong += 1
        print(f"  {method:6} {header}: {value:34}  ({state}) -> {status} {detail}  [{verdict}]")
        return etag if status == expected == 200 else ""

    deletes = "it never deletes conditionally"
    try:
        first = step("PUT", "If-None-Match", "*", "key absent", 200, b"1")
        step("PUT", "If-None-Match", "*", "key exists", 412, b"2")
        # The quoted form may be refused if the bare one is enforced, and the other way.
        quoted = step("PUT", "If-Match", first, "ETag current", 200, b"3", "sending it bare")
        current = quoted or first
        unquoted = "sending it quoted" if quoted else ""
        bare = step(
            "PUT", "If-Match", current.strip('"'), "ETag current, bare", 200, b"4", unquoted
        )
        step("PUT", "If-Match", first, "ETag stale", 412, b"5", "" if quoted else "it goes bare")
        step("PUT", "If-Match", first.strip('"'), "ETag stale, bare", 412, b"6", unquoted)
        step("DELETE", "If-Match", first, "ETag stale", 412, copes=deletes)
        step("DELETE", "If-Match", bare or current, "ETag current", 204, copes=deletes)
    finally:
        obstore.delete(client, key)  # whatever the answers, leave no probe behind
    if wrong:
        print(f"conditional writes: {wrong} answer(s) wrong")
    else:
        form = "If-Match quoted" if quoted else "If-Match bare"
        rest = f"; {differs} answer(s) differ from S3 where artfs copes" if differs else ""
        print(f"conditional writes: enforced ({form}){rest}")
    return 1 if wrong else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
