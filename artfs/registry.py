"""W&B's model registry and portfolios: linking versions into collections, and
finding an artifact or a link by any W&B path.

``link`` puts a logged version into a collection (store/links.py) without
copying content; ``resolve`` turns ``[[entity/]project/]name[:alias]`` into
an Artifact: a version of an artifact, or a ``LinkedArtifact`` (the linked
version's files and record, under the link's name, number and aliases).
"""

import os

from artfs.artifact import Artifact
from artfs.errors import NotFound, UsageError
from artfs.fs import registry as mounts
from artfs.store import links
from artfs.store.store import Store, Version
from artfs.wbpath import (
    DEFAULT_PROJECT,
    NO_SCOPE,
    Path,
    Scope,
    default_entity,
    is_name,
    is_registry,
    parse,
)


def target_key(store: Store, target_path: str, scope: Scope) -> str:
    """The collection a link target names: ``wandb-registry-R/NAME``,
    ``model-registry/NAME``, ``[entity/]project/NAME`` or a bare ``NAME`` (a portfolio
    in the caller's project)."""
    path = parse(store, target_path, scope)
    if path.selector is not None:
        raise UsageError(
            f"link target {target_path!r} names a collection, not a version; "
            "drop the ':' part and pass aliases="
        )
    project = path.project or scope.default_project()
    if not path.project and is_name(path.name) and store.has_artifact(path.name):
        raise UsageError(
            f"{path.name!r} is an artifact of this store; a portfolio in the "
            f"same project needs another name (or link to "
            f"'wandb-registry-model/{path.name}')"
        )
    return f"{project}/{path.name}"


def link(
    store: Store,
    artifact: Artifact,
    target_path: str,
    aliases=None,
    run_id: str | None = None,
    scope: Scope = NO_SCOPE,
) -> "LinkedArtifact":
    """Link a logged version (a link's own source, for a link) into a collection."""
    if isinstance(artifact, LinkedArtifact):
        artifact = artifact.source_artifact
    version = artifact._version
    if version is None:
        raise UsageError(f"artifact {artifact.name!r} is a draft; log it first")
    aliases = [aliases] if isinstance(aliases, str) else list(aliases or [])
    key = target_key(store, target_path, scope)
    number = links.link(store, key, version, aliases, run_id)
    return LinkedArtifact.make(store, key, number)


def resolve(store: Store, text: str, scope: Scope = NO_SCOPE, type: str | None = None) -> Artifact:
    """The artifact or link a W&B path names; ValueError (UsageError) on a type clash."""
    found = _find(store, parse(store, text, scope))
    if type is not None and found.type != type:
        raise UsageError(f"type {type!r} specified but {found.name} is of type {found.type!r}")
    return found


def _find(store: Store, path: Path) -> Artifact:
    if path.project and links.exists(store, path.collection_key):
        return _link_of(store, path.collection_key, path.selector)
    if (
        is_name(path.name)
        and store.has_artifact(path.name)
        and (not path.project or not is_registry(path.project))
    ):
        return Artifact._from_version(store, store.resolve(path.ref))
    candidates = _collections_named(store, path)
    if len(candidates) == 1:
        return _link_of(store, candidates[0], path.selector)
    if len(candidates) > 1:
        raise NotFound(
            f"{path.name!r} names collections {', '.join(candidates)}; write one of these in full"
        )
    where = f" in {path.project!r}" if path.project else ""
    raise NotFound(
        f"no artifact or collection named {path.name!r}{where}; "
        "'artfs ls' and 'artfs links' list them"
    )


def _collections_named(store: Store, path: Path) -> list[str]:
    """A bare name also finds a collection of that name, when only one has it."""
    if path.project:
        return []
    return [k for k in links.keys(store) if k.split("/", 1)[1] == path.name]


def _link_of(store: Store, key: str, selector: str | None) -> "LinkedArtifact":
    record = links.get(store, key)
    return LinkedArtifact.make(store, key, links.target(record, key, selector)["version"])


def links_of(store: Store, version: Version) -> list["LinkedArtifact"]:
    return [
        LinkedArtifact.make(store, key, n)
        for key, n in links.links_to(store, version.name, version.number)
    ]


