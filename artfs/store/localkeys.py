"""How the storage interfaces' string keys name places in today's store directory.

An existing store must read through the local backends with no conversion, so each
key maps onto the layout of docs/format.md: ``chunks/<hex>`` to a chunk file, other
object keys and every reference key to one LMDB database and the binary key meta.py
writes there (``refs/versions/ds/7`` is ``versions[b"ds\\0" u32be(7)]``).  The table
below is the whole mapping; docs/format.md ("Storage interfaces") shows it for people.
"""

import functools
import re
from dataclasses import dataclass

from artfs.errors import CorruptData, UsageError

NAME, NUM, HEX16, HEX32 = "name", "num", "hex16", "hex32"
TITLE = "title"  # a collection's name: a name that may also hold spaces (W&B's registered models)
_NUM_BYTES = 4  # u32be: a version number in a key
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_TEXT_RE = {NAME: _NAME_RE, TITLE: re.compile(r"[A-Za-z0-9_. -]{1,128}")}
_NUM_RE = re.compile(r"0|[1-9][0-9]{0,9}")
_HEX_RE = {HEX16: re.compile(r"[0-9a-f]{32}"), HEX32: re.compile(r"[0-9a-f]{64}")}
_HEX_BYTES = {HEX16: 16, HEX32: 32}


@dataclass(frozen=True)
class Layout:
    """One LMDB database's keys: fields (names, numbers, digests) and the separator
    bytes between them, in the order meta.py packs them."""

    db: str
    parts: tuple  # field kinds (str) and separators (bytes)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(p for p in self.parts if isinstance(p, str))


_SEP = b"\0"
OBJECT_LAYOUTS = {
    "attrs": Layout("attrs", (HEX32,)),
    "chunk-index": Layout("chunks", (HEX32,)),  # "this chunk file is whole and durable"
    "filemaps": Layout("filemaps", (HEX32,)),
    "trees": Layout("trees", (HEX32,)),
}
CHUNK_FILES = "chunks"  # chunks/<hex>: a file, not a database
REF_LAYOUTS = {
    "aliases": Layout("aliases", (NAME, _SEP, NAME)),
    "artifacts": Layout("artifacts", (NAME,)),
    "collections": Layout("collections", (NAME, b"/", TITLE)),
    "consumers": Layout("consumers", (NAME, _SEP, NUM, _SEP, NAME)),
    "info": Layout("info", (NAME,)),
    "input_files": Layout("input_files", (NAME, _SEP, NAME, _SEP, NUM, HEX16)),
    "inputs": Layout("inputs", (NAME, _SEP, NAME, _SEP, NUM)),
    "outputs": Layout("outputs", (NAME, _SEP, NAME, _SEP, NUM)),
    "running": Layout("running", (NAME,)),
    "runs": Layout("runs", (NAME,)),
    "versions": Layout("versions", (NAME, _SEP, NUM)),
}
REFS = "refs"  # every reference key starts refs/<table>/


def _bad_key(key: str, why: str) -> UsageError:
    return UsageError(
        f"{key!r} is not a key of the local store ({why}); see docs/format.md, 'Storage interfaces'"
    )


def is_digest(text: str) -> bool:
    return _HEX_RE[HEX32].fullmatch(text) is not None


def chunk_name(key: str) -> str:
    """The 64 hex digits of a ``chunks/<hex>`` key."""
    name = key[len(CHUNK_FILES) + 1 :]
    if not is_digest(name):
        raise _bad_key(key, "a chunk is named by 64 lowercase hex digits")
    return name


def split(key: str, layouts: dict[str, Layout], skip: int) -> tuple[Layout, list[str]]:
    """The layout a key's table names and the key's fields after it (``skip`` leading
    parts: 1 for objects, 2 for ``refs/<table>``)."""
    parts = key.split("/")
    table = parts[skip - 1] if len(parts) >= skip else ""
    layout = layouts.get(table)
    if layout is None or (skip == 2 and parts[0] != REFS):
        raise _bad_key(key, f"no table {table!r}")
    return layout, parts[skip:]


