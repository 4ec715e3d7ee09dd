"""W&B's ArtifactType and ArtifactCollection, and the paginators the public API returns.

A collection is either an artifact (W&B's sequence: its versions) or a
collection of links (a portfolio or registry collection, ``PROJECT/NAME``;
see store/links.py).  The store answers at once, so a paginator is a list:
``len()``, indexing and iteration work, and so do ``next()``, ``cursor`` and
``start=`` as on W&B's lazy pages.
"""

import warnings

from artfs.artifact import Artifact
from artfs.errors import InvalidName, NotFound, UsageError
from artfs.store import collections as coll_store
from artfs.store import links
from artfs.store.store import Store
from artfs.values import iso
from artfs.wbpath import (
    DEFAULT_PROJECT,
    NO_SCOPE,
    Scope,
    default_entity,
    is_name,
    is_registry,
    parse,
)


class Page(list):
    """A W&B paginator over results already at hand."""

    def __init__(self, items=(), start: str | None = None):
        items = list(items)
        super().__init__(items[int(start) :] if start else items)
        self._offset = int(start) if start else 0
        self._next = 0

    def __next__(self):
        if self._next >= len(self):
            raise StopIteration
        self._next += 1
        return self[self._next - 1]

    @property
    def length(self) -> int:
        return len(self)

    @property
    def more(self) -> bool:
        return self._next < len(self)

    @property
    def cursor(self) -> str | None:
        """Where ``start=`` resumes: after what ``next()`` has handed out."""
        return str(self._offset + self._next) if self._next else None


class ArtifactType:
    """The artifacts (and link collections) of one type."""

    def __init__(self, store: Store, type_name: str):
        self._store, self.name = store, type_name

    @property
    def id(self) -> str:
        return self.name

    @property
    def type(self) -> str:
        return self.name

    def collections(
        self,
        per_page: int = 50,
        start: str | None = None,
        filters: dict | None = None,
        order: str | None = None,
        **_ignored,
    ) -> Page:
        found = collections_of(self._store, self.name)
        if filters:
            unknown = set(filters) - {"name"}
            if unknown:
                raise UsageError(f"collections can be filtered by name only, not {unknown}")
            found = [c for c in found if c.name == filters["name"]]
        if order:
            found.sort(key=lambda c: getattr(c, order.lstrip("+-")), reverse=order.startswith("-"))
        return Page(found, start)

    def collection(self, name: str) -> "ArtifactCollection":
        return ArtifactCollection.find(self._store, self.name, name)

    def __repr__(self) -> str:
        return f"<ArtifactType {self.name}>"


def collections_of(
    store: Store, type_name: str, project: str | None = None
) -> list["ArtifactCollection"]:
    """Artifacts of ``type_name``, then link collections of it (of ``project`` if given)."""
    found = [
        ArtifactCollection(store, n, type_name)
        for n in store.artifact_names()
        if ArtifactCollection._exists(store, n, type_name)
    ]
    for key in links.keys(store):
        if links.get(store, key)["type"] == type_name and (
            project is None or key.split("/", 1)[0] == project
        ):
            found.append(ArtifactCollection(store, key, type_name))
    return found


def _type_of(store: Store, name: str) -> str | None:
    try:
        return store.artifact(name)["type"]
    except Exception:  # a damaged record: 'artfs ls' names it; it has no type to match
        return None


def types_of(store: Store) -> list[str]:
    found = {_type_of(store, n) for n in store.artifact_names() if store.version_count(n)}
    found |= {links.get(store, k)["type"] for k in links.keys(store)}
    return sorted(kind for kind in found if kind is not None)


