"""JSON-friendly values from what training scripts pass to config, log and summary.

Scripts hand over numpy scalars and arrays, tensors, paths and dates as freely as
numbers; the store keeps JSON, so each becomes the JSON value it stands for.
"""

import datetime
import os
import warnings

from artfs.errors import UsageError
from artfs.store.meta import MAX_DEPTH

_warned: set[str] = set()


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
    if kind not in _warned:
        _warned.add(kind)
        warnings.warn(
            f"artfs: {kind} values have no JSON form here; recorded as text", stacklevel=3
        )
    return str(value)
