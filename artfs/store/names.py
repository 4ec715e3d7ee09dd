"""Parsing and validation of artifact names, versions and aliases.

A name is what a user types, so the rules are strict and the errors exact: the
same string must mean the same thing on the command line, in the Python API
and as a directory name in the mount.
"""

import re
from dataclasses import dataclass

from artfs.errors import InvalidName

MAX_NAME = 128
LATEST = "latest"
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
_VERSION_RE = re.compile(r"v(0|[1-9][0-9]*)")


def check_name(name: str, what: str = "artifact name") -> str:
    """Return ``name`` if it can be an artifact name or alias, else raise InvalidName."""
    if not isinstance(name, str) or not name:
        raise InvalidName(f"{what} is empty; use letters, digits, '-', '_' or '.'")
    if len(name) > MAX_NAME:
        raise InvalidName(
            f"{what} {name[:20]!r}… is {len(name)} characters; the limit is {MAX_NAME}"
        )
    if name in (".", ".."):
        raise InvalidName(f"{what} {name!r} is reserved; choose another")
    if not _NAME_RE.fullmatch(name):
        bad = next(c for c in name if not _NAME_RE.fullmatch(c))
        raise InvalidName(
            f"{what} {name!r} contains {bad!r}; use only letters, digits, '-', '_' or '.'"
        )
    return name


def is_name(name: str) -> bool:
    """Whether ``name`` passes ``check_name`` (so can be an artifact name, alias or run id)."""
    try:
        check_name(name)
    except InvalidName:
        return False
    return True


def check_alias(alias: str) -> str:
    """An alias is a name that must not look like a version number."""
    check_name(alias, "alias")
    if _VERSION_RE.fullmatch(alias):
        raise InvalidName(f"alias {alias!r} looks like a version number; choose another")
    return alias


def check_run_id(run_id: str, what: str = "run id") -> str:
    """A run id becomes part of lineage keys: the rules of names (no separator byte, no
    ':', ASCII), so that every reader can split those keys again."""
    return check_name(run_id, what)


def parse_version(text: str) -> int | None:
    """``'v3'`` → 3; anything else → None (it may be an alias)."""
    m = _VERSION_RE.fullmatch(text)
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class Ref:
    """``name`` or ``name:selector`` where selector is ``vN`` or an alias."""

    name: str
    selector: str | None = None

    @property
    def version(self) -> int | None:
        return parse_version(self.selector) if self.selector else None

    def __str__(self) -> str:
        return f"{self.name}:{self.selector}" if self.selector else self.name


def parse_ref(text: str, *, need_selector: bool = False) -> Ref:
    """Parse ``name[:vN|:alias]``; the default selector is ``latest``."""
    if not isinstance(text, str):
        raise InvalidName(f"expected 'name:version', got {text!r}")
    name, sep, selector = text.partition(":")
    check_name(name)
    if not sep:
        if need_selector:
            raise InvalidName(
                f"{text!r} needs a version: write {text}:v0, {text}:latest or an alias"
            )
        return Ref(name, None)
    if ":" in selector:
        raise InvalidName(f"{text!r} has more than one ':'; write name:version")
    if parse_version(selector) is None:
        check_name(selector, "version or alias")
    return Ref(name, selector)