class ArtifactCollection:
    """An artifact's versions, or a collection's links (W&B's ArtifactCollection)."""

    def __init__(self, store: Store, key: str, type_name: str):
        self._store, self._key, self._type = store, key, type_name
        record = self._record()
        self.description = record.get("description", "")
        self.tags = list(record.get("tags", []))
        self._saved_name = self.name = key.split("/", 1)[-1]

    @classmethod
    def find(
        cls, store: Store, type_name: str, path: str, scope: Scope = NO_SCOPE
    ) -> "ArtifactCollection":
        """By ``[[entity/]project/]name``: an artifact, or a collection of links."""
        parsed = parse(store, path, scope)
        if parsed.selector is not None:
            raise InvalidName(f"{path!r} names a version; a collection is named without ':'")
        if parsed.project:
            keys = [parsed.collection_key] + ([] if is_registry(parsed.project) else [parsed.name])
        else:
            keys = [parsed.name] + [
                k for k in links.keys(store) if k.split("/", 1)[1] == parsed.name
            ]
        for key in keys:
            if cls._exists(store, key, type_name):
                return cls(store, key, type_name)
        raise NotFound(
            f"no {type_name!r} collection named {path!r}; "
            "Api().artifact_type(TYPE).collections() lists them"
        )

    @staticmethod
    def _exists(store: Store, key: str, type_name: str) -> bool:
        if "/" in key:
            return links.exists(store, key) and links.get(store, key)["type"] == type_name
        return (
            is_name(key)
            and store.has_artifact(key)
            and _type_of(store, key) == type_name
            and store.version_count(key) > 0
        )  # a deleted collection keeps its record

    def _record(self) -> dict:
        if self.is_sequence():
            return self._store.artifact(self._key)
        return links.get(self._store, self._key)

    def is_sequence(self) -> bool:
        """An artifact's own versions (not a collection of links)."""
        return "/" not in self._key

    @property
    def id(self) -> str:
        return self._key

    @property
    def type(self) -> str:
        return self._type

    @property
    def entity(self) -> str:
        return default_entity()

    @property
    def project(self) -> str:
        return DEFAULT_PROJECT if self.is_sequence() else self._key.split("/", 1)[0]

    @property
    def created_at(self) -> str | None:
        created = self._record().get("created")
        return None if created is None else iso(created)

    @property
    def updated_at(self) -> str | None:
        record = self._record()
        when = record.get("updated", record.get("created"))
        return None if when is None else iso(when)

    def artifacts(self, per_page: int = 50, start: str | None = None, **_ignored) -> Page:
        """Versions oldest first (or the links, in the order they were made)."""
        from artfs.registry import LinkedArtifact

        if self.is_sequence():
            found = [
                Artifact._from_version(self._store, v)
                for v in self._store.versions(self._saved_name)
                if v.damage is None
            ]
        else:
            found = []
            for lk in links.get(self._store, self._key)["links"]:
                try:
                    found.append(LinkedArtifact.make(self._store, self._key, lk["version"]))
                except NotFound as e:  # its version was removed: the others stay listed
                    warnings.warn(str(e), stacklevel=2)
        return Page(found, start)

    @property
    def aliases(self) -> list[str]:
        """Every alias of a version in the collection."""
        if self.is_sequence():
            versions = self._store.versions(self._saved_name)
            return sorted({a for v in versions for a in v.aliases})
        record = links.get(self._store, self._key)
        return sorted(
            {a for lk in record["links"] for a in links.aliases_of(record, lk["version"])}
        )

    def save(self) -> None:
        """Keep description, tags and a new name (a rename of the artifact, or of the
        collection)."""
        if self.is_sequence():
            if self.name != self._saved_name:
                coll_store.rename(self._store, self._saved_name, self.name)
                self._key = self._saved_name = self.name
            coll_store.update(self._store, self._key, description=self.description, tags=self.tags)
            return
        project = self._key.split("/", 1)[0]
        new_key = links.check_key(f"{project}/{self.name}")
        links.update(
            self._store, self._key, description=self.description, tags=self.tags, new_key=new_key
        )
        self._key, self._saved_name = new_key, self.name

    def delete(self) -> None:
        """Remove every version of an artifact (aliases too), or a collection's links."""
        if not self.is_sequence():
            links.delete(self._store, self._key)
            return
        for version in self._store.versions(self._saved_name):
            self._store.remove_version(version.label, force=True)

    def change_type(self, new_type: str) -> None:
        raise UsageError(
            "artfs cannot change an artifact's type; log the versions again "
            f"under a new name with type {new_type!r}"
        )

    def __repr__(self) -> str:
        return f"<ArtifactCollection {self.name} ({self.type})>"
