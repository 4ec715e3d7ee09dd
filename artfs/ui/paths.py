"""File paths in URLs.  A version's paths are bytes and need not be UTF-8, so they
travel percent-encoded byte for byte and are read back from the raw query string:
the decoded one would have replaced what is not UTF-8."""

from urllib.parse import parse_qsl, quote_from_bytes, unquote_to_bytes


def quote(path: bytes | str) -> str:
    """For a URL: a path's bytes (or a text's UTF-8) percent-encoded, '/' kept."""
    return quote_from_bytes(path.encode() if isinstance(path, str) else path, safe="/")


def query_bytes(query_string: bytes, key: str) -> bytes:
    """The first value of ``key`` in a raw query string, as the bytes it encodes."""
    want = key.encode()
    for pair in query_string.split(b"&"):
        name, _, value = pair.partition(b"=")
        if unquote_to_bytes(name.replace(b"+", b" ")) == want:
            return unquote_to_bytes(value.replace(b"+", b" "))
    return b""


def shown(path: bytes) -> str:
    """A path as text on a page: bytes that are not UTF-8 appear as \\xNN escapes."""
    return path.decode("utf-8", "backslashreplace")


def parts(path: bytes) -> list[tuple[str, bytes]]:
    """(name shown, path up to it) of each directory of ``path``: the breadcrumbs."""
    out, here = [], b""
    for part in filter(None, path.split(b"/")):
        here = here + b"/" + part if here else part
        out.append((shown(part), here))
    return out


def form(body: bytes) -> dict[str, str]:
    """A urlencoded form body (every field once); text fields only, so UTF-8."""
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
