"""Sizes in bytes as people write them: shown as ``3.4 KiB``, given as ``50G``."""

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
