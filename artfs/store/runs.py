"""Run records: one execution of a program, with the versions it used and made.

Outputs are written by the commit that publishes a version (same
transaction); inputs by ``record_input``.  The lineage layer reads both.
"""

import contextlib
import getpass
import json
import os
import socket
import sys
import time
from typing import NamedTuple

from artfs.errors import (
    FULL,
    Conflict,
    CorruptData,
    NotFound,
    StoreError,
    disk_full,
)
from artfs.store import keys, meta, rundocs
from artfs.store.backend import DamagedKey, RefTxn
from artfs.store.durable import write_all
from artfs.store.local import LocalRefTxn
from artfs.store.names import check_run_id, is_name  # a run id is a name
from artfs.store.store import Store, Version

RUN_ENV = "ARTFS_RUN_ID"  # the run a process (and what it starts) belongs to


def new_run_id() -> str:
    return os.urandom(6).hex()


def new_run_record(
    *,
    job_type: str | None = None,
    name: str | None = None,
    config: dict | None = None,
    project: str | None = None,
    command: list[str] | None = None,
    pid: int | None = None,
    cwd: str | None = None,
    implicit: bool = False,
    run_id: str | None = None,
    **labels,
) -> dict:
    """A run record that has just started (not yet stored); a config that readers could
    not parse back, or too big, is refused here.  ``labels`` are W&B's descriptive
    fields (entity, group, tags, notes, mode, dir, sweep), recorded as given."""
    meta.check_document(config or {}, "config")
    run_id = check_run_id(run_id) if run_id else new_run_id()
    unknown = set(labels) - set(LABELS)
    if unknown:
        raise TypeError(f"unknown run fields {sorted(unknown)}")
    return {
        "id": run_id,
        "job_type": job_type or "",
        "name": name or f"{job_type or 'run'}-{run_id[:6]}",
        "project": project or "",
        "config": config or {},
        "command": command if command is not None else sys.argv,
        "cwd": cwd or os.getcwd(),
        "host": socket.gethostname(),
        "user": getpass.getuser(),
        "pid": pid if pid is not None else os.getpid(),
        "start": time.time(),
        "end": None,
        "status": "running",
        "exit_code": None,
        "implicit": implicit,
        **{key: labels.get(key, default) for key, default in LABELS.items()},
    }


# W&B's descriptive fields of a run, with what a record made before them reads as
LABELS = {
    "entity": "",
    "group": "",
    "tags": [],
    "notes": "",
    "mode": "online",
    "dir": "",
    "sweep": "",
}


def label(record: dict, key: str):
    return record.get(key, LABELS[key])


def start_run(store: Store, **fields) -> dict:
    """Record a new run; a run id already recorded is refused (nothing is replaced)."""
    record = new_run_record(**fields)
    with store.refs.transaction(write=True) as txn:
        if txn.get(keys.run_key(record["id"])) is not None:
            raise Conflict(
                f"a run with id {record['id']!r} is already recorded; resume it "
                "with init(id=..., resume='allow') or choose another id"
            )
        put_run(store, txn, record)
    store.push_lineage()
    return record


def resume_run(store: Store, run_id: str, **fields) -> dict:
    """Continue a recorded run in this process: running again, ``fields`` updated."""
    with store.refs.transaction(write=True) as txn:
        record = _get(txn, run_id)
        if is_running(record) and is_alive(record):
            raise Conflict(
                f"run {run_id} is still running (process {record['pid']} on "
                f"{record['host']}); finish it before resuming it"
            )
        record.update(
            fields,
            status="running",
            end=None,
            exit_code=None,
            pid=os.getpid(),
            resumed=[*record.get("resumed", []), time.time()],
        )
        put_run(store, txn, record)
    store.push_lineage()
    return record


