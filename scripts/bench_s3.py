"""What the S3 backend costs on moto's server on loopback: requests (counted at the
server), wall time and this process's CPU per request, so the pack design has numbers.

    .venv/bin/python scripts/bench_s3.py [--port 18640]

The boto3 rows (boto3 comes with moto, a test dependency) do the same requests through
the client artfs did not choose, for its CPU per request.

Loopback moto is an in-memory stand-in: its wall times measure moto's Python more
than any network, so compare rows with each other, not with AWS.  Client CPU is
obstore's alone (the server is another process).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from artfs.store import s3  # noqa: E402
from tests.s3server import S3Server  # noqa: E402

SMALL, SMALL_COUNT = 64 * 1024, 1000
PACK = 16 * 1024 * 1024
RANGE = 64 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=18640)
    port = parser.parse_args().port
    server = S3Server(port).start()
    try:
        location = server.location("bench")
        client = s3.connect(location)
        objects, refs = s3.S3Objects(client), s3.S3Refs(client)
        rows = list(_measure_all(server, objects, refs))
        rows += list(_measure_boto3(server, location))
    finally:
        server.stop()
    header = ("operation", "requests (at the server)", "wall s", "ms/req", "CPU us/req")
    print(f"{header[0]:44} {header[1]:>30} {header[2]:>8} {header[3]:>7} {header[4]:>10}")
    for name, counts, wall, cpu in rows:
        total = sum(counts.values())
        kinds = " ".join(f"{kind}={n}" for kind, n in sorted(counts.items()))
        print(
            f"{name:44} {kinds:>30} {wall:8.2f} {1000 * wall / total:7.2f} "
            f"{1e6 * cpu / total:10.0f}"
        )


def _measure_all(server, objects, refs):
    small = [os.urandom(SMALL) for _ in range(SMALL_COUNT)]
    pack = b"".join(small)[:PACK]
    yield _measure(server, "put 1,000 objects of 64 KiB", lambda: _put_each(objects, small))
    yield _measure(server, "put one 16 MiB pack", lambda: objects.put("packs/p1", pack))
    yield _measure(server, "get 1,000 objects of 64 KiB", lambda: _get_each(objects))
    yield _measure(server, "get the 16 MiB pack whole", lambda: objects.get("packs/p1"))
    yield _measure(
        server, "1,000 ranged gets of 64 KiB from the pack", lambda: _ranged(objects, 1000)
    )
    yield _measure(server, "1,000 create-only ref puts", lambda: _create_refs(refs, 1000))
    yield _measure(server, "1,000 If-Match ref puts", lambda: _replace_refs(refs, 1000))
    yield _measure(server, "token() x100 (HEAD journal)", lambda: _repeat(refs.token, 100))
    yield _measure(server, "tokens() x100 (LIST journal/)", lambda: _repeat(refs.tokens, 100))
    yield _measure(server, "LIST of the 1,000 refs x10", lambda: _repeat(_list_refs(refs), 10))


def _measure_boto3(server, location):
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket, root = location.bucket, f"{location.prefix}/{s3.OBJECTS}"
    blob = os.urandom(SMALL)

    def put_each() -> None:
        for i in range(SMALL_COUNT):
            client.put_object(Bucket=bucket, Key=f"{root}boto/{i:06d}", Body=blob)

    def get_each() -> None:
        for i in range(SMALL_COUNT):
            client.get_object(Bucket=bucket, Key=f"{root}boto/{i:06d}")["Body"].read()

    def ranged() -> None:
        for i in range(1000):
            start = (i * 7919 * RANGE) % (PACK - RANGE)
            answer = client.get_object(
                Bucket=bucket, Key=f"{root}packs/p1", Range=f"bytes={start}-{start + RANGE - 1}"
            )
            answer["Body"].read()

    yield _measure(server, "boto3: put 1,000 objects of 64 KiB", put_each)
    yield _measure(server, "boto3: get 1,000 objects of 64 KiB", get_each)
    yield _measure(server, "boto3: 1,000 ranged gets of 64 KiB", ranged)


def _measure(server, name, work):
    server.reset_counts()
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return name, server.counts(), wall, cpu


def _put_each(objects, blobs) -> None:
    for i, blob in enumerate(blobs):
        objects.put(f"chunks/{i:06d}", blob)


def _get_each(objects) -> None:
    for i in range(SMALL_COUNT):
        objects.get(f"chunks/{i:06d}")


def _ranged(objects, count: int) -> None:
    for i in range(count):
        objects.get("packs/p1", (i * 7919 * RANGE) % (PACK - RANGE), RANGE)


def _create_refs(refs, count: int) -> None:
    for i in range(count):
        refs.put(f"versions/bench/{i}", f"version {i}".encode(), expect=None)


def _replace_refs(refs, count: int) -> None:
    tag = refs.put("aliases/bench/latest", b"v0", expect=None)
    for i in range(count):
        tag = refs.put("aliases/bench/latest", f"v{i + 1}".encode(), expect=tag)


def _list_refs(refs):
    return lambda: sum(1 for _ in refs.list("versions/"))


def _repeat(call, times: int) -> None:
    for _ in range(times):
        call()


if __name__ == "__main__":
    main()