def encode(key: str, layout: Layout, fields: list[str]) -> bytes:
    """The LMDB key for a string key's fields."""
    if len(fields) != len(layout.fields):
        raise _bad_key(key, f"{layout.db} keys have {len(layout.fields)} parts after the table")
    out, values = [], iter(fields)
    for part in layout.parts:
        if isinstance(part, bytes):
            out.append(part)
        else:
            out.append(_encode_field(key, part, next(values)))
    return b"".join(out)


def _encode_field(key: str, kind: str, text: str) -> bytes:
    if kind in _TEXT_RE and _TEXT_RE[kind].fullmatch(text):
        return text.encode("ascii")
    if kind == NUM and _NUM_RE.fullmatch(text) and int(text) < 1 << 32:
        return int(text).to_bytes(_NUM_BYTES, "big")
    if kind in _HEX_RE and _HEX_RE[kind].fullmatch(text):
        return bytes.fromhex(text)
    raise _bad_key(key, f"{text!r} is not a {kind}")


def decode(raw: bytes, layout: Layout) -> list[str]:
    """The string fields of an LMDB key; CorruptData for a key no artfs writes."""
    fields, pos = [], 0
    for i, part in enumerate(layout.parts):
        if isinstance(part, bytes):
            if raw[pos : pos + len(part)] != part:
                raise _damaged(raw, layout)
            pos += len(part)
        elif part in _TEXT_RE:
            end = _name_end(raw, pos, layout.parts[i + 1 :])
            fields.append(raw[pos:end].decode("ascii", "replace"))
            pos = end
        else:
            width = _NUM_BYTES if part == NUM else _HEX_BYTES[part]
            chunk = raw[pos : pos + width]
            if len(chunk) != width:
                raise _damaged(raw, layout)
            fields.append(str(int.from_bytes(chunk, "big")) if part == NUM else chunk.hex())
            pos += width
    if pos != len(raw) or not all(
        _TEXT_RE[kind].fullmatch(f)
        for f, kind in zip(fields, layout.fields, strict=True)
        if kind in _TEXT_RE
    ):
        raise _damaged(raw, layout)
    return fields


def _name_end(raw: bytes, pos: int, rest: tuple) -> int:
    """Where a name field ends: at the next separator, else before the fixed-width
    fields that close the key, else at the key's end."""
    sep = next((p for p in rest if isinstance(p, bytes)), None)
    if sep is not None:
        end = raw.find(sep, pos)
        return len(raw) if end < 0 else end
    return len(raw) - sum(_NUM_BYTES if p == NUM else _HEX_BYTES[p] for p in rest)


