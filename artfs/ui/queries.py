"""What the pages show, read from the store: plain dicts and lists for the templates.

Every function takes the Store and reads with fresh transactions, so a version
committed or a run finished elsewhere is there on the next load.  Trees are
immutable, so what is derived from two of them alone (the bytes new in a version)
is cached by their digests."""

import json
import math
from dataclasses import dataclass

from artfs.errors import ArtfsError, NotFound
from artfs.store import retention
from artfs.store import runs as runs_mod
from artfs.store.diff import Change, diff
from artfs.store.names import LATEST, check_name, check_run_id
from artfs.store.store import Store, Version
from artfs.store.tree import DIR, Entry

VERSIONS_PAGE = 50  # rows of an artifact's versions table
FILES_PAGE = 200  # entries of a directory listing
RUNS_PAGE = 50
RECENT_RUNS = 10  # on the front page
METADATA_ROWS = 500  # a version's metadata table; the JSON below it has the rest


@dataclass
class Page:
    """One page of a long list, with what the pager links need."""

    items: list
    number: int  # from 1
    count: int  # pages in all
    total: int  # items in all

    @classmethod
    def of(cls, items: list, number: int, size: int) -> "Page":
        count = max(1, math.ceil(len(items) / size))
        number = min(max(1, number), count)
        return cls(items[(number - 1) * size : number * size], number, count, len(items))


def page_number(text: str | None) -> int:
    try:
        return max(1, int(text or 1))
    except ValueError:
        return 1


# --- artifacts ------------------------------------------------------------------


def artifact_rows(store: Store, query: str = "") -> tuple[dict[str, list[dict]], list[str]]:
    """The front page's artifacts by type, those matching ``query`` (a substring of a
    name, an alias or a version's metadata); and what could not be read."""
    damage: list[str] = []
    groups: dict[str, list[dict]] = {}
    needle = query.strip().lower()
    for name in sorted(store.artifact_names(damage)):
        versions = [v for v in store.versions(name) if v.damage is None]
        if not versions or (needle and not _matches(name, versions, needle)):
            continue
        latest = versions[-1]
        row = {
            "name": name,
            "type": latest.type,
            "count": len(versions),
            "latest": latest,
            "aliases": sorted({a for v in versions for a in v.aliases if a != LATEST}),
            "size": latest.size,
            "changed": max(max(v.created, v.record.get("updated") or 0) for v in versions),
        }
        groups.setdefault(latest.type, []).append(row)
    return dict(sorted(groups.items())), damage


def _matches(name: str, versions: list[Version], needle: str) -> bool:
    if needle in name.lower():
        return True
    for v in versions:
        if any(needle in a.lower() for a in v.aliases):
            return True
        if v.metadata and needle in json.dumps(v.metadata, ensure_ascii=False).lower():
            return True
    return False


def version_of(store: Store, name: str, selector: str) -> Version:
    """``vN`` or an alias of artifact ``name``: URLs may name either."""
    check_name(name)
    return store.resolve(f"{name}:{selector}")


def version_rows(store: Store, name: str, number: int) -> tuple[Page, list[Version]]:
    """A page of an artifact's versions, newest first, each with what its table row
    shows; and every version (the page's selectors need them)."""
    versions = store.versions(name)
    newest_first = versions[::-1]
    page = Page.of(list(range(len(newest_first))), number, VERSIONS_PAGE)
    rows = []
    for i in page.items:
        v = newest_first[i]
        before = newest_first[i + 1] if i + 1 < len(newest_first) else None
        rows.append(version_row(store, v, before))
    page.items = rows
    return page, versions


def version_row(store: Store, v: Version, before: Version | None) -> dict:
    if v.damage is not None:
        return {"version": v, "damage": v.damage}
    run = _run_or_none(store, v.run) if v.run else None
    return {
        "version": v,
        "damage": None,
        "new_bytes": new_bytes_stored(store, before, v),
        "run": run,
        "consumers": runs_mod.consumers(store, v),
    }


