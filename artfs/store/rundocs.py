"""A run's lineage as one document, for the remote: its record, inputs and outputs.

Locally a run is spread over several databases (runs, inputs, input_files,
outputs, consumers; meta.py) so that the mount can add a batch of reads in one
small write.  A remote holds each run as one reference, ``refs/runs/ID``,
written by the machine the run ran on and read by every other:

    {"record": {...run record...},
     "inputs": [{"name", "number", "first", "last", "files": {path: [bytes, shared]}}],
     "outputs": [[name, number], ...]}

A run changed locally is marked dirty in the same transaction as the change
(``b"r" + run id`` in the ``remote`` database), so that a push that failed (the
remote unreachable, the process killed) is made later by any process of the store.
The marks are the remote's bookkeeping, machine-local: ``mark``, ``dirty`` and
``clear`` take the LMDB transaction (a LocalRefTxn's ``lmdb``); the lineage itself
is read and written through a RefTxn.
"""

from artfs.store import keys, meta
from artfs.store.backend import DamagedKey, RefTxn

DIRTY = b"r"


def mark(txn, db, run_id: str) -> None:
    txn.put(DIRTY + run_id.encode(), b"", db=db["remote"])


def dirty(txn, db) -> list[str]:
    cursor = txn.cursor(db["remote"])
    found = []
    if cursor.set_range(DIRTY):
        for key in cursor.iternext(values=False):
            if not bytes(key).startswith(DIRTY):
                break
            found.append(bytes(key)[1:].decode())
    return found


def clear(txn, db, run_id: str) -> None:
    txn.delete(DIRTY + run_id.encode(), db=db["remote"])


def export(txn: RefTxn, run_id: str) -> dict | None:
    """The document of a run as this store holds it; None if it has no record."""
    ref = txn.get(keys.run_key(run_id))
    if ref is None:
        return None
    inputs = []
    for key, value in txn.items(keys.edges_prefix(keys.INPUTS, run_id)):
        name, number = _version_of(key, run_id)
        edge = meta.loads(value, "an input edge")
        files = {}
        for _, read in txn.items(keys.input_files_prefix(run_id, name, number)):
            path, nbytes, shared = meta.unpack_file_read(read)
            files[path] = [nbytes, shared]
        inputs.append({"name": name, "number": number, **edge, "files": files})
    outputs = [
        list(_version_of(key, run_id))
        for key, _ in txn.items(keys.edges_prefix(keys.OUTPUTS, run_id))
    ]
    return {
        "record": meta.loads(ref.value, f"the record of run {run_id}"),
        "inputs": inputs,
        "outputs": outputs,
    }


def _version_of(key: str, run_id: str) -> tuple[str, int]:
    """(name, number) of one of a run's edges; CorruptData for a damaged key, named as
    meta.split_version_key names it."""
    if isinstance(key, DamagedKey):
        meta.split_version_key(key.raw[len(run_id) + 1 :])
        raise meta.corrupt(key.problem)
    return keys.edge_version(key)


def take(txn: RefTxn, doc: dict) -> None:
    """Make this store's lineage of a run another machine ran what ``doc`` says.  Its
    record goes in without the index of running runs: that index maps this machine's
    process ids, and the run's process is on another."""
    record = doc["record"]
    run_id = record["id"]
    txn.put(keys.run_key(run_id), meta.dumps(record))
    for old, _ in list(txn.items(keys.edges_prefix(keys.INPUTS, run_id))):
        if not isinstance(old, DamagedKey):
            name, number = keys.edge_version(old)
            for file_key, _ in list(txn.items(keys.input_files_prefix(run_id, name, number))):
                txn.delete(file_key)
            txn.delete(keys.consumer_key(name, number, run_id))
        txn.delete(old)
    for old, _ in list(txn.items(keys.edges_prefix(keys.OUTPUTS, run_id))):
        txn.delete(old)
    for edge in doc.get("inputs", []):
        name, number = edge["name"], edge["number"]
        txn.put(
            keys.input_key(run_id, name, number),
            meta.dumps({"first": edge["first"], "last": edge["last"]}),
        )
        txn.put(keys.consumer_key(name, number, run_id), b"")
        for path, (nbytes, shared) in edge.get("files", {}).items():
            txn.put(
                keys.input_file_key(run_id, name, number, path),
                meta.pack_file_bytes(nbytes, path, shared),
            )
    for name, number in doc.get("outputs", []):
        txn.put(keys.output_key(run_id, name, number), b"")
