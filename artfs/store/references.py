"""Data outside the store, recorded by reference (``Artifact.add_reference``).

``probe`` learns what can be known of a URI when it is added (size, BLAKE3 digest;
a ``file://`` directory gives one reference per file), ``blocks`` fetches the
bytes when a version is downloaded and checks them against what was recorded.
``file://`` and ``http(s)://`` are read here; other schemes (``s3://``, ``gs://``)
are recorded as they are, with no size or digest, and cannot be fetched: artfs
holds no cloud credentials.
"""

import os
from collections.abc import Iterator
from typing import NamedTuple
from urllib.parse import quote, unquote, urlparse

import blake3

from artfs.errors import CommError, MissingPath, ReferenceChanged, UsageError

UNCHECKED = bytes(32)  # the digest of a reference recorded without a checksum
FETCHED = ("file", "http", "https")
_BLOCK = 1 << 20
_TIMEOUT = 60


class Found(NamedTuple):
    """One referenced object: its path below the reference's name ("" for the object
    itself), URI, size and digest."""

    rel: str
    uri: str
    size: int
    digest: bytes


def local_path(uri: str) -> str:
    """The path of a ``file://`` URI."""
    return unquote(urlparse(uri).path)


def probe(uri: str, checksum: bool = True, max_objects: int | None = None) -> list[Found]:
    scheme = urlparse(uri).scheme
    if not scheme:
        raise UsageError(f"{uri!r} is not a URI; to reference a local file use file:///abs/path")
    if scheme == "file":
        return _probe_file(uri, checksum, max_objects)
    if scheme in ("http", "https") and checksum:
        size, digest = _hash(_http_blocks(uri))
        return [Found("", uri, size, digest)]
    return [Found("", uri, 0, UNCHECKED)]  # nothing to learn offline


def _probe_file(uri: str, checksum: bool, max_objects: int | None) -> list[Found]:
    path = local_path(uri)
    if os.path.isfile(path):
        return [_local(path, "", uri, checksum)]
    if not os.path.isdir(path):
        raise MissingPath(f"{uri}: {path} is neither a file nor a directory")
    found: list[Found] = []
    for folder, dirs, files in os.walk(path, followlinks=True):  # W&B follows links
        dirs.sort()
        for name in sorted(files):
            if max_objects is not None and len(found) >= max_objects:
                raise UsageError(
                    f"{uri} holds more than max_objects={max_objects} files; "
                    "pass a larger max_objects to add_reference"
                )
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, path).replace(os.sep, "/")
            found.append(_local(full, rel, "file://" + quote(full), checksum))
    return found


def _local(path: str, rel: str, uri: str, checksum: bool) -> Found:
    if not checksum:
        return Found(rel, uri, os.path.getsize(path), UNCHECKED)
    size, digest = _hash(_file_blocks(uri))
    return Found(rel, uri, size, digest)


def _hash(blocks: Iterator[bytes]) -> tuple[int, bytes]:
    h, size = blake3.blake3(), 0
    for block in blocks:
        h.update(block)
        size += len(block)
    return size, h.digest()


def blocks(uri: str, size: int, digest: bytes) -> Iterator[bytes]:
    """The referenced bytes, checked against the recorded size and digest (unless it was
    recorded without a checksum)."""
    scheme = urlparse(uri).scheme
    if scheme not in FETCHED:
        raise CommError(
            f"cannot fetch {uri}: artfs has no {scheme}:// client or credentials; "
            "copy the object into the artifact, or reference it by file:// or "
            "https://"
        )
    h, got = blake3.blake3(), 0
    for block in _file_blocks(uri) if scheme == "file" else _http_blocks(uri):
        h.update(block)
        got += len(block)
        yield block
    if digest != UNCHECKED and (got != size or h.digest() != digest):
        raise ReferenceChanged(
            f"referenced file {uri} changed since it was recorded "
            f"(size {size} → {got}); log a new version of it"
        )


def _file_blocks(uri: str) -> Iterator[bytes]:
    try:
        with open(local_path(uri), "rb") as f:
            while block := f.read(_BLOCK):
                yield block
    except FileNotFoundError:
        raise MissingPath(f"referenced file {uri} no longer exists") from None
    except OSError as e:
        raise CommError(f"cannot read referenced file {uri}: {e.strerror}") from None


def _http_blocks(uri: str) -> Iterator[bytes]:
    import urllib.error  # here: with http.client and email, a fifth of every command's start
    import urllib.request

    try:
        with urllib.request.urlopen(uri, timeout=_TIMEOUT) as response:
            while block := response.read(_BLOCK):
                yield block
    except urllib.error.HTTPError as e:
        raise CommError(f"cannot fetch {uri}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
        raise CommError(f"cannot fetch {uri}: {reason}") from None
