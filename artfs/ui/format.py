"""How values look on a page: sizes, times, durations (Jinja filters)."""

import datetime
import json

from artfs import units


def human(n: float | None) -> str:
    """Bytes as a person reads them: 812 B, 3.4 KiB, 1.2 GiB."""
    return "—" if n is None else units.human(n)


def when(ts: float | None) -> str:
    """A time in the server's zone to the second: the page is for the person at it."""
    if not ts:
        return "—"
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def as_json(value, indent: int | None = None) -> str:
    """A metadata or config value as JSON text (escaped by the template, never trusted)."""
    return json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=True, default=str)


def short(value: str | None, n: int = 12) -> str:
    return "" if value is None else value[:n]
