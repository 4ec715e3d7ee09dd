"""Run records: one execution of a program, with the versions it used and made.

Outputs are written by the commit that publishes a version (same
transaction); inputs by ``record_input``.  The lineage layer reads both.
"""

import getpass
import os
import socket
import sys
import time
import uuid

from artfs.errors import NotFound
from artfs.store import meta
from artfs.store.store import Store, Version


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def start_run(store: Store, *, job_type: str | None = None, name: str | None = None,
              config: dict | None = None, project: str | None = None,
              command: list[str] | None = None) -> dict:
    record = {
        "id": new_run_id(), "job_type": job_type or "", "name": name or "",
        "project": project or "", "config": config or {},
        "command": command if command is not None else sys.argv,
        "cwd": os.getcwd(), "host": socket.gethostname(), "user": getpass.getuser(),
        "pid": os.getpid(), "start": time.time(), "end": None, "status": "running",
        "exit_code": None,
    }
    if not record["name"]:
        record["name"] = f"{record['job_type'] or 'run'}-{record['id'][:6]}"
    _put(store, record)
    return record


def finish_run(store: Store, run_id: str, *, status: str = "finished",
               exit_code: int | None = 0, error: str | None = None) -> dict:
    return _update(store, run_id, end=time.time(), status=status, exit_code=exit_code,
                   **({"error": error} if error else {}))


def set_pid(store: Store, run_id: str, pid: int) -> dict:
    """The process the run is: its descendants' reads belong to the run."""
    return _update(store, run_id, pid=pid)


def _update(store: Store, run_id: str, **fields) -> dict:
    with store.meta.write() as txn:
        record = _get(store, txn, run_id)
        record.update(fields)
        txn.put(run_id.encode(), meta.dumps(record), db=store.meta.db["runs"])
    return record


def get_run(store: Store, run_id: str) -> dict:
    with store.meta.read() as txn:
        return _get(store, txn, run_id)


def _get(store: Store, txn, run_id: str) -> dict:
    raw = txn.get(run_id.encode(), db=store.meta.db["runs"])
    if raw is None:
        raise NotFound(f"no run with id {run_id!r}; 'artfs runs ls' lists them")
    return meta.loads(raw)


def _put(store: Store, record: dict) -> None:
    with store.meta.write() as txn:
        txn.put(record["id"].encode(), meta.dumps(record), db=store.meta.db["runs"])


def record_input(store: Store, run_id: str, version: Version,
                 files: dict[str, int] | None = None) -> None:
    """Note that a run used a version (and, when known, which files and how many bytes)."""
    key = meta.input_key(run_id, version.name, version.number)
    now = time.time()
    with store.meta.write() as txn:
        _get(store, txn, run_id)
        raw = txn.get(key, db=store.meta.db["inputs"])
        edge = meta.loads(raw) if raw else {"first": now, "files": {}}
        edge["last"] = now
        for path, nbytes in (files or {}).items():
            edge["files"][path] = edge["files"].get(path, 0) + nbytes
        txn.put(key, meta.dumps(edge), db=store.meta.db["inputs"])
        txn.put(meta.version_key(version.name, version.number) + meta.SEP + run_id.encode(),
                b"", db=store.meta.db["consumers"])


def consumers(store: Store, version: Version) -> list[str]:
    """Ids of the runs that used a version."""
    prefix = meta.version_key(version.name, version.number) + meta.SEP
    with store.meta.read() as txn:
        return [bytes(k[len(prefix):]).decode()
                for k, _ in meta.prefix_scan(txn, store.meta.db["consumers"], prefix)]


def run_edges(store: Store, run_id: str, db_name: str) -> list[tuple[str, int, bytes]]:
    """(artifact, version number, raw value) of a run's inputs or outputs."""
    prefix = run_id.encode() + meta.SEP
    with store.meta.read() as txn:
        out = []
        for key, value in meta.prefix_scan(txn, store.meta.db[db_name], prefix):
            name, number = meta.split_version_key(key[len(prefix):])
            out.append((name, number, bytes(value)))
        return out


def list_runs(store: Store) -> list[dict]:
    with store.meta.read() as txn:
        return sorted((meta.loads(v) for _, v in txn.cursor(store.meta.db["runs"])),
                      key=lambda r: r["start"])