class LinkedArtifact(Artifact):
    """A version as a collection shows it (W&B's link artifact): the linked version's
    files, type and metadata, the collection's name, number and aliases."""

    is_link = True
    # set by make(): the collection (PROJECT/NAME), the link's number in it, its aliases
    _link_key: str
    _link_number: int
    _link_aliases: list[str]

    @classmethod
    def make(cls, store: Store, key: str, number: int) -> "LinkedArtifact":
        record = links.get(store, key)
        lk = links.target(record, key, f"v{number}")
        try:
            source = store.resolve(f"{lk['artifact']}:v{lk['number']}")
        except NotFound:
            raise NotFound(
                f"{key}:v{number} links {lk['artifact']}:v{lk['number']}, which "
                "was removed; unlink it"
            ) from None
        art = cls._from_version(store, source)
        art._link_key, art._link_number = key, number
        art._link_aliases = links.aliases_of(record, number)
        return art

    @property
    def name(self) -> str:
        return f"{self.collection_name}:v{self._link_number}"

    @property
    def collection_name(self) -> str:
        return self._link_key.split("/", 1)[1]

    @property
    def version(self) -> str:
        return f"v{self._link_number}"

    @property
    def aliases(self) -> list[str]:
        return self.__dict__.setdefault("_link_aliases", [])

    @aliases.setter
    def aliases(self, value) -> None:
        self._link_aliases = list(value)

    @property
    def project(self) -> str:
        return self._link_key.split("/", 1)[0]

    @property
    def entity(self) -> str:
        return default_entity()

    @property
    def qualified_name(self) -> str:
        return f"{self.entity}/{self.project}/{self.name}"

    @property
    def source_name(self) -> str:
        return self._committed()[1].label

    @property
    def source_version(self) -> str:
        return f"v{self._committed()[1].number}"

    @property
    def source_project(self) -> str:
        return DEFAULT_PROJECT

    @property
    def source_entity(self) -> str:
        return default_entity()

    @property
    def source_qualified_name(self) -> str:
        return f"{self.source_entity}/{self.source_project}/{self.source_name}"

    @property
    def source_artifact(self) -> Artifact:
        store, version = self._committed()
        return Artifact._from_version(store, store.resolve(version.label))

    @property
    def linked_artifacts(self) -> "list[LinkedArtifact]":
        return []  # as W&B: a link has none of its own

    @property
    def collection(self):
        from artfs.api import ArtifactCollection

        return ArtifactCollection(self._committed()[0], self._link_key, self.type)

    @property
    def source_collection(self):
        from artfs.api import ArtifactCollection

        store, version = self._committed()
        return ArtifactCollection(store, version.name, self.type)

    def download(
        self,
        root: str | None = None,
        allow_missing_references: bool = False,
        skip_cache: bool | None = None,
        path_prefix: str | None = None,
        multipart: bool | None = None,
    ) -> str:
        """The linked version's files; without ``root``, where the mount shows them, or
        ``./artifacts/COLLECTION:vN``."""
        if root is None and not mounts.mounts(self._committed()[0].path):
            root = os.path.join("artifacts", self.name)
        return self.source_artifact.download(
            root, allow_missing_references, skip_cache, path_prefix, multipart
        )

    def save(self, *args, **kwargs) -> "LinkedArtifact":  # type: ignore[override]  # the link
        """Aliases are the link's; description and metadata are the linked version's."""
        store, _ = self._committed()
        links.set_aliases(store, self._link_key, self._link_number, self.aliases)
        source = self.source_artifact
        if (source.description, source.metadata) != (self.description, self.metadata):
            source.description, source.metadata = self.description, dict(self.metadata)
            source.save(*args, **kwargs)
        self._link_aliases = links.aliases_of(links.get(store, self._link_key), self._link_number)
        return self

    def unlink(self) -> None:
        links.unlink(self._committed()[0], self._link_key, self._link_number)

    def delete(self, delete_aliases: bool = False) -> None:
        """As W&B: deleting a link only unlinks it; the linked version stays."""
        self.unlink()

    def __repr__(self) -> str:
        return f"<Artifact {self.name} (link to {self.source_name}, {self.type})>"
