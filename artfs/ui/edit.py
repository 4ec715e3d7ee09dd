"""Changes made on the page, made as a script would: the version is loaded as an
``Artifact`` and changed through ``save()``, so the page checks, records and refuses
exactly what the Python API does.  Each form is checked whole before ``save()``
runs: bad input changes nothing."""

import json

from artfs.artifact import Artifact
from artfs.errors import UsageError
from artfs.store.store import Store, Version


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


def describe(store: Store, version: Version, description: str, metadata_text: str) -> None:
    """Replace the description and metadata (both given: the form shows both)."""
    metadata = parse_metadata(metadata_text)
    art = _artifact(store, version)
    art.description = description.replace("\r\n", "\n")
    art.metadata = metadata
    art.save()
