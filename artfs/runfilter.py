"""W&B's run filters (a MongoDB-style query) and orders, over local run records.

Fields are W&B's names: ``config.KEY`` (also ``config.KEY.value``),
``summary_metrics.KEY``, ``state``, ``jobType``, ``tags``, ``group``,
``displayName``, ``name`` (the run id), ``createdAt`` (ISO 8601), ``duration``,
``host``, ``username``, ``entity``, ``project``.  Operators: ``$and``, ``$or``,
``$nor``, ``$not``, ``$eq``, ``$ne``, ``$gt``, ``$gte``, ``$lt``, ``$lte``, ``$in``,
``$nin``, ``$exists``, ``$regex``.  As in MongoDB, a condition on a list field
(tags) holds when it holds for one of its items.
"""

import re
from datetime import UTC, datetime

from artfs.errors import UsageError
from artfs.wbpath import DEFAULT_PROJECT

_MISSING = object()
_TOP = {
    "state": lambda r: r.get("status"),
    "jobType": lambda r: r.get("job_type"),
    "job_type": lambda r: r.get("job_type"),
    "tags": lambda r: r.get("tags") or [],
    "group": lambda r: r.get("group"),
    "displayName": lambda r: r.get("name"),
    "display_name": lambda r: r.get("name"),
    "name": lambda r: r.get("id"),
    "id": lambda r: r.get("id"),
    "createdAt": lambda r: _iso(r.get("start")),
    "created_at": lambda r: _iso(r.get("start")),
    "duration": lambda r: (r["end"] - r["start"]) if r.get("end") else None,
    "host": lambda r: r.get("host"),
    "username": lambda r: r.get("user"),
    "entity": lambda r: r.get("entity"),
    "project": lambda r: r.get("project") or DEFAULT_PROJECT,
}
_COMPARE = {
    "$eq": lambda v, a: v == a,
    "$ne": lambda v, a: v != a,
    "$gt": lambda v, a: _ordered(v, a) and v > a,
    "$gte": lambda v, a: _ordered(v, a) and v >= a,
    "$lt": lambda v, a: _ordered(v, a) and v < a,
    "$lte": lambda v, a: _ordered(v, a) and v <= a,
    "$in": lambda v, a: v in a,
    "$nin": lambda v, a: v not in a,
    "$regex": lambda v, a: isinstance(v, str) and re.search(a, v) is not None,
}


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _ordered(a, b) -> bool:
    numbers = (int, float)
    return (isinstance(a, numbers) and isinstance(b, numbers)) or type(a) is type(b)


def field(record: dict, path: str):
    """The value a W&B field name reads from a run record (``_MISSING`` if absent)."""
    head, _, rest = path.partition(".")
    if head in ("config", "summary_metrics", "summary"):
        value = record.get("config" if head == "config" else "summary") or {}
        for part in rest.split(".") if rest else []:
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif part == "value" and head == "config":  # W&B's config.KEY.value
                continue
            else:
                return _MISSING
        return value
    if path in _TOP:
        value = _TOP[path](record)
        return _MISSING if value is None else value
    raise UsageError(
        f"runs cannot be filtered by {path!r}; use config.KEY, "
        "summary_metrics.KEY, state, jobType, tags, group, displayName, name, "
        "createdAt, duration, host, username, entity or project"
    )


def matches(record: dict, query: dict) -> bool:
    if not isinstance(query, dict):
        raise UsageError(f"a run filter is a dict, not {query!r}")
    return all(_clause(record, key, cond) for key, cond in query.items())


def _clause(record: dict, key: str, cond) -> bool:
    if key == "$and":
        return all(matches(record, q) for q in cond)
    if key == "$or":
        return any(matches(record, q) for q in cond)
    if key == "$nor":
        return not any(matches(record, q) for q in cond)
    if key.startswith("$"):
        raise UsageError(f"run filter operator {key!r} is not supported")
    return _holds(field(record, key), cond)


def _holds(value, cond) -> bool:
    if not (isinstance(cond, dict) and cond and all(k.startswith("$") for k in cond)):
        cond = {"$eq": cond}
    return all(_operator(value, op, arg) for op, arg in cond.items())


def _operator(value, op: str, arg) -> bool:
    if op == "$exists":
        return (value is not _MISSING) == bool(arg)
    if op == "$not":
        return not _holds(value, arg)
    if op not in _COMPARE:
        raise UsageError(f"run filter operator {op!r} is not supported")
    if value is _MISSING:
        return op in ("$ne", "$nin")
    test = _COMPARE[op]
    if isinstance(value, list) and op not in ("$ne", "$nin"):
        return test(value, arg) or any(test(item, arg) for item in value)
    if isinstance(value, list):  # $ne and $nin: no item may match
        return test(value, arg) and all(test(item, arg) for item in value)
    return test(value, arg)


def sort(records: list[dict], order: str) -> list[dict]:
    """``+created_at`` (the default), ``-created_at``, ``+config.lr``, ``-summary_metrics.loss``…"""
    descending = order.startswith("-")
    name = order.lstrip("+-") or "created_at"
    if name == "created_at":
        key = lambda r: (0, r.get("start") or 0)  # noqa: E731
    else:

        def key(r):
            value = field(r, name)
            return (1, 0) if value is _MISSING else (0, value)

    present = [r for r in records if key(r)[0] == 0]
    absent = [r for r in records if key(r)[0] == 1]
    try:
        present.sort(key=key, reverse=descending)
    except TypeError:
        raise UsageError(
            f"runs cannot be ordered by {name!r}: its values are of different kinds"
        ) from None
    return present + absent  # as W&B: runs without the field come last
