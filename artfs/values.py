"""JSON-friendly values from what training scripts pass to config, log and summary.

Scripts hand over numpy scalars and arrays, tensors, paths and dates as freely as
numbers; the store keeps JSON, so each becomes the JSON value it stands for.  Also
the two ways the W&B surface speaks back: times as W&B's ISO strings, and warnings
said once per process.
"""

import datetime
import os
import warnings

from artfs.errors import UsageError
from artfs.store.meta import MAX_DEPTH

_warned: set[str] = set()


def warn_once(key: str, message: str, stacklevel: int = 2) -> None:
    """Say something artfs does differently from W&B once per process, not on every call
    (``stacklevel`` counts from the call, as ``warnings.warn``'s: 2 blames its caller)."""
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, stacklevel=stacklevel + 1)


def iso(seconds: float) -> str:
    """A time as W&B's API gives it: an ISO 8601 string, UTC, to the second."""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def jsonable(value, what: str = "a logged value"):
    """``value`` as plain JSON data; an object with no JSON meaning becomes its str,
    with one warning per type, rather than being dropped.  Nesting deeper than a store
    record may hold is refused naming ``what``."""
    try:
        return _convert(value)
    except RecursionError:
        raise UsageError(
            f"{what} is nested more than {MAX_DEPTH} levels deep; flatten it, "
            "or put it in a file of an artifact"
        ) from None


def _convert(value):
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, dict):
        return {str(k): _convert(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_convert(v) for v in value]
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    for method in ("tolist", "item"):  # numpy arrays and scalars, torch tensors
        if callable(getattr(value, method, None)):
            try:
                return _convert(getattr(value, method)())
            except (TypeError, ValueError):
                break
    kind = type(value).__name__
    warn_once(f"type:{kind}", f"artfs: {kind} values have no JSON form here; recorded as text", 3)
    return str(value)
