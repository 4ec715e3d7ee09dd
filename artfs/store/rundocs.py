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
"""

from artfs.store import meta

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


def export(txn, db, run_id: str) -> dict | None:
    """The document of a run as this store holds it; None if it has no record."""
    raw = txn.get(run_id.encode(), db=db["runs"])
    if raw is None:
        return None
    prefix = run_id.encode() + meta.SEP
    inputs = []
    for key, value in meta.prefix_scan(txn, db["inputs"], prefix):
        name, number = meta.split_version_key(bytes(key)[len(prefix) :])
        edge = meta.loads(value, "an input edge")
        files = {}
        for _, read in meta.prefix_scan(txn, db["input_files"], bytes(key)):
            path, nbytes, shared = meta.unpack_file_read(read)
            files[path] = [nbytes, shared]
        inputs.append({"name": name, "number": number, **edge, "files": files})
    outputs = [
        list(meta.split_version_key(bytes(key)[len(prefix) :]))
        for key, _ in meta.prefix_scan(txn, db["outputs"], prefix)
    ]
    return {
        "record": meta.loads(raw, f"the record of run {run_id}"),
        "inputs": inputs,
        "outputs": outputs,
    }


def take(txn, db, doc: dict) -> None:
    """Make this store's lineage of a run another machine ran what ``doc`` says.  Its
    record goes in without the index of running runs: that index maps this machine's
    process ids, and the run's process is on another."""
    record = doc["record"]
    run_id = record["id"]
    key = run_id.encode()
    prefix = key + meta.SEP
    txn.put(key, meta.dumps(record), db=db["runs"])
    for old, _ in list(meta.prefix_scan(txn, db["inputs"], prefix)):
        version = bytes(old)[len(prefix) :]
        for file_key, _ in list(meta.prefix_scan(txn, db["input_files"], bytes(old))):
            txn.delete(file_key, db=db["input_files"])
        txn.delete(version + meta.SEP + key, db=db["consumers"])
        txn.delete(old, db=db["inputs"])
    for old, _ in list(meta.prefix_scan(txn, db["outputs"], prefix)):
        txn.delete(old, db=db["outputs"])
    for edge in doc.get("inputs", []):
        edge_key = meta.run_version_key(run_id, edge["name"], edge["number"])
        txn.put(
            edge_key, meta.dumps({"first": edge["first"], "last": edge["last"]}), db=db["inputs"]
        )
        version = meta.version_key(edge["name"], edge["number"])
        txn.put(version + meta.SEP + key, b"", db=db["consumers"])
        for path, (nbytes, shared) in edge.get("files", {}).items():
            txn.put(
                meta.input_file_key(edge_key, path),
                meta.pack_file_bytes(nbytes, path, shared),
                db=db["input_files"],
            )
    for name, number in doc.get("outputs", []):
        txn.put(meta.run_version_key(run_id, name, number), b"", db=db["outputs"])
