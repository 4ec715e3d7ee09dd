"""Changes made on the page, made as a script would: the version is loaded as an
``Artifact`` and changed through ``save()``, so the page checks, records and refuses
exactly what the Python API does.  Each form is checked whole before ``save()``
runs: bad input changes nothing."""

import json
from datetime import timedelta

from artfs import units
from artfs.artifact import Artifact, ArtifactTTL
from artfs.errors import UsageError
from artfs.store import retention
from artfs.store.store import INHERIT, Store, Version


def _artifact(store: Store, version: Version) -> Artifact:
    return Artifact._from_version(store, version)


def set_alias(store: Store, version: Version, alias: str) -> None:
    """Point ``alias`` at ``version``, moving it from the version that held it."""
    art = _artifact(store, version)
    if alias not in art.aliases:
        art.aliases = [*art.aliases, alias.strip()]
        art.save()


def remove_alias(store: Store, version: Version, alias: str) -> None:
    art = _artifact(store, version)
    if alias not in art.aliases:
        raise UsageError(f"{version.label} has no alias {alias!r}; reload the page")
    art.aliases = [a for a in art.aliases if a != alias]
    art.save()


def parse_metadata(text: str) -> dict:
    """The metadata field: a JSON object (empty for none)."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as e:
        raise UsageError(f"metadata is not JSON ({e}); write a JSON object") from None
    if not isinstance(value, dict):
        raise UsageError(f"metadata must be a JSON object, not {type(value).__name__}")
    return value


def parse_tags(text: str) -> list[str]:
    """The tags field: tags separated by commas (the store checks each)."""
    return [tag.strip() for tag in text.split(",") if tag.strip()]


def ttl_text(record: dict) -> str:
    """A version's own ttl as the form shows it: inherit, never, or 30d, 36h, 90s (as
    ``artfs retention NAME:VER --ttl`` takes it)."""
    return INHERIT if "ttl" not in record else units.duration(record["ttl"])


def _as_artifact_ttl(ttl: int | None | str) -> "timedelta | ArtifactTTL | None":
    """The store's form of a ttl (seconds, None, INHERIT) as ``Artifact.ttl`` takes it."""
    if ttl == INHERIT:
        return ArtifactTTL.INHERIT
    return None if ttl is None else timedelta(seconds=int(ttl))


def edit_details(store: Store, version: Version, fields: dict[str, str]) -> None:
    """Replace the description and metadata (the form shows both), and the tags and
    ttl the form gives (a ttl equal to the stored one is left alone: no edit noted)."""
    metadata = parse_metadata(fields.get("metadata", ""))
    stored_ttl = version.record.get("ttl", INHERIT)
    ttl = stored_ttl
    if "ttl" in fields:
        ttl = retention.parse_ttl(fields["ttl"].strip().lower() or INHERIT, "ttl")
    art = _artifact(store, version)
    art.description = fields.get("description", "").replace("\r\n", "\n")
    art.metadata = metadata
    if "tags" in fields:
        art.tags = parse_tags(fields["tags"])
    if ttl != stored_ttl:
        art.ttl = _as_artifact_ttl(ttl)
    art.save()
