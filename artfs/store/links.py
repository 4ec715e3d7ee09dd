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
from artfs.store.backend import DamagedKey, RefTxn
from artfs.store.keys import COLLECTIONS, collection_key
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


def _get(txn: RefTxn, key: str) -> dict | None:
    ref = txn.get(collection_key(check_key(key)))
    if ref is None:
        return None
    return _record(ref.value, key)


def _record(raw: bytes, key: str) -> dict:
    return meta.load_object(raw, f"the record of collection {key!r}", FIELDS)


def _put(txn: RefTxn, key: str, record: dict) -> None:
    txn.put(collection_key(key), meta.dumps(record))


def _collections(txn: RefTxn) -> list[tuple[str, bytes]]:
    """(PROJECT/NAME, record) of every collection; a damaged key raises CorruptData."""
    found = []
    for stored, raw in txn.items(COLLECTIONS):
        if isinstance(stored, DamagedKey):
            raise meta.corrupt(stored.problem)
        found.append((stored[len(COLLECTIONS) :], raw))
    return found


def get(store: Store, key: str) -> dict:
    with store.refs.transaction() as txn:
        record = _get(txn, key)
    if record is None:
        raise NotFound(
            f"no collection {key!r}; link a version to it first "
            "(run.link_artifact or artifact.link)"
        )
    return record


def exists(store: Store, key: str) -> bool:
    with store.refs.transaction() as txn:
        return _get(txn, key) is not None


def keys(store: Store) -> list[str]:
    with store.refs.transaction() as txn:
        return [key for key, _ in _collections(txn)]


def link(store: Store, key: str, version: Version, aliases=(), run_id: str | None = None) -> int:
    """Link ``version`` into collection ``key`` (made on first use, of the version's type),
    point ``aliases`` at the link, and return the link's number."""
    aliases = [check_alias(a) for a in aliases if a != LATEST]
    with store.refs.transaction(write=True) as txn:
        record = _get(txn, key) or {
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
        _put(txn, key, record)
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
    with store.refs.transaction(write=True) as txn:
        record = _existing(txn, key)
        record["aliases"] = {
            a: n for a, n in record["aliases"].items() if n != number and a not in wanted
        }
        record["aliases"].update(dict.fromkeys(wanted, number))
        _put(txn, key, record)


def unlink(store: Store, key: str, number: int) -> None:
    """Remove one link; its number is not reused."""
    with store.refs.transaction(write=True) as txn:
        record = _existing(txn, key)
        if not _drop(record, lambda lk: lk["version"] == number):
            raise NotFound(f"{key}:v{number} is not linked")
        _put(txn, key, record)


def unlink_version_in(store: Store, txn: RefTxn, name: str, number: int) -> None:
    """A version removed takes its links with it (called inside the removal's transaction),
    so no collection points at nothing."""
    for stored, raw in list(txn.items(COLLECTIONS)):
        if isinstance(stored, DamagedKey):
            continue  # as a damaged record: it must not block removals
        key = stored[len(COLLECTIONS) :]
        try:
            record = _record(raw, key)
        except CorruptData:  # a damaged collection must not block removals; it is named
            continue  # when read, and its link to this version resolves to nothing
        if _drop(record, lambda lk: (lk["artifact"], lk["number"]) == (name, number)):
            _put(txn, key, record)


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
    with store.refs.transaction(write=True) as txn:
        record = _existing(txn, key)
        record["description"], record["tags"] = description or "", sorted(set(tags))
        if new_key and new_key != key:
            if _get(txn, new_key) is not None:
                raise Conflict(f"collection {new_key!r} already exists; choose another name")
            txn.delete(collection_key(key))
            key = new_key
        _put(txn, key, record)


def delete(store: Store, key: str) -> None:
    """Forget a collection and its links (the linked versions stay)."""
    with store.refs.transaction(write=True) as txn:
        _existing(txn, key)
        txn.delete(collection_key(key))


def links_to(store: Store, name: str, number: int) -> list[tuple[str, int]]:
    """(collection, link number) of every link to ``name:vN``."""
    found = []
    with store.refs.transaction() as txn:
        for key, raw in _collections(txn):
            record = _record(raw, key)
            found += [
                (key, lk["version"])
                for lk in record["links"]
                if (lk["artifact"], lk["number"]) == (name, number)
            ]
    return found


def rename_artifact_in(txn: RefTxn, old: str, new: str) -> None:
    """Links follow an artifact that is renamed (called inside the rename's transaction)."""
    for key, raw in _collections(txn):
        record = _record(raw, key)
        if any(lk["artifact"] == old for lk in record["links"]):
            for lk in record["links"]:
                if lk["artifact"] == old:
                    lk["artifact"] = new
            _put(txn, key, record)


def _existing(txn: RefTxn, key: str) -> dict:
    record = _get(txn, key)
    if record is None:
        raise NotFound(f"no collection {key!r}")
    return record
