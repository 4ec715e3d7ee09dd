"""Which run a reading process belongs to, and what it read, recorded in batches.

A process belongs to the running run whose id is in its environment
(``ARTFS_RUN_ID``, inherited by everything ``artfs run`` and ``artfs.init``
start), else to the running run whose recorded pid is one of its ancestors
(forked workers, whose environment block predates ``artfs.init``), else to an
*implicit* run of its process group, so a plain shell script gets lineage too.  Answers are cached
per process; reads are summed in memory and written to the store at most a
second later, in one transaction, by a worker thread.
"""

import logging
import os
import pwd
import time
from dataclasses import dataclass, field

from artfs.errors import InvalidName
from artfs.store import runs as runs_mod
from artfs.store.names import check_run_id
from artfs.store.store import Store

log = logging.getLogger("artfs.mount")

RUN_ENV = runs_mod.RUN_ENV.encode() + b"="
MAX_CACHED = 100_000  # processes remembered; the cache starts over beyond that
MAX_PENDING = 100_000  # run-version edges kept in memory while the disk is full


@dataclass
class Edge:
    """What one run read of one version since the last flush."""

    files: dict[str, int] = field(default_factory=dict)
    first: float = field(default_factory=time.time)
    last: float = field(default_factory=time.time)
    sizes: dict[str, int] = field(default_factory=dict)
    shared: set[str] = field(default_factory=set)  # another run read them at the same time


