"""Retention: which versions have outlived their time-to-live or their artifact's
keep-last-N policy, and removing them (``artfs gc`` does, before it frees space).

A version's ``ttl`` (seconds from its creation; None: never expires) is its own
when it set one, else its artifact's policy ``ttl`` (W&B's ``ArtifactTTL.INHERIT``).
``keep_last`` keeps the newest N versions.  A version holding a user alias is never
removed unless forced: an alias is someone saying "this one matters".  ``latest``
does not protect: it moves to the newest version that is left.
"""

import time
from dataclasses import dataclass

from artfs.errors import CorruptData, UsageError
from artfs.store.backend import RefTxn
from artfs.store.names import LATEST
from artfs.store.store import INHERIT, Store, Version
from artfs.units import parse_duration


@dataclass(frozen=True)
class Expired:
    label: str
    reason: str  # "ttl" or "keep_last"
    aliases: tuple[str, ...]  # the user aliases it holds (removed with it only when forced)


def policy_of(store: Store, name: str, damage: list[str] | None = None) -> dict:
    """An artifact's retention policy; {} if its record cannot be read (noted in
    ``damage`` when given): its versions' own ttls still read."""
    try:
        return store.retention(name)
    except CorruptData as e:
        if damage is not None and str(e) not in damage:
            damage.append(str(e))
        return {}


def parse_ttl(text: str, option: str = "--ttl") -> int | None | str:
    """A version's ttl as people write it: a duration (30d, 12h), ``never`` (None) or
    ``inherit`` (``INHERIT``: its artifact's policy decides) -> the stored form."""
    named = {"never": None, INHERIT: INHERIT}
    if text in named:
        return named[text]
    try:
        return parse_duration(text, option)
    except UsageError:
        raise UsageError(
            f"{option} takes a duration such as 30d, 12h or 2w, 'never' or 'inherit' "
            f"(the artifact's policy), not {text!r}"
        ) from None


def ttl_of(version: Version, policy: dict) -> int | None:
    """The seconds a version lives: its own ttl if it set one, else its policy's."""
    record = version.readable()
    return record["ttl"] if "ttl" in record else policy.get("ttl")


def expires_at(version: Version, policy: dict) -> float | None:
    """When a version's ttl runs out (None: never)."""
    ttl = ttl_of(version, policy)
    return None if ttl is None else version.created + ttl


def expired(
    store: Store, *, now: float | None = None, force: bool = False, txn: RefTxn | None = None
) -> list[Expired]:
    """Every version past its ttl or beyond its artifact's ``keep_last``, oldest first.
    Without ``force``, those holding user aliases are left out; damaged records are
    left alone (what they say cannot be read)."""
    now = time.time() if now is None else now
    found = []
    for name in store.artifact_names():
        try:
            policy = store.retention(name, txn)
        except CorruptData:  # a damaged artifact record: its versions keep their own ttl
            policy = {}
        versions = [v for v in store.versions(name, txn) if v.damage is None]
        keep = policy.get("keep_last")
        beyond = {v.number for v in versions[:-keep]} if keep else set()
        for version in versions:
            deadline = expires_at(version, policy)
            reason = (
                "ttl"
                if deadline is not None and deadline <= now
                else "keep_last"
                if version.number in beyond
                else None
            )
            aliases = tuple(a for a in version.aliases if a != LATEST)
            if reason and (force or not aliases):
                found.append(Expired(version.label, reason, aliases))
    return found


def remove_expired(store: Store, *, force: bool = False, now: float | None = None) -> list[Expired]:
    """Remove what ``expired`` finds, chosen and removed in one transaction, so a version
    given an alias meanwhile is not taken."""
    with store.refs.transaction(write=True) as txn:
        doomed = expired(store, now=now, force=force, txn=txn)
        for item in doomed:
            store.remove_version(item.label, force=True, txn=txn)
    return doomed
