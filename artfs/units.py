"""Sizes and durations as people write them: ``3.4 KiB`` and ``50G``, ``30d`` and ``12h``."""

from artfs.errors import UsageError

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def human(n: float) -> str:
    """812 B, 3.4 KiB, 1.2 GiB (binary units, one decimal above bytes)."""
    for unit in _UNITS:
        if abs(n) < 1024 or unit == _UNITS[-1]:
            return f"{int(n)} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def parse_size(text: str, option: str, *, zero: bool = False) -> int:
    """``500M``, ``50G``, ``2T`` or bytes (``zero``: 0 too); ``option`` names it in the error."""
    number, unit = text.rstrip("BbiI").upper(), ""
    if number and number[-1] in _SUFFIXES:
        number, unit = number[:-1], number[-1]
    try:
        size = int(float(number) * _SUFFIXES[unit])
    except (ValueError, OverflowError):
        size = -1
    if size < 0 or (size == 0 and not zero):
        raise UsageError(f"{option} {text!r} is not a size; write it like 50G or 500M")
    return size


_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration(seconds: int | None) -> str:
    """``30d``, ``36h``, ``90s``: the largest unit that divides it; None is ``never``."""
    if seconds is None:
        return "never"
    unit = next(u for u in ("w", "d", "h", "m", "s") if seconds % _SECONDS[u] == 0)
    return f"{seconds // _SECONDS[unit]}{unit}"


def parse_duration(text: str, option: str) -> int:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` (or plain seconds) -> seconds."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in _SECONDS else (text, "s")
    if not number.isdigit() or int(number) == 0:
        raise UsageError(
            f"{option} takes a positive duration such as 30d, 12h, 90m, 45s or 2w, not {text!r}"
        )
    return int(number) * _SECONDS[unit]