def previous(store: Store, v: Version) -> Version | None:
    """The version a version is compared with: its base, else the one before it."""
    base = v.record.get("base")
    if base:
        try:
            return store.resolve(base)
        except ArtfsError:
            pass  # removed since: compare with the one before instead
    older = [o for o in store.versions(v.name) if o.number < v.number and o.damage is None]
    return older[-1] if older else None


def new_bytes_stored(store: Store, before: Version | None, v: Version) -> int:
    """The stored bytes of the chunks ``v`` added to the store, as its commit recorded
    them; for a version made before artfs recorded that, ``new_bytes``."""
    recorded = v.record.get("new_bytes")
    return recorded if isinstance(recorded, int) else new_bytes(store, before, v)


def new_bytes(store: Store, before: Version | None, v: Version) -> int:
    """Bytes of the files that ``v`` adds or changes against ``before``: what it costs
    beyond what they share (whole files; chunks shared inside changed files save more)."""
    if before is None or before.damage is not None:
        return v.size
    key = (before.root, v.root)  # trees are named by their content: any store's answer
    if key not in _NEW_BYTES:
        if len(_NEW_BYTES) >= 4096:
            _NEW_BYTES.pop(next(iter(_NEW_BYTES)))  # the oldest out
        _NEW_BYTES[key] = sum(c.new_size or 0 for c in diff(store, *key) if c.status != "removed")
    return _NEW_BYTES[key]


_NEW_BYTES: dict[tuple[bytes, bytes], int] = {}


# --- files ----------------------------------------------------------------------


def directory(store: Store, v: Version, path: bytes) -> Entry:
    """The directory at ``path`` in ``v``; NotFound if there is none (a file is not one)."""
    entry = store.lookup(v.root, path)
    if entry.kind != DIR:
        raise NotFound(f"{path.decode(errors='replace')} is a file, not a directory")
    return entry


def listing(store: Store, v: Version, path: bytes, number: int, needle: str = "") -> Page:
    """A page of one directory's entries (directories first), those whose name holds
    ``needle``: a directory of 100,000 files is shown 200 at a time."""
    entries = store.tree(directory(store, v, path).digest)
    if needle:
        want = needle.encode("utf-8", "surrogateescape").lower()
        entries = tuple(e for e in entries if want in e.name.lower())
    dirs = [e for e in entries if e.kind == DIR]
    ordered = dirs + [e for e in entries if e.kind != DIR] if dirs else list(entries)
    page = Page.of(ordered, number, FILES_PAGE)
    page.items = [(e, path + b"/" + e.name if path else e.name) for e in page.items]
    return page


def file_entry(store: Store, v: Version, path: bytes) -> Entry:
    """The entry at ``path`` of ``v``.  Paths are looked up in the version's own trees,
    never on disk, so no URL reaches anything outside the store's versions."""
    if not path.strip(b"/"):
        raise NotFound("give the path of a file of this version")
    entry = store.lookup(v.root, path)
    if entry.kind == DIR:
        raise NotFound(f"{path.decode(errors='replace')} is a directory; browse it instead")
    return entry


def head(store: Store, entry: Entry, limit: int) -> bytes:
    """The first ``limit`` bytes of a file, reading no more chunks than that needs."""
    out = bytearray()
    reader = store.read_file(entry)
    try:
        for chunk in reader:
            out += chunk
            if len(out) >= limit:
                break
    finally:
        close = getattr(reader, "close", None)
        if close is not None:
            close()  # a generator: stops the read-ahead of chunks not needed
    return bytes(out[:limit])


