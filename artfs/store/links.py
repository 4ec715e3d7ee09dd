"""Collections of links: W&B's registry collections and portfolios.

A collection (``wandb-registry-model/NAME``, ``model-registry/NAME`` or
``PROJECT/NAME``) numbers links to versions of other artifacts, v0, v1, … in
the order they were linked, with aliases of its own; no content is copied.
Linking a version that the collection already holds returns its link, as W&B
does.  One JSON record per collection (meta.py lists the layout): collections
are short lists of model versions, and one record keeps a link and its
aliases in one transaction.
"""

import re
import time

from artfs.errors import Conflict, CorruptData, NotFound, UsageError
from artfs.store import meta
from artfs.store.names import LATEST, MAX_NAME, check_alias, check_name
from artfs.store.store import Store, Version

_COLLECTION_RE = re.compile(r"[A-Za-z0-9_.\- ]+")  # W&B's registered models have spaces
FIELDS = {
    "type": (str,),
    "description": (str,),
    "tags": (list,),
    "created": (int, float),
    "next_version": (int,),
    "links": (list,),
    "aliases": (dict,),
}


def check_key(key: str) -> str:
    """``PROJECT/NAME``, each part a name."""
    project, sep, name = key.partition("/")
    if not sep:
        raise UsageError(f"collection {key!r} needs a project or registry: PROJECT/NAME")
    check_name(project, "project or registry")
    if (
        name in (".", "..")
        or not _COLLECTION_RE.fullmatch(name)
        or name.strip() != name
        or len(name) > MAX_NAME
    ):
        check_name(name, "collection name")  # raises, saying what is wrong with it
    return key


def _get(store: Store, txn, key: str) -> dict | None:
    raw = txn.get(check_key(key).encode(), db=store.meta.db["collections"])
    if raw is None:
        return None
    return meta.load_object(raw, f"the record of collection {key!r}", FIELDS)


def _put(store: Store, txn, key: str, record: dict) -> None:
    txn.put(key.encode(), meta.dumps(record), db=store.meta.db["collections"])


def get(store: Store, key: str) -> dict:
    with store.meta.read() as txn:
        record = _get(store, txn, key)
    if record is None:
        raise NotFound(
            f"no collection {key!r}; link a version to it first "
            "(run.link_artifact or artifact.link)"
        )
    return record


def exists(store: Store, key: str) -> bool:
    with store.meta.read() as txn:
        return _get(store, txn, key) is not None


def keys(store: Store) -> list[str]:
    with store.meta.read() as txn:
        return [
            bytes(k).decode()
            for k in txn.cursor(store.meta.db["collections"]).iternext(values=False)
        ]


def link(store: Store, key: str, version: Version, aliases=(), run_id: str | None = None) -> int:
    """Link ``version`` into collection ``key`` (made on first use, of the version's type),
    point ``aliases`` at the link, and return the link's number."""
    aliases = [check_alias(a) for a in aliases if a != LATEST]
    with store.meta.write() as txn:
        record = _get(store, txn, key) or {
            "type": version.type,
            "description": "",
            "tags": [],
            "created": time.time(),
            "next_version": 0,
            "links": [],
            "aliases": {},
        }
        if record["type"] != version.type:
            raise UsageError(
                f"collection {key!r} holds {record['type']!r} artifacts; "
                f"{version.label} is a {version.type!r}"
            )
        number = next(
            (
                lk["version"]
                for lk in record["links"]
                if (lk["artifact"], lk["number"]) == (version.name, version.number)
            ),
            None,
        )
        if number is None:
            number = record["next_version"]
            record["next_version"] += 1
            record["links"].append(
                {
                    "version": number,
                    "artifact": version.name,
                    "number": version.number,
                    "created": time.time(),
                    "run": run_id,
                }
            )
        for alias in aliases:
            record["aliases"][alias] = number
        _put(store, txn, key, record)
    return number


def target(record: dict, key: str, selector: str | None) -> dict:
    """The link that ``selector`` (None or latest, vN, or an alias) names."""
    if not record["links"]:
        raise NotFound(f"collection {key!r} has no links")
    if selector in (None, LATEST):
        return record["links"][-1]
    if selector.startswith("v") and selector[1:].isdigit():
        number = int(selector[1:])
    elif selector in record["aliases"]:
        number = record["aliases"][selector]
    else:
        raise NotFound(f"collection {key!r} has no alias {selector!r}")
    for lk in record["links"]:
        if lk["version"] == number:
            return lk
    raise NotFound(f"{key}:v{number} does not exist (it may have been unlinked)")


