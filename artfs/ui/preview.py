"""Previews of a version's files: text, CSV/TSV as a table, JSON, W&B Tables, images.

Only the head of a file is read (``HEAD_BYTES``): a preview of a 10 GB file costs
what a preview of a small one does.  What it shows is data for the template to
escape; nothing here produces markup."""

import csv
import io
import json
from dataclasses import dataclass, field

from artfs.store.store import Store
from artfs.store.tree import FILE, REFERENCE, SYMLINK, Entry
from artfs.ui.queries import head

HEAD_BYTES = 256 * 1024  # read for a text, CSV or JSON preview
JSON_BYTES = 4 * 1024 * 1024  # parsed whole up to this size, else shown as text
IMAGE_BYTES = 20 * 1024 * 1024  # shown inline up to this size
TABLE_ROWS = 100
TEXT_LINES = 2000
HEX_BYTES = 512
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
}  # never SVG: it can carry script, so it is text here


@dataclass
class Preview:
    kind: str  # text, table, json, image, binary, symlink, reference, empty
    text: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    truncated: bool = False  # only the head is shown
    note: str = ""


def image_type(name: bytes) -> str | None:
    lower = name.lower()
    return next((t for ext, t in IMAGE_TYPES.items() if lower.endswith(ext.encode())), None)


def preview(store: Store, entry: Entry) -> Preview:
    if entry.kind == SYMLINK:
        return Preview("symlink", text=entry.target.decode("utf-8", "backslashreplace"))
    if entry.kind == REFERENCE:
        return Preview("reference", text=entry.target.decode("utf-8", "replace"))
    assert entry.kind == FILE
    if entry.size == 0:
        return Preview("empty")
    name = entry.name.lower()
    if image_type(name) and entry.size <= IMAGE_BYTES:
        return Preview("image")
    if name.endswith(b".table.json") and entry.size <= JSON_BYTES:
        found = _wandb_table(head(store, entry, JSON_BYTES))
        if found is not None:
            return found
    if name.endswith(b".json") and entry.size <= JSON_BYTES:
        found = _json(head(store, entry, JSON_BYTES))
        if found is not None:
            return found
    data = head(store, entry, HEAD_BYTES)
    truncated = entry.size > len(data)
    if name.endswith((b".csv", b".tsv")):
        found = _delimited(data, "\t" if name.endswith(b".tsv") else ",", truncated)
        if found is not None:
            return found
    return _text(data, truncated)


def _json(data: bytes) -> Preview | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None  # not JSON after all: shown as text
    return Preview("json", text=json.dumps(value, indent=2, ensure_ascii=False))


def _wandb_table(data: bytes) -> Preview | None:
    """W&B's table file: ``{"columns": [...], "data": [[...], ...]}``."""
    try:
        value = json.loads(data)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("columns"), list):
        return None
    rows = value.get("data")
    if not isinstance(rows, list):
        return None
    return Preview(
        "table",
        columns=[_cell(c) for c in value["columns"]],
        rows=[[_cell(c) for c in r] if isinstance(r, list) else [_cell(r)] for r in rows][
            :TABLE_ROWS
        ],
        truncated=len(rows) > TABLE_ROWS,
        note=f"W&B table, {len(rows)} rows",
    )


def _cell(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _delimited(data: bytes, delimiter: str, truncated: bool) -> Preview | None:
    text = _decoded(data, truncated)
    if text is None:
        return None
    lines = text.splitlines()
    if truncated and lines:
        lines = lines[:-1]  # the head may end inside a row
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    try:
        table = [row for _, row in zip(range(TABLE_ROWS + 1), reader, strict=False)]
    except csv.Error:
        return None
    if not table:
        return None
    return Preview(
        "table",
        columns=table[0],
        rows=table[1 : TABLE_ROWS + 1],
        truncated=truncated or len(table) > TABLE_ROWS,
        note=f"first {min(len(table) - 1, TABLE_ROWS)} rows",
    )


def _decoded(data: bytes, truncated: bool) -> str | None:
    """UTF-8 text, or None for binary (a NUL, or not UTF-8 but for a cut at the end)."""
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        if truncated and e.start >= len(data) - 3:
            return data[: e.start].decode("utf-8")  # the head cut a character in two
        return None


def _text(data: bytes, truncated: bool) -> Preview:
    text = _decoded(data, truncated)
    if text is None:
        return Preview("binary", text=_hexdump(data[:HEX_BYTES]), truncated=True)
    lines = text.split("\n")
    if len(lines) > TEXT_LINES:
        return Preview("text", text="\n".join(lines[:TEXT_LINES]), truncated=True)
    return Preview("text", text=text, truncated=truncated)


def _hexdump(data: bytes) -> str:
    lines = []
    for offset in range(0, len(data), 16):
        row = data[offset : offset + 16]
        shown = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"{offset:08x}  {row.hex(' '):<47}  {shown}")
    return "\n".join(lines)