def _proc(pid: int, name: str) -> bytes:
    """A /proc file, read with bare system calls (open() costs four times as much, and
    this is paid on every first open by a new process)."""
    fd = os.open(f"/proc/{pid}/{name}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        parts = []
        while part := os.read(fd, 65536):
            parts.append(part)
        return b"".join(parts)
    finally:
        os.close(fd)


def _stat_fields(pid: int) -> list[bytes]:
    """/proc/PID/stat after the command name (which may contain spaces)."""
    return _proc(pid, "stat").rsplit(b")", 1)[1].split()


def _identity(pid: int) -> tuple[int, int, int]:
    """(start time, parent pid, process group) of a live process."""
    fields = _stat_fields(pid)
    return int(fields[19]), int(fields[1]), int(fields[2])


def _env_run(pid: int) -> str | None:
    try:
        environ = b"\0" + _proc(pid, "environ")
    except OSError:
        return None
    at = environ.find(b"\0" + RUN_ENV)
    if at < 0:
        return None
    found = environ[at + 1 + len(RUN_ENV) :].split(b"\0", 1)[0].decode(errors="replace")
    try:  # not a run id artfs could have made: the process belongs to no run by it
        return check_run_id(found)
    except InvalidName:
        return None


def _uid(pid: int) -> int | None:
    """The user a live process runs as (its /proc directory belongs to it)."""
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def _user_name(uid: int | None) -> str:
    try:
        return pwd.getpwuid(uid).pw_name if uid is not None else "?"
    except KeyError:
        return str(uid)


def _cwd(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def _command(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


class Attribution:
    def __init__(self, store: Store):
        self.store = store
        self._by_process: dict[tuple[int, int], str] = {}  # (pid, start time) -> run id
        self._recent: dict[int, str] = {}  # pid -> run id, until the next flush (a pid is
        # not reused within a second, so no start time is read to tell processes apart)
        self._recent_groups: dict[int, str] = {}  # process group -> implicit run, likewise
        self._explicit: dict[tuple[int, int], str | None] = {}  # ... -> non-implicit run
        self._roots: dict[int, str] = {}  # pid -> id of a running run with that pid
        self._running: set[str] = set()  # ids of the running runs in _roots
        self._owners: dict[str, int | None] = {}  # running run -> the uid it runs as
        self._roots_txn = -1  # the transaction whose view the runs were read in
        self._implicit: dict[tuple[int, int], str] = {}  # (pgid, leader start) -> run id
        self._new_runs: list[dict] = []
        self._edges: dict[tuple[str, str, int], Edge] = {}
        self._outputs: dict[tuple[str, str, int], bool] = {}  # forgotten on every refresh

    # --- processes to runs -------------------------------------------------------

    def run_of(self, pid: int) -> str | None:
        """The run a process belongs to (None if it vanished before we could tell).

        Call ``refresh`` first when ``stale``, so that a run started a moment ago counts."""
        run_id = self._recent.get(pid)  # asked since the last flush: no /proc read at all
        if run_id is not None:
            return run_id
        if not self._roots:  # no run is running: no ancestry to walk
            run_id = self._quick_run(pid)
            if run_id is not None:
                self._recent[pid] = run_id
            return run_id
        try:
            start, parent, pgid = _identity(pid)
        except (OSError, ValueError, IndexError):
            return None
        key = (pid, start)
        run_id = self._by_process.get(key)
        if run_id is None:
            explicit = self._explicit_run(pid, start, parent)
            run_id = self._by_process[key] = explicit or self._implicit_run(pgid, pid)
        self._recent[pid] = run_id
        return run_id

    def _quick_run(self, pid: int) -> str | None:
        """run_of when no run is running: the implicit run of the process group, found
        without reading /proc (an environment naming a finished run does not count)."""
        try:
            pgid = os.getpgid(pid)
        except ProcessLookupError:
            return None
        run_id = self._recent_groups.get(pgid)
        if run_id is None:
            run_id = self._recent_groups[pgid] = self._implicit_run(pgid, pid)
        return run_id

    def _explicit_run(self, pid: int, start: int, parent: int) -> str | None:
        """The run in the process's environment, or recorded for it or an ancestor.

        Cached per process, so the thousand ``cat``s of one ``xargs`` cost one
        look at their parent."""
        key = (pid, start)
        if key in self._explicit:
            return self._explicit[key]
        from_env = _env_run(pid)
        if pid in self._roots:
            found = self._roots[pid]
        elif from_env in self._running:
            found = from_env
        else:
            found = None
            if parent > 1:
                try:
                    parent_start, grandparent, _ = _identity(parent)
                    found = self._explicit_run(parent, parent_start, grandparent)
                except (OSError, ValueError, IndexError):
                    pass
        if found is not None and pid not in self._roots and not self._may_join(pid, found):
            found = None
        self._explicit[key] = found
        return found

    def _may_join(self, pid: int, run_id: str) -> bool:
        """Only the run's own user (or root) joins it, by environment or ancestry: another
        user's process must not be recorded as an input of someone else's run."""
        uid = _uid(pid)
        return uid is not None and (uid == 0 or uid == self._owners.get(run_id))

    def stale(self) -> bool:
        """Whether the store changed since the view the runs were read in (a cheap
        check), so that a run that started a moment ago is found."""
        return self.store.change_token() != self._roots_txn

    def refresh(self) -> None:
        """Re-read the running runs (their index: a few records, however many runs the
        store holds); when they changed, forget what processes were found to belong to
        (``artfs.init`` can turn a process into a run)."""
        snapshot, roots = runs_mod.running_runs_seen(self.store)
        self._outputs.clear()  # the change may be a commit by a run that reads
        if roots != self._roots or len(self._by_process) > MAX_CACHED:
            self._by_process.clear()
            self._explicit.clear()
            self._recent.clear()
            self._recent_groups.clear()
        self._roots, self._running = roots, set(roots.values())
        self._owners = {run_id: _uid(pid) for pid, run_id in roots.items()}
        self._roots_txn = snapshot

    def _implicit_run(self, pgid: int, pid: int) -> str:
        """One implicit run per process group (a shell pipeline, a script), recorded as
        the user of the process that read (not the daemon's)."""
        try:
            leader_start = _identity(pgid)[0]
        except (OSError, ValueError, IndexError):
            leader_start = 0
        key = (pgid, leader_start)
        run_id = self._implicit.get(key)
        if run_id is None:
            command = _command(pgid) or ["?"]
            record = runs_mod.new_run_record(
                job_type="adhoc",
                name=" ".join(command)[:80],
                command=command,
                pid=pgid,
                cwd=_cwd(pgid),
                implicit=True,
            )
            uid = _uid(pid)
            record.update(status="adhoc", uid=uid, user=_user_name(uid))
            run_id = self._implicit[key] = record["id"]
            self._new_runs.append(record)
        return run_id

    # --- reads -------------------------------------------------------------------------

    def opened(self, run_id: str | None, name: str, number: int, path: str, size: int) -> None:
        self.read(run_id, name, number, path, size, 0)

    def read(
        self, run_id: str | None, name: str, number: int, path: str, size: int, nbytes: int
    ) -> None:
        """``nbytes`` more of a file of ``size`` bytes served to a run (never counted past
        its size: the kernel may read ahead through one run's handle for another's)."""
        if run_id is None or self._made_by(run_id, name, number):
            return  # a run reading what it made is not an input of it: no cycles
        edge = self._edges.get((run_id, name, number))
        if edge is None:
            edge = self._edges[(run_id, name, number)] = Edge()
        edge.files[path] = min(edge.files.get(path, 0) + nbytes, size)
        edge.sizes[path] = size
        edge.last = time.time()

    def shared(self, run_id: str | None, name: str, number: int, path: str) -> None:
        """Two runs have one file open at once: the kernel may serve either from pages
        the other's reads brought in, so what each is credited is only a lower bound."""
        if run_id is None or self._made_by(run_id, name, number):
            return
        edge = self._edges.get((run_id, name, number))
        if edge is None:
            edge = self._edges[(run_id, name, number)] = Edge()
        edge.files.setdefault(path, 0)
        edge.shared.add(path)

    def _made_by(self, run_id: str, name: str, number: int) -> bool:
        """Whether the run output that version (made it, or committed the same content)."""
        key = (run_id, name, number)
        made = self._outputs.get(key)
        if made is None:
            made = self._outputs[key] = runs_mod.has_output(self.store, *key)
        return made

    # --- writing -------------------------------------------------------------------------

    def take_batch(self) -> tuple[list[dict], dict]:
        """What to write now (on the trio loop, so nothing is added while it is taken)."""
        self._recent.clear()
        self._recent_groups.clear()
        runs, edges = self._new_runs, self._edges
        self._new_runs, self._edges = [], {}
        return runs, edges

    def put_back(self, runs: list[dict], edges: dict) -> None:
        """A batch that could not be written (a full disk) waits for the next one, merged
        with what was read since.  Beyond MAX_PENDING edges the least recently read are
        dropped, and the log says which: memory stays bounded however long the disk is
        full."""
        self._new_runs = runs + self._new_runs
        for key, edge in edges.items():
            now = self._edges.setdefault(key, edge)
            if now is not edge:
                for path, nbytes in edge.files.items():
                    now.files[path] = now.files.get(path, 0) + nbytes
                now.sizes |= edge.sizes
                now.shared |= edge.shared
                now.first = min(now.first, edge.first)
        excess = len(self._edges) - MAX_PENDING
        if excess > 0:  # the least recently read go first
            for key in sorted(self._edges, key=lambda k: self._edges[k].last)[:excess]:
                run_id, name, number = key
                log.warning(
                    "dropped the reads of %s:v%d by run %s (%d files): the store's "
                    "disk stayed full too long",
                    name,
                    number,
                    run_id,
                    len(self._edges.pop(key).files),
                )

    def write_batch(self, runs: list[dict], edges: dict) -> None:
        """Store a batch (in a worker thread)."""
        if runs or edges:
            written = runs_mod.record_reads(
                self.store,
                runs,
                {
                    key: runs_mod.Reads(
                        edge.files, edge.first, edge.last, edge.sizes, frozenset(edge.shared)
                    )
                    for key, edge in edges.items()
                },
            )
            # Our own write starts or ends no run: when nothing else was written since the
            # running runs were read, it must not make them stale.
            if self._roots_txn == written - 1:
                self._roots_txn = written