def byte_prefix(layout: Layout, fields: list[str]) -> bytes:
    """A prefix of the LMDB key of every string key whose fields start with ``fields``
    (the last one possibly cut short): only a narrowing of the scan, whose keys are
    still compared as strings, so it stops at the first field it cannot encode whole."""
    out, values = [], list(fields)
    for part in layout.parts:
        if isinstance(part, bytes):
            out.append(part)
            continue
        if not values:
            break
        text = values.pop(0)
        partial = not values
        if part in _TEXT_RE and _TEXT_RE[part].fullmatch(text or "x"):
            out.append(text.encode("ascii"))
        elif part in _HEX_RE and re.fullmatch(r"[0-9a-f]*", text):
            out.append(bytes.fromhex(text[: len(text) // 2 * 2]))  # whole bytes only
        elif part == NUM and not partial and _NUM_RE.fullmatch(text) and int(text) < 1 << 32:
            out.append(int(text).to_bytes(_NUM_BYTES, "big"))
        else:
            break
        if partial:
            break
    return b"".join(out)


def damaged_key(raw: bytes, layout: Layout) -> CorruptData:
    """The error for an LMDB key of ``layout``'s database that does not decode."""
    return _damaged(raw, layout)


def _damaged(raw: bytes, layout: Layout) -> CorruptData:
    return CorruptData(
        f"a key {raw[:60]!r} of the {layout.db} database is damaged; run "
        "'artfs verify' and restore STORE/meta from a backup"
    )


# A key's place is a pure function of it, and readers ask for the same few (a mount
# rereads the same version records): caching saves most of the mapping's cost.
@functools.lru_cache(maxsize=1 << 16)
def ref_place(key: str) -> tuple[str, bytes]:
    """(database, LMDB key) of a reference key."""
    layout, fields = split(key, REF_LAYOUTS, 2)
    return layout.db, encode(key, layout, fields)


@functools.lru_cache(maxsize=1 << 12)
def ref_prefix(table: str, rest: str) -> tuple[bytes, bool]:
    """(LMDB key prefix, exact) of the reference keys ``refs/TABLE/`` + ``rest`` starts:
    ``byte_prefix`` of its fields, and whether exactly those keys (and damaged ones)
    start with it: ``rest`` ends at a field, each field before encoded whole."""
    layout = REF_LAYOUTS[table]
    fields = rest.split("/")
    narrow = byte_prefix(layout, fields)
    complete = fields[:-1]
    exact = fields[-1] == "" and len(complete) < len(layout.fields)
    if exact:
        try:
            whole = encode(rest, Layout(layout.db, _head(layout, len(complete))), complete)
        except UsageError:
            return narrow, False
        exact = whole == narrow
    return narrow, exact


def _head(layout: Layout, fields: int) -> tuple:
    """The parts of a layout up to its ``fields``-th field and the separator after it."""
    parts, seen = [], 0
    for part in layout.parts:
        if isinstance(part, str):
            if seen == fields:
                break
            seen += 1
        parts.append(part)
    return tuple(parts)


_DECODED: dict[str, dict[bytes, str]] = {table: {} for table in REF_LAYOUTS}
_DECODED_MAX = 1 << 16  # keys kept per table; then it starts again


def ref_key(raw: bytes, table: str) -> str:
    """The string key of an LMDB key of a reference table (``refs/TABLE/...``), the
    inverse of ``ref_place``; CorruptData for a key no artfs writes.  Listings decode
    the same keys again and again (every look at an artifact lists its versions):
    a dictionary per table makes that one lookup (cheaper than functools' cache)."""
    known = _DECODED[table]
    key = known.get(raw)
    if key is None:
        key = f"{REFS}/{table}/" + "/".join(decode(raw, REF_LAYOUTS[table]))
        if len(known) >= _DECODED_MAX:
            known.clear()
        known[raw] = key
    return key


_OBJECT_DBS = {table: layout.db for table, layout in OBJECT_LAYOUTS.items()}


def object_place(key: str) -> tuple[str, bytes] | str:
    """(database, LMDB key) of an object key, or the 64 hex digits of a chunk file's.
    A commit asks for thousands of digests once each, where no cache helps: the usual
    key (a table, 64 lowercase hex digits) is mapped without regular expressions."""
    table, _, name = key.partition("/")
    db = _OBJECT_DBS.get(table)
    if db is not None and len(name) == 64 and name == name.lower():
        try:
            raw = bytes.fromhex(name)
        except ValueError:
            raw = b""  # not hex: refused below, with the reason
        if len(raw) == 32:  # (fromhex skips spaces)
            return db, raw
    return _object_place(key)


@functools.lru_cache(maxsize=1 << 12)
def _object_place(key: str) -> tuple[str, bytes] | str:
    if key.startswith(CHUNK_FILES + "/"):
        return chunk_name(key)
    layout, fields = split(key, OBJECT_LAYOUTS, 1)
    return layout.db, encode(key, layout, fields)