def aliases_of(record: dict, number: int) -> list[str]:
    found = [a for a, n in record["aliases"].items() if n == number]
    if record["links"] and record["links"][-1]["version"] == number:
        found.insert(0, LATEST)
    return found


def set_aliases(store: Store, key: str, number: int, aliases) -> None:
    """Make ``aliases`` exactly the aliases of link ``number`` (other links lose them)."""
    wanted = {check_alias(a) for a in aliases if a != LATEST}
    with store.meta.write() as txn:
        record = _existing(store, txn, key)
        record["aliases"] = {
            a: n for a, n in record["aliases"].items() if n != number and a not in wanted
        }
        record["aliases"].update(dict.fromkeys(wanted, number))
        _put(store, txn, key, record)


def unlink(store: Store, key: str, number: int) -> None:
    """Remove one link; its number is not reused."""
    with store.meta.write() as txn:
        record = _existing(store, txn, key)
        if not _drop(record, lambda lk: lk["version"] == number):
            raise NotFound(f"{key}:v{number} is not linked")
        _put(store, txn, key, record)


def unlink_version_in(store: Store, txn, name: str, number: int) -> None:
    """A version removed takes its links with it (called inside the removal's transaction),
    so no collection points at nothing."""
    for raw_key, raw in list(txn.cursor(store.meta.db["collections"])):
        key = bytes(raw_key).decode()
        try:
            record = meta.load_object(raw, f"the record of collection {key!r}", FIELDS)
        except CorruptData:  # a damaged collection must not block removals; it is named
            continue  # when read, and its link to this version resolves to nothing
        if _drop(record, lambda lk: (lk["artifact"], lk["number"]) == (name, number)):
            _put(store, txn, key, record)


def _drop(record: dict, doomed) -> bool:
    """Remove the links ``doomed`` picks, and their aliases; → whether any went."""
    gone = {lk["version"] for lk in record["links"] if doomed(lk)}
    record["links"] = [lk for lk in record["links"] if lk["version"] not in gone]
    record["aliases"] = {a: n for a, n in record["aliases"].items() if n not in gone}
    return bool(gone)


def update(
    store: Store, key: str, *, description: str, tags: list[str], new_key: str | None = None
) -> None:
    """Save a collection's description and tags, and rename it to ``new_key``."""
    tags = [check_name(t, "tag") for t in tags]
    with store.meta.write() as txn:
        record = _existing(store, txn, key)
        record["description"], record["tags"] = description or "", sorted(set(tags))
        if new_key and new_key != key:
            if _get(store, txn, new_key) is not None:
                raise Conflict(f"collection {new_key!r} already exists; choose another name")
            txn.delete(key.encode(), db=store.meta.db["collections"])
            key = new_key
        _put(store, txn, key, record)


def delete(store: Store, key: str) -> None:
    """Forget a collection and its links (the linked versions stay)."""
    with store.meta.write() as txn:
        _existing(store, txn, key)
        txn.delete(key.encode(), db=store.meta.db["collections"])


def links_to(store: Store, name: str, number: int) -> list[tuple[str, int]]:
    """(collection, link number) of every link to ``name:vN``."""
    found = []
    with store.meta.read() as txn:
        for raw_key, raw in txn.cursor(store.meta.db["collections"]):
            key = bytes(raw_key).decode()
            record = meta.load_object(raw, f"the record of collection {key!r}", FIELDS)
            found += [
                (key, lk["version"])
                for lk in record["links"]
                if (lk["artifact"], lk["number"]) == (name, number)
            ]
    return found


def rename_artifact_in(store: Store, txn, old: str, new: str) -> None:
    """Links follow an artifact that is renamed (called inside the rename's transaction)."""
    for raw_key, raw in list(txn.cursor(store.meta.db["collections"])):
        key = bytes(raw_key).decode()
        record = meta.load_object(raw, f"the record of collection {key!r}", FIELDS)
        if any(lk["artifact"] == old for lk in record["links"]):
            for lk in record["links"]:
                if lk["artifact"] == old:
                    lk["artifact"] = new
            _put(store, txn, key, record)


def _existing(store: Store, txn, key: str) -> dict:
    record = _get(store, txn, key)
    if record is None:
        raise NotFound(f"no collection {key!r}")
    return record
