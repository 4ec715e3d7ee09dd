"""Content-defined chunking: cut points depend on content, not offsets.

An insertion in the middle of a large file moves the bytes after it, but the
FastCDC cut points move with them, so only the chunks around the edit change.
Files smaller than the minimum chunk are one chunk: their chunk digest is the
file's digest and they need no chunk list.
"""

from collections.abc import Iterator
from typing import BinaryIO

import pyfastcdc

MIN_CHUNK = 256 * 1024
AVG_CHUNK = 1024 * 1024  # FastCDC's average is avg + min, about 1.25 MiB here
MAX_CHUNK = 4 * 1024 * 1024



def _cdc() -> pyfastcdc.FastCDC:
    # A FastCDC object keeps state while cutting; it is cheap, so one per call.
    return pyfastcdc.FastCDC(AVG_CHUNK, min_size=MIN_CHUNK, max_size=MAX_CHUNK)


def chunks_of_stream(stream: BinaryIO) -> Iterator[memoryview]:
    """Chunks of a stream; each view is valid only until the next one is produced."""
    for chunk in _cdc().cut_stream(stream):
        yield chunk.data


def chunks_of_bytes(data: bytes | memoryview) -> Iterator[memoryview]:
    for chunk in _cdc().cut_buf(data):
        yield chunk.data