def flat_rows(value, prefix: str = "", limit: int = METADATA_ROWS) -> list[tuple[str, str]]:
    """A nested JSON object as (dotted key, JSON of a leaf) rows: a readable table."""
    rows: list[tuple[str, str]] = []
    if value in ({}, None):
        return rows

    def walk(node, key: str) -> None:
        if len(rows) >= limit:
            return
        if isinstance(node, dict) and node:
            for k in sorted(node, key=str):
                walk(node[k], f"{key}.{k}" if key else str(k))
        else:
            rows.append((key, node if isinstance(node, str) else json.dumps(node, default=str)))

    walk(value, prefix)
    return rows


def expires(store: Store, v: Version) -> float | None:
    """When ``v``'s ttl (its own, else its artifact's policy's) runs out; None: never."""
    return retention.expires_at(v, retention.policy_of(store, v.name))


def changes(store: Store, a: Version, b: Version) -> list[Change]:
    return diff(store, a.root, b.root)


# --- runs -----------------------------------------------------------------------


def _run_or_none(store: Store, rid: str) -> dict | None:
    try:
        return runs_mod.get_run(store, rid)
    except ArtfsError:
        return None  # a run recorded elsewhere and not here, or damaged: the id is shown


def recent_runs(
    store: Store, *, job_type: str | None = None, implicit: bool = False
) -> tuple[list[dict], list[str]]:
    """Runs newest first; and what could not be read."""
    damage: list[str] = []
    found = runs_mod.list_runs(store, job_type=job_type, include_implicit=implicit, damage=damage)
    return found[::-1], damage


def run_page(store: Store, rid: str) -> dict:
    """Everything the run page shows: record, metrics, inputs with files read, outputs."""
    record = runs_mod.get_run(store, check_run_id(rid))
    damage: list[str] = []
    inputs = []
    for name, number, edge in runs_mod.run_inputs(store, rid, damage):
        files = sorted(edge["files"].items())
        inputs.append(
            {
                "label": f"{name}:v{number}",
                "name": name,
                "number": number,
                "files": files,
                "bytes": sum(n for _, n in files),
                "shared": edge.get("shared", []),
            }
        )
    outputs = [
        {"label": f"{n}:v{num}", "name": n, "number": num}
        for n, num, _ in runs_mod.run_edges(store, rid, "outputs", damage)
    ]
    try:
        summary = runs_mod.get_summary(store, rid)
    except ArtfsError as e:
        summary, damage = {}, [*damage, str(e)]
    end = record.get("end")
    return {
        "run": record,
        "duration": (end - record["start"]) if end else None,
        "inputs": inputs,
        "outputs": outputs,
        "summary": summary,
        "series": metric_series(runs_mod.read_history(store, rid)),
        "damage": damage,
    }


MAX_SERIES = 24  # metrics drawn on a run page
MAX_POINTS = 400  # points of each line: a loop logs more than a page can show


def metric_series(rows: list[dict]) -> list[dict]:
    """Each numeric metric of a run's history as an SVG polyline (0..300 × 0..60)."""
    points: dict[str, list[tuple[float, float]]] = {}
    for i, row in enumerate(rows):
        step = row.get("_step", i)
        for key, value in row.items():
            if key.startswith("_") or isinstance(value, bool):
                continue
            if isinstance(value, int | float) and math.isfinite(value):
                points.setdefault(key, []).append((float(step), float(value)))
    return [_line(key, pts) for key, pts in sorted(points.items())[:MAX_SERIES]]


def _line(key: str, pts: list[tuple[float, float]]) -> dict:
    every = max(1, len(pts) // MAX_POINTS)
    shown = pts[::every] + ([pts[-1]] if (len(pts) - 1) % every else [])
    xs, ys = [p[0] for p in shown], [p[1] for p in shown]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx = 300 / (x1 - x0) if x1 > x0 else 0
    sy = 56 / (y1 - y0) if y1 > y0 else 0
    coords = " ".join(f"{(x - x0) * sx:.1f},{58 - (y - y0) * sy:.1f}" for x, y in shown)
    return {"key": key, "points": coords, "last": pts[-1][1], "min": y0, "max": y1, "n": len(pts)}