def is_alive(record: dict) -> bool:
    """Whether a running record's process still exists (only knowable on its host)."""
    if record.get("host") != socket.gethostname():
        return True
    try:
        os.kill(record["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def finish_run(
    store: Store,
    run_id: str,
    *,
    status: str = "finished",
    exit_code: int | None = 0,
    error: str | None = None,
) -> dict:
    return _update(
        store,
        run_id,
        end=time.time(),
        status=status,
        exit_code=exit_code,
        **({"error": error} if error else {}),
    )


def update_run(store: Store, run_id: str, **fields) -> dict:
    """Change fields of a run record (config, tags, notes, ...); a config readers could
    not parse back is refused before anything changes."""
    if "config" in fields:
        meta.check_document(fields["config"], "config")
    return _update(store, run_id, **fields)


def _update(store: Store, run_id: str, **fields) -> dict:
    with store.refs.transaction(write=True) as txn:
        record = _get(txn, run_id)
        record.update(fields)
        put_run(store, txn, record)
    store.push_lineage()
    return record


def get_run(store: Store, run_id: str) -> dict:
    with store.refs.transaction() as txn:
        return _get(txn, run_id)


def _get(txn: RefTxn, run_id: str) -> dict:
    ref = txn.get(keys.run_key(run_id)) if is_name(run_id) else None
    if ref is None:
        raise NotFound(f"no run with id {run_id!r}; 'artfs runs ls' lists them")
    return meta.run_record(ref.value, run_id)


def put_run(store: Store, txn: LocalRefTxn, record: dict) -> None:
    """Write a run record, and keep the index of running runs in step with it."""
    run_id = record["id"]
    txn.put(keys.run_key(run_id), meta.dumps(record))
    if store.remote is not None:
        rundocs.mark(txn.lmdb, store.meta.db, run_id)  # the remote's bookkeeping
    if is_running(record):
        txn.put(keys.running_key(run_id), meta.pack_running(record["pid"], record["start"]))
    else:
        txn.delete(keys.running_key(run_id))


def is_running(record: dict) -> bool:
    """A run that processes can belong to: started, not ended, and not implicit."""
    return record["status"] == "running" and bool(record.get("pid")) and not record.get("implicit")


def running_runs(store: Store) -> dict[int, str]:
    """pid -> run id of every running run, from the index (not from every record); of
    two runs of one process (``init`` twice), the later."""
    with store.refs.transaction() as txn:
        return running_runs_in(store, txn)


def running_runs_seen(store: Store) -> tuple[int, dict[int, str]]:
    """``running_runs`` with the change token of the view they were read in (not the
    store's newest: LMDB makes a commit's id known before new readers see the commit,
    so a run starting then would be missing from the answer yet count as seen)."""
    with store.refs.transaction() as txn:
        return txn.change_token(), running_runs_in(store, txn)


def running_runs_in(store: Store, txn: RefTxn) -> dict[int, str]:
    """``running_runs`` as a transaction sees them."""
    found = []
    for key, value in txn.items(keys.RUNNING):
        try:  # a damaged entry must not stop attribution for every other run
            found.append((*meta.unpack_running(value), _run_id(key, keys.RUNNING)))
        except CorruptData:
            continue  # verify reports it
    by_start = sorted(found, key=lambda pid_start_id: pid_start_id[1])
    return {pid: run_id for pid, _, run_id in by_start}


def record_input(
    store: Store, run_id: str, version: Version, files: dict[str, int] | None = None
) -> None:
    """Note that a run used a version (and, when known, which files and how many bytes)."""
    with store.refs.transaction(write=True) as txn:
        _get(txn, run_id)
        now = time.time()
        _add_input(store, txn, run_id, version.name, version.number, Reads(files or {}, now, now))
    store.push_lineage()


class Reads(NamedTuple):
    """What one run read of one version in a batch: bytes per file, when, each file's
    size (no run is credited more), and the files another run read at the same time
    (their counts are lower bounds: the kernel may have served pages the other's reads
    brought in)."""

    files: dict[str, int]
    first: float
    last: float
    sizes: dict[str, int] = {}
    shared: frozenset[str] = frozenset()


def record_reads(
    store: Store, new_runs: list[dict], edges: dict[tuple[str, str, int], Reads]
) -> int:
    """A batch from the mount: implicit runs it created, and what runs read (one txn);
    → the change token it made (``Store.change_token``)."""
    with store.refs.transaction(write=True) as txn:
        for record in new_runs:
            put_run(store, txn, record)
        for (run_id, name, number), reads in edges.items():
            _add_input(store, txn, run_id, name, number, reads)
        written = txn.change_token()
    store.push_lineage()
    return written


def _add_input(
    store: Store, txn: LocalRefTxn, run_id: str, name: str, number: int, reads: Reads
) -> None:
    """Add to an input edge: its times, and the bytes of each file read since the last
    batch (one small record per file, so a batch costs what was read in it)."""
    files, first, last = reads.files, reads.first, reads.last
    key = keys.input_key(run_id, name, number)
    if store.remote is not None:
        rundocs.mark(txn.lmdb, store.meta.db, run_id)  # the remote's bookkeeping
    edge = _edge(_value(txn.get(key))) or {"first": first}
    edge["last"] = last
    txn.put(key, meta.dumps(edge))
    txn.put(keys.consumer_key(name, number, run_id), b"")
    for path, nbytes in files.items():
        shared = path in reads.shared
        _add_file_bytes(txn, (run_id, name, number), path, nbytes, reads.sizes.get(path), shared)


def _add_file_bytes(
    txn: RefTxn,
    edge: tuple[str, str, int],
    path: str,
    nbytes: int,
    size: int | None = None,
    shared: bool = False,
) -> None:
    """Add to the bytes that run ``edge[0]`` read of one file of version ``edge[1:]``."""
    file_key = keys.input_file_key(*edge, path)
    old = _value(txn.get(file_key))
    try:
        _, before, was_shared = meta.unpack_file_read(old) if old else ("", 0, False)
    except CorruptData:  # replaced, as a damaged edge is (see _edge)
        old, before, was_shared = None, 0, False
    total = nbytes + before if size is None else min(nbytes + before, size)
    if old is not None and total == before and (shared or was_shared) == was_shared:
        return  # nothing new (a later epoch re-reading the file whole): no write
    txn.put(file_key, meta.pack_file_bytes(total, path, shared or was_shared))


def _value(ref) -> bytes | None:
    return None if ref is None else ref.value


def _run_id(key: str, prefix: str, what: str = "a lineage key") -> str:
    """The run id a listed key ends with; a damaged key's stored bytes decoded as
    before the seam (meta.decode_run_id: CorruptData only if they are not ASCII)."""
    if isinstance(key, DamagedKey):
        return meta.decode_run_id(key.raw, what)
    return key[len(prefix) :] if prefix in (keys.RUNS, keys.RUNNING) else keys.last_part(key)


def _edge(raw: bytes | None) -> dict | None:
    """An input edge's record, None if absent.  A damaged one counts as absent and is
    replaced: the mount adds to edges while it runs, and one damaged record must not
    stop every later batch of reads (verify reports it until then)."""
    if raw is None:
        return None
    try:
        edge = meta.loads(raw, "an input edge")
    except CorruptData:
        return None
    return edge if isinstance(edge, dict) and isinstance(edge.get("first"), (int, float)) else None


def upgrade_from_format_1(store: Store, txn: LocalRefTxn) -> None:
    """Format 1 kept an input edge's bytes per file inside its JSON, and had no index of
    running runs: move the bytes to input_files records, and build the index."""
    for key, value in list(txn.items(keys.RUNS)):
        put_run(store, txn, meta.run_record(value, _run_id(key, keys.RUNS, "a run key")))
    for key, value in list(txn.items(keys.INPUTS)):
        if isinstance(key, DamagedKey):
            raise meta.corrupt(key.problem)
        edge = meta.loads(value, "an input edge")
        run_id, name, number = key.split("/")[2], *keys.edge_version(key)
        for path, nbytes in edge.pop("files", {}).items():
            _add_file_bytes(txn, (run_id, name, number), path, nbytes)
        txn.put(key, meta.dumps(edge))


def run_inputs(
    store: Store, run_id: str, damage: list[str] | None = None
) -> list[tuple[str, int, dict]]:
    """(artifact, version number, edge) of what a run used; the edge is
    ``{"first", "last", "files": {path: bytes read}}``.  A damaged edge raises
    CorruptData, or, given a ``damage`` list, is described there and left out."""
    with store.refs.transaction() as txn:
        out = []
        for key, value in txn.items(keys.edges_prefix(keys.INPUTS, run_id)):
            try:
                out.append(_input_edge(txn, run_id, key, value))
            except CorruptData as e:
                if damage is None:
                    raise
                damage.append(str(e))
        return out


def _edge_version(run_id: str, key: str) -> tuple[str, int]:
    """(name, number) of one of a run's edges; CorruptData naming a damaged key as
    before the seam (meta.split_version_key of what follows the run id)."""
    if isinstance(key, DamagedKey):
        meta.split_version_key(key.raw[len(run_id) + 1 :])
        raise meta.corrupt(key.problem)
    return keys.edge_version(key)


def _input_edge(txn: RefTxn, run_id: str, key: str, value: bytes) -> tuple[str, int, dict]:
    name, number = _edge_version(run_id, key)
    reads = [
        meta.unpack_file_read(raw)
        for _, raw in txn.items(keys.input_files_prefix(run_id, name, number))
    ]
    edge = meta.load_object(
        value, f"the input edge of run {run_id} from {name}:v{number}", {"first": (int, float)}
    )
    edge["files"] = {path: nbytes for path, nbytes, _ in reads}
    shared = sorted(path for path, _, shared in reads if shared)
    if shared:  # counts that are lower bounds (another run read them at once)
        edge["shared"] = shared
    return name, number, edge


def has_output(store: Store, run_id: str, name: str, number: int) -> bool:
    return is_name(run_id) and store.refs.get(keys.output_key(run_id, name, number)) is not None


def consumers(store: Store, version: Version) -> list[str]:
    """Ids of the runs that used a version."""
    prefix = keys.consumers_prefix(version.name, version.number)
    stored = len(meta.version_key(version.name, version.number) + meta.SEP)
    found = []
    for key, _ in store.refs.items(prefix):
        what = f"a consumer key of {version.label}"
        if isinstance(key, DamagedKey):
            found.append(meta.decode_run_id(key.raw[stored:], what))
        else:
            found.append(key[len(prefix) :])
    return found


def run_edges(
    store: Store, run_id: str, db_name: str, damage: list[str] | None = None
) -> list[tuple[str, int, bytes]]:
    """(artifact, version number, raw value) of a run's inputs or outputs; a damaged key
    raises CorruptData, or, given a ``damage`` list, is described there and left out."""
    table = {"inputs": keys.INPUTS, "outputs": keys.OUTPUTS}[db_name]
    out = []
    for key, value in store.refs.items(keys.edges_prefix(table, run_id)):
        try:
            name, number = _edge_version(run_id, key)
        except CorruptData as e:
            if damage is None:
                raise
            damage.append(f"{e} (an {db_name} record of run {run_id})")
            continue
        out.append((name, number, value))
    return out


def list_runs(
    store: Store,
    *,
    job_type: str | None = None,
    include_implicit: bool = False,
    damage: list[str] | None = None,
) -> list[dict]:
    """Run records, oldest first.  Implicit runs (made by a mount for reads outside any
    run) that only read are left out unless asked for; one that committed a version is
    part of the story, as in the lineage graph.  A damaged record raises CorruptData,
    or, given a ``damage`` list, is described there and left out."""
    with store.refs.transaction() as txn:
        records = [_tolerant_run(key, raw, damage) for key, raw in txn.items(keys.RUNS)]
        found = [
            r
            for r in records
            if r is not None
            and (job_type is None or r["job_type"] == job_type)
            and (include_implicit or not r.get("implicit") or _made_any(txn, r["id"]))
        ]
    return sorted(found, key=lambda r: r["start"])


def _made_any(txn: RefTxn, run_id: str) -> bool:
    """Whether the run has an output (any version it made)."""
    return is_name(run_id) and any(True for _ in txn.items(keys.edges_prefix(keys.OUTPUTS, run_id)))


def _tolerant_run(key: str, raw: bytes, damage: list[str] | None) -> dict | None:
    try:
        return meta.run_record(raw, _run_id(key, keys.RUNS, "a run key"))
    except CorruptData as e:
        if damage is None:
            raise
        damage.append(str(e))
        return None


# A run's metrics live beside the metadata, in files of its own under STORE/runs/ID:
# a training loop logs thousands of rows, which must neither grow every run record that
# `runs ls` decodes nor cost a metadata transaction each.  History is append-only JSON
# lines (NaN and Infinity as Python writes them: losses do diverge); a line cut short by a
# crash is the last one and is skipped on reading.


def _metrics_dir(store: Store, run_id: str, create: bool = False) -> str:
    parent = os.path.join(store.path, "runs")
    path = os.path.join(parent, check_run_id(run_id))
    if create:  # private, as the rest of the store (makedirs applies no mode to parents)
        os.makedirs(parent, mode=0o700, exist_ok=True)
        os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def append_history(store: Store, run_id: str, rows: list[dict]) -> None:
    """Add history rows (each with its ``_step``) to a run, durably."""
    if not rows:
        return
    text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
    with _writing(store, run_id):
        path = os.path.join(_metrics_dir(store, run_id, create=True), "history.jsonl")
        _write_synced(path, text.encode(), os.O_APPEND)


def read_history(store: Store, run_id: str) -> list[dict]:
    """A run's history rows in the order logged (none for a run that logged nothing)."""
    path = os.path.join(_metrics_dir(store, run_id), "history.jsonl")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        return []
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:  # the empty tail, or a line a crash cut short
            continue
    return rows


def put_summary(store: Store, run_id: str, summary: dict) -> None:
    """Replace a run's summary at once (a reader sees the old one or the new one)."""
    text = json.dumps(summary, sort_keys=True)
    with _writing(store, run_id):
        directory = _metrics_dir(store, run_id, create=True)
        tmp = os.path.join(directory, f".summary.{os.getpid()}.tmp")
        _write_synced(tmp, text.encode(), os.O_TRUNC)
        os.replace(tmp, os.path.join(directory, "summary.json"))


def _write_synced(path: str, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` (appended or replacing, by ``mode``) and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | mode, 0o600)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _writing(store: Store, run_id: str):
    """A failed metrics write as one line (a full disk as such), never a raw OSError."""
    try:
        yield
    except OSError as e:
        if e.errno in FULL:
            raise disk_full(store.path) from None
        raise StoreError(
            f"cannot write the metrics of run {run_id} under {store.path}: "
            f"{e.strerror}; check that directory"
        ) from None


def get_summary(store: Store, run_id: str) -> dict:
    try:
        with open(os.path.join(_metrics_dir(store, run_id), "summary.json"), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}
    except ValueError:
        raise CorruptData(
            f"the summary of run {run_id} is damaged; its history is "
            "intact ('artfs runs show' lists it)"
        ) from None
