"""Lineage through the real mount: which run read which files of which version, how many
bytes, and what it committed; ``artfs run``, ``artfs.init``, implicit runs of plain shell
scripts, restarts of the daemon, bad input, and every output format.

Every test runs a real ``artfs mount`` and real programs (sh, cat, Python with
multiprocessing) that read through it; the assertions are on exact files and byte counts.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import lmdb
import pytest
import trio

import artfs
from artfs.fs.attribution import Attribution
from artfs.fs.ops import PUSH_BYTES, Operations
from artfs.store import meta
from artfs.store import runs as runs_mod
from artfs.store import store as store_mod
from artfs.store.store import Store
from tests.conftest import read, unmount, write

FLUSH_WAIT = 10  # seconds to wait for a batch of reads to reach the store (written every 1 s)

DS_FILES = {
    "a.csv": b"id,value\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(20_000)),
    "sub/b.bin": bytes(range(256)) * 6_000,  # 1.5 MB: many FUSE reads, several chunks
    "c.txt": b"never read\n" * 100,
    "d.txt": b"small\n",
}


# --- helpers ----------------------------------------------------------------------------


def put_ds(cli, tmp_path, name: str = "ds", files: dict | None = None) -> dict[str, int]:
    """Store ``files`` as ``name:v0``; returns path -> size."""
    files = DS_FILES if files is None else files
    src = tmp_path / f"src-{name}"
    for path, data in files.items():
        write(src / path, data)
    result = cli("put", str(src), "--name", name)
    assert result.code == 0, result.err
    return {path: len(data) for path, data in files.items()}


def vpath(mount: str, name: str, number: int = 0, path: str = "") -> str:
    return os.path.join(mount, "artifacts", name, f"v{number}", path)


def run_cat(job_type: str, path: str) -> subprocess.CompletedProcess:
    """``cat PATH`` as a recorded run of ``job_type`` (``artfs run``), from its own process."""
    command = [sys.executable, "-m", "artfs", "run", "--job-type", job_type, "--", "cat", path]
    return subprocess.run(command, capture_output=True, timeout=60)


def wait_for(check, timeout: float = FLUSH_WAIT):
    """``check()`` once it returns something true (reads reach the store within ~1 s)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def as_json(result):
    assert result.code == 0, result.err
    return json.loads(result.out)


def all_runs(cli) -> list[dict]:
    return as_json(cli("runs", "ls", "--all", "--json"))


def run_inputs(cli, run_id: str) -> dict[str, dict[str, int]]:
    """version -> {file: bytes} that the store holds for a run."""
    shown = as_json(cli("runs", "show", run_id, "--json"))
    return {edge["version"]: edge["files"] for edge in shown["inputs"]}


def inputs_become(cli, run_id: str, expected: dict) -> dict:
    """The run's inputs once they equal ``expected`` (or what they are after the timeout)."""
    return wait_for(lambda: (found := run_inputs(cli, run_id)) == expected and found) or run_inputs(
        cli, run_id
    )


def edges_of(graph: dict) -> set[tuple[str, str, str]]:
    return {(e["from"], e["to"], e["kind"]) for e in graph["edges"]}


def input_files(graph: dict, source: str, target: str) -> dict:
    found = [e for e in graph["edges"] if (e["from"], e["to"]) == (source, target)]
    assert len(found) == 1, graph["edges"]
    return found[0]["files"]


def artfs_shell(store_dir: str) -> str:
    """The artfs command for shell scripts (this interpreter, no Python in the script)."""
    return f"{sys.executable} -m artfs --store {store_dir}"


# --- 1. a plain shell script gets lineage ----------------------------------------------


def test_shell_script_in_its_own_process_group(cli, mount, store_dir, tmp_path):
    sizes = put_ds(cli, tmp_path)
    script = tmp_path / "train.sh"
    script.write_text(
        textwrap.dedent(f"""\
        #!/bin/sh
        set -e
        V="$1/artifacts/ds/v0"
        mkdir "$1/staging/model"
        cat "$V/a.csv" "$V/sub/b.bin" | wc -c > "$1/staging/model/weights.txt"
        printf 'trained\\n' >> "$1/staging/model/weights.txt"
        {artfs_shell(store_dir)} commit model
        """)
    )
    done = subprocess.run(
        ["setsid", "-w", "sh", str(script), mount],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, "model:v0\n"), done.stderr
    total = sizes["a.csv"] + sizes["sub/b.bin"]
    assert read(vpath(mount, "model", 0, "weights.txt")) == b"%d\ntrained\n" % total

    graph = as_json(cli("lineage", "model:v0", "--upstream", "--format", "json"))
    runs = [n for n in graph["nodes"] if n["kind"] == "run"]
    assert len(runs) == 1
    run = runs[0]
    assert (run["implicit"], run["job_type"], run["status"]) == (True, "adhoc", "adhoc")
    assert run["command"][:2] == ["sh", str(script)]
    rnode = run["id"]
    assert graph["root"] == "model:v0"
    assert {n["id"] for n in graph["nodes"]} == {"model:v0", rnode, "ds:v0"}
    assert edges_of(graph) == {(rnode, "model:v0", "output"), ("ds:v0", rnode, "input")}
    # it committed something, so it is listed without --all, like in the graph
    run_id = rnode.removeprefix("run:")
    assert run_id in [r["id"] for r in as_json(cli("runs", "ls", "--json"))]
    assert run_id in [r.id for r in artfs.Api().runs()]
    files = input_files(graph, "ds:v0", rnode)
    assert files == {"a.csv": sizes["a.csv"], "sub/b.bin": sizes["sub/b.bin"]}
    assert "c.txt" not in files and "d.txt" not in files


# --- 2. artfs run with multiprocessing workers -----------------------------------------

POOL_SCRIPT = """\
import json, multiprocessing as mp, os, sys

def init(b):
    global barrier
    barrier = b

def work(paths):
    barrier.wait(timeout=60)  # both workers hold a task: both read
    total = 0
    for path in paths:
        with open(path, "rb") as f:
            total += len(f.read())
    return os.getpid(), total

if __name__ == "__main__":
    version, method, code = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ctx = mp.get_context(method)
    barrier = ctx.Barrier(2)
    groups = [[os.path.join(version, p) for p in ("a.csv", "d.txt")],
              [os.path.join(version, p) for p in ("sub/b.bin", "c.txt")]]
    with ctx.Pool(2, initializer=init, initargs=(barrier,)) as pool:
        results = pool.map(work, groups, chunksize=1)
    assert len({pid for pid, _ in results}) == 2 and os.getpid() not in dict(results)
    print(json.dumps([total for _, total in results]))
    sys.exit(code)
"""


@pytest.mark.parametrize(("method", "code"), [("fork", 0), ("spawn", 0), ("fork", 3)])
def test_run_with_pool_workers(cli, mount, tmp_path, method, code):
    sizes = put_ds(cli, tmp_path)
    script = tmp_path / "train.py"
    script.write_text(POOL_SCRIPT)
    config = {"lr": 0.01, "layers": [64, 32], "method": method}
    result = cli(
        "run",
        "--job-type",
        "train",
        "--name",
        f"pool-{method}",
        "--config",
        json.dumps(config),
        "--",
        sys.executable,
        str(script),
        vpath(mount, "ds"),
        method,
        str(code),
        cwd=str(tmp_path),
    )
    assert result.code == code, result.err
    assert json.loads(result.out) == [
        sizes["a.csv"] + sizes["d.txt"],
        sizes["sub/b.bin"] + sizes["c.txt"],
    ]

    listed = as_json(cli("runs", "ls", "--json"))
    assert len(listed) == 1
    run = listed[0]
    status = "finished" if code == 0 else "failed"
    assert (run["job_type"], run["name"], run["status"], run["exit_code"]) == (
        "train",
        f"pool-{method}",
        status,
        code,
    )
    assert run["config"] == config
    assert run["implicit"] is False
    assert result.err.strip().splitlines()[-1] == f"run {run['id']} {status} (exit {code})"
    text = cli("runs", "ls")
    assert text.code == 0 and run["id"] in text.out and "train" in text.out

    assert inputs_become(cli, run["id"], {"ds:v0": sizes}) == {"ds:v0": sizes}
    assert [r["id"] for r in all_runs(cli)] == [run["id"]]  # nothing went to an implicit run


# --- 3. the Python API: artfs.init, log_artifact, Api().lineage --------------------------

TRAIN_SCRIPT = """\
import json, multiprocessing as mp, os, subprocess, sys, time
import artfs

version = sys.argv[1]
run = artfs.init(job_type="train", name="train-api", config={"epochs": 2})
a = open(os.path.join(version, "a.csv"), "rb").read()  # this process: found by ancestry
b = subprocess.run(["cat", os.path.join(version, "sub/b.bin")],  # a child: by environment
                   capture_output=True, check=True).stdout

def read_c():  # a forked worker: its environment block predates artfs.init
    with open(os.path.join(version, "c.txt"), "rb") as f:
        f.read()

worker = mp.get_context("fork").Process(target=read_c)
worker.start()
worker.join()
assert worker.exitcode == 0
model = artfs.Artifact("model", "model")
with model.new_file("weights.txt") as f:
    f.write(f"{len(a)} {len(b)}\\n")
run.log_artifact(model)
deadline = time.time() + 10
while not run.used_artifacts() and time.time() < deadline:
    time.sleep(0.1)
print(json.dumps({"run": run.id, "logged": [x.name for x in run.logged_artifacts()],
                  "used": [x.name for x in run.used_artifacts()]}))
"""

EVAL_SCRIPT = """\
import json, os, time
import artfs

run = artfs.init(job_type="eval", name="eval-api")
model = artfs.Api().artifact("model:latest")
where = model.download()  # with a mount running: its directory in the mount
weights = open(os.path.join(where, "weights.txt")).read()
report = artfs.Artifact("report", "report")
with report.new_file("score.txt") as f:
    f.write("score for " + weights)
run.log_artifact(report, aliases=["best"])
deadline = time.time() + 10
while not run.used_artifacts() and time.time() < deadline:
    time.sleep(0.1)
print(json.dumps({"run": run.id, "where": where,
                  "logged": [x.name for x in run.logged_artifacts()],
                  "used": [x.name for x in run.used_artifacts()]}))
"""


def test_api_runs_two_hops(cli, mount, store_dir, tmp_path):
    sizes = put_ds(cli, tmp_path)
    (tmp_path / "train.py").write_text(TRAIN_SCRIPT)
    (tmp_path / "eval.py").write_text(EVAL_SCRIPT)

    def python(*args):
        done = subprocess.run(
            [sys.executable, *args], capture_output=True, text=True, cwd=tmp_path, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    train = python("train.py", vpath(mount, "ds"))
    assert (train["logged"], train["used"]) == (["model:v0"], ["ds:v0"])
    evaluation = python("eval.py")
    assert evaluation["where"] == vpath(mount, "model").rstrip("/")
    assert (evaluation["logged"], evaluation["used"]) == (["report:v0"], ["model:v0"])
    weights = b"%d %d\n" % (sizes["a.csv"], sizes["sub/b.bin"])

    t, e = f"run:{train['run']}", f"run:{evaluation['run']}"
    read_by_train = {p: sizes[p] for p in ("a.csv", "sub/b.bin", "c.txt")}
    assert inputs_become(cli, train["run"], {"ds:v0": read_by_train}) == {"ds:v0": read_by_train}
    api = artfs.Api(store_dir)
    graph = api.lineage("report:v0", direction="upstream", depth=2)
    assert graph["root"] == "report:v0"
    assert {n["id"] for n in graph["nodes"]} == {"report:v0", e, "model:v0", t, "ds:v0"}
    assert edges_of(graph) == {
        (e, "report:v0", "output"),
        ("model:v0", e, "input"),
        (t, "model:v0", "output"),
        ("ds:v0", t, "input"),
    }
    assert input_files(graph, "model:v0", e) == {"weights.txt": len(weights)}
    assert input_files(graph, "ds:v0", t) == read_by_train
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert (nodes[t]["job_type"], nodes[t]["status"], nodes[t]["implicit"]) == (
        "train",
        "finished",
        False,
    )
    assert nodes[e]["job_type"] == "eval"
    assert set(nodes["report:v0"]["aliases"]) == {"best", "latest"}

    one_hop = api.lineage("report:v0", direction="upstream", depth=1)
    assert {n["id"] for n in one_hop["nodes"]} == {"report:v0", e, "model:v0"}
    down = api.lineage("ds:v0", direction="downstream")
    assert edges_of(down) == edges_of(graph)

    model = api.artifact("model:v0")
    assert model.logged_by().id == train["run"]
    assert [r.id for r in model.used_by()] == [evaluation["run"]]
    assert [r.id for r in api.artifact("ds:v0").used_by()] == [train["run"]]
    assert api.artifact("report:best").logged_by().id == evaluation["run"]
    assert api.artifact("report:v0").used_by() == []
    assert api.artifact("ds:v0").logged_by() is None
    assert [r["id"] for r in all_runs(cli)] == [train["run"], evaluation["run"]]

    # Last: the test's own reads through the mount are an implicit run of its own.
    assert read(vpath(mount, "model", 0, "weights.txt")) == weights
    assert read(vpath(mount, "report", 0, "score.txt")) == b"score for " + weights


# --- 4. implicit runs that only read are hidden unless asked for -----------------------


def test_implicit_read_only_runs_hidden_without_all(cli, mount, tmp_path):
    sizes = put_ds(cli, tmp_path)
    assert cli("run", "--job-type", "noop", "--", "true").code == 0
    done = subprocess.run(["cat", vpath(mount, "ds", 0, "d.txt")], capture_output=True)
    assert done.stdout == DS_FILES["d.txt"]

    adhoc = wait_for(lambda: [r for r in all_runs(cli) if r["implicit"]])
    assert len(adhoc) == 1
    adhoc = adhoc[0]
    assert (adhoc["job_type"], adhoc["status"]) == ("adhoc", "adhoc")
    assert inputs_become(cli, adhoc["id"], {"ds:v0": {"d.txt": sizes["d.txt"]}}) == {
        "ds:v0": {"d.txt": sizes["d.txt"]}
    }

    listed = as_json(cli("runs", "ls", "--json"))
    assert [r["job_type"] for r in listed] == ["noop"]
    api = artfs.Api()
    assert [r.job_type for r in api.runs()] == ["noop"]
    assert [r.id for r in api.runs(include_implicit=True) if r.implicit] == [adhoc["id"]]
    assert api.run(adhoc["id"]).state == "adhoc"
    assert adhoc["id"] not in cli("runs", "ls").out
    assert adhoc["id"] in cli("runs", "ls", "--all").out

    hidden = as_json(cli("lineage", "ds:v0", "--downstream", "--format", "json"))
    assert [n["id"] for n in hidden["nodes"]] == ["ds:v0"] and hidden["edges"] == []
    assert adhoc["id"][:8] not in cli("lineage", "ds:v0", "--downstream").out
    shown = as_json(cli("lineage", "ds:v0", "--downstream", "--all", "--format", "json"))
    rnode = f"run:{adhoc['id']}"
    assert {n["id"] for n in shown["nodes"]} == {"ds:v0", rnode}
    assert edges_of(shown) == {("ds:v0", rnode, "input")}
    assert input_files(shown, "ds:v0", rnode) == {"d.txt": sizes["d.txt"]}
    tree = cli("lineage", "ds:v0", "--downstream", "--all")
    assert adhoc["id"][:8] in tree.out and "d.txt" in tree.out


# --- 5. reading what the run itself made is no input -----------------------------------


def test_run_reading_its_own_output_records_no_input(cli, mount, store_dir, tmp_path):
    sizes = put_ds(cli, tmp_path)
    script = textwrap.dedent(f"""\
        set -e
        mkdir "$M/staging/x"
        cat "$M/artifacts/ds/v0/d.txt" "$M/artifacts/ds/v0/d.txt" > "$M/staging/x/twice.txt"
        {artfs_shell(store_dir)} commit x
        cat "$M/artifacts/x/v0/twice.txt" > "$M/staging/x/copy.txt"
        {artfs_shell(store_dir)} commit x
        """)
    result = cli(
        "run", "--job-type", "self", "--", "sh", "-c", script, env={"M": mount}, cwd=str(tmp_path)
    )
    assert (result.code, result.out) == (0, "x:v0\nx:v1\n"), result.err

    run = as_json(cli("runs", "ls", "--json"))[0]
    shown = as_json(cli("runs", "show", run["id"], "--json"))
    assert shown["outputs"] == ["x:v0", "x:v1"]
    assert inputs_become(cli, run["id"], {"ds:v0": {"d.txt": sizes["d.txt"]}}) == {
        "ds:v0": {"d.txt": sizes["d.txt"]}
    }
    time.sleep(1.5)  # a wrongly recorded input would have been written by now
    assert run_inputs(cli, run["id"]) == {"ds:v0": {"d.txt": sizes["d.txt"]}}
    graph = as_json(cli("lineage", "x:v1", "--all", "--format", "json"))
    rnode = f"run:{run['id']}"
    # no input edge from x:v0: the staging's base is what joins the two versions
    assert edges_of(graph) == {
        ("ds:v0", rnode, "input"),
        (rnode, "x:v1", "output"),
        ("x:v0", "x:v1", "derived"),
        (rnode, "x:v0", "output"),
    }
    assert [r["id"] for r in all_runs(cli)] == [run["id"]]
    assert read(vpath(mount, "x", 1, "copy.txt")) == DS_FILES["d.txt"] * 2


def test_inputs_are_stored_when_a_run_ends(cli, mount, tmp_path):
    """No waiting for the daemon's next batch: when ``artfs run`` returns, or a run of
    the Python API finishes, its reads are in the store."""
    sizes = put_ds(cli, tmp_path)
    expected = {"ds:v0": {"a.csv": sizes["a.csv"]}}
    for _ in range(3):  # a batch would land within a second: try to catch it missing
        result = cli("run", "--job-type", "cli", "--", "cat", vpath(mount, "ds", 0, "a.csv"))
        assert result.code == 0, result.err
        run = as_json(cli("runs", "ls", "--json"))[-1]
        assert run_inputs(cli, run["id"]) == expected
    code = f"""
import artfs
with artfs.init(job_type="api") as run:
    open({vpath(mount, "ds", 0, "a.csv")!r}, "rb").read()
print(run.id)
"""
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert run_inputs(cli, done.stdout.strip()) == expected


def test_run_committing_unchanged_content_outputs_the_existing_version(
    cli, mount, store_dir, tmp_path
):
    """A pipeline step run again makes the same model: no new version, but the second
    run's output is that version, and reading it back is no input (no cycle)."""
    write(tmp_path / "model" / "w.bin", b"weights" * 1000)
    script = textwrap.dedent(f"""\
        set -e
        {artfs_shell(store_dir)} put "{tmp_path / "model"}" --name m
        cat "$M/artifacts/m/v0/w.bin" > /dev/null
        """)
    for job in ("first", "again"):
        result = cli("run", "--job-type", job, "--", "sh", "-c", script, env={"M": mount})
        assert (result.code, result.out) == (0, "m:v0\n"), result.err
    first, again = as_json(cli("runs", "ls", "--json"))
    for run in (first, again):
        assert as_json(cli("runs", "show", run["id"], "--json"))["outputs"] == ["m:v0"]
    time.sleep(1.5)  # a wrongly recorded input would have been written by now
    assert run_inputs(cli, again["id"]) == {} and run_inputs(cli, first["id"]) == {}
    assert as_json(cli("show", "m:v0", "--json"))["run"] == first["id"]
    graph = as_json(cli("lineage", "m:v0", "--upstream", "--format", "json"))
    assert edges_of(graph) == {(f"run:{first['id']}", "m:v0", "output")}


# --- 6. a daemon restart loses nothing --------------------------------------------------

RESTART_SCRIPT = """\
import os, sys
version = sys.argv[1]
for line in sys.stdin:
    with open(os.path.join(version, line.strip()), "rb") as f:
        print(len(f.read()), flush=True)
"""


@contextlib.contextmanager
def reader_run(store_dir: str, mount: str, tmp_path, sizes: dict):
    """A Python reader of ds:v0 under ``artfs run``: (process, ask), where ``ask(path)``
    has it read one file and checks the size it reports.  Killed on the way out."""
    (tmp_path / "reader.py").write_text(RESTART_SCRIPT)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "artfs",
            "--store",
            store_dir,
            "run",
            "--job-type",
            "reader",
            "--",
            sys.executable,
            "reader.py",
            vpath(mount, "ds"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
    )

    def ask(path: str) -> None:
        proc.stdin.write(path + "\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == f"{sizes[path]}\n"

    try:
        yield proc, ask
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_reads_recorded_across_daemon_restart(cli, mount, store_dir, tmp_path):
    sizes = put_ds(cli, tmp_path)
    with reader_run(store_dir, mount, tmp_path, sizes) as (proc, ask):
        ask("a.csv")
        run = wait_for(lambda: as_json(cli("runs", "ls", "--json")))[0]
        time.sleep(1.5)  # flushed by the daemon's clock, not by the unmount
        assert run_inputs(cli, run["id"]) == {"ds:v0": {"a.csv": sizes["a.csv"]}}
        assert cli("umount", mount).code == 0
        assert cli("mount", mount).code == 0
        ask("sub/b.bin")
        ask("d.txt")  # read just before the unmount: the unmount writes it
        assert cli("umount", mount).code == 0
        after_umount = {p: sizes[p] for p in ("a.csv", "sub/b.bin", "d.txt")}
        assert run_inputs(cli, run["id"]) == {"ds:v0": after_umount}
        assert cli("mount", mount).code == 0
        ask("c.txt")
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    assert inputs_become(cli, run["id"], {"ds:v0": sizes}) == {"ds:v0": sizes}
    assert [r["id"] for r in all_runs(cli)] == [run["id"]]
    assert as_json(cli("runs", "show", run["id"], "--json"))["status"] == "finished"


def test_daemon_crash_loses_at_most_the_last_second(cli, mount, store_dir, tmp_path):
    """SIGKILL of the daemon: reads older than a second are stored, the run survives."""
    sizes = put_ds(cli, tmp_path)
    with reader_run(store_dir, mount, tmp_path, sizes) as (proc, ask):
        ask("a.csv")
        time.sleep(2.5)  # more than a flush interval: a.csv must be in the store now
        daemon = as_json(cli("status", "--json"))[0]["pid"]
        os.kill(daemon, signal.SIGKILL)
        run = as_json(cli("runs", "ls", "--json"))[0]
        assert run["job_type"] == "reader" and run["status"] == "running"
        assert run_inputs(cli, run["id"]) == {"ds:v0": {"a.csv": sizes["a.csv"]}}
        proc.stdin.close()
        proc.wait(timeout=30)  # its reads now fail: the mount is dead
    assert cli("umount", mount).code == 0  # clears the dead mount
    assert cli("verify").code == 0
    assert as_json(cli("show", "ds:v0", "--json"))["files"] == len(sizes)


# --- a run started right after a read (the daemon's list of runs is fresh) ------------


def test_run_started_right_after_another_read(cli, mount, tmp_path):
    """The daemon refreshes its list of running runs at most once a second; a run that
    started meanwhile must still get its reads (not an implicit run)."""
    sizes = put_ds(cli, tmp_path)
    targets = ["c.txt", "a.csv", "sub/b.bin"]  # each read once: bytes come from the daemon
    for target in targets:
        assert (
            subprocess.run(["cat", vpath(mount, "ds", 0, "d.txt")], capture_output=True).stdout
            == DS_FILES["d.txt"]
        )
        result = run_cat("quick", vpath(mount, "ds", 0, target))
        assert (result.returncode, result.stdout) == (0, DS_FILES[target]), result.stderr
    runs = as_json(cli("runs", "ls", "--json"))
    assert len(runs) == len(targets)
    for run, target in zip(runs, targets, strict=True):
        expected = {"ds:v0": {target: sizes[target]}}
        assert inputs_become(cli, run["id"], expected) == expected, target


def test_run_started_while_another_process_keeps_reading(cli, mount, tmp_path):
    """Reads by a busy implicit run keep the daemon's list of runs a few milliseconds old
    at all times; a run that started after the last look must still get its reads."""
    files = {f"f{i}": bytes([i]) * (5_000 + i) for i in range(5)}
    put_ds(cli, tmp_path, name="many", files=files)
    put_ds(cli, tmp_path, name="busy", files={"x": b"busy"})
    loop = f"while :; do cat {vpath(mount, 'busy', 0, 'x')} > /dev/null; sleep 0.01; done"
    busy = subprocess.Popen(["sh", "-c", loop], start_new_session=True)
    try:
        time.sleep(0.5)
        for name, data in files.items():
            result = run_cat("q", vpath(mount, "many", 0, name))
            assert (result.returncode, result.stdout) == (0, data), result.stderr
    finally:
        os.killpg(busy.pid, signal.SIGTERM)
        busy.wait()
    runs = as_json(cli("runs", "ls", "--json"))
    assert len(runs) == len(files)
    for run, (name, data) in zip(runs, files.items(), strict=True):
        expected = {"many:v0": {name: len(data)}}
        assert inputs_become(cli, run["id"], expected) == expected, name


def test_environment_of_a_finished_run_makes_an_implicit_run(cli, mount, tmp_path):
    """A leftover process that still carries the id of a run that has ended reads as
    an implicit run: a finished run gains no inputs after its end."""
    sizes = put_ds(cli, tmp_path)
    assert cli("run", "--job-type", "done", "--", "true").code == 0
    (finished,) = as_json(cli("runs", "ls", "--json"))
    done = subprocess.run(
        ["cat", vpath(mount, "ds", 0, "d.txt")],
        capture_output=True,
        env={**os.environ, "ARTFS_RUN_ID": finished["id"]},
    )
    assert done.stdout == DS_FILES["d.txt"]
    adhoc = wait_for(lambda: [r for r in all_runs(cli) if r["implicit"]])
    assert len(adhoc) == 1
    expected = {"ds:v0": {"d.txt": sizes["d.txt"]}}
    assert inputs_become(cli, adhoc[0]["id"], expected) == expected
    assert run_inputs(cli, finished["id"]) == {}


def test_runs_reading_the_same_file_each_record_its_bytes(cli, mount, tmp_path):
    """The kernel keeps a file's pages between opens; a second run reading them must
    still be recorded as having read the whole file (not 0 bytes)."""
    sizes = put_ds(cli, tmp_path)
    expected = {"ds:v0": {"sub/b.bin": sizes["sub/b.bin"]}}
    for job in ("first", "second", "third"):
        result = run_cat(job, vpath(mount, "ds", 0, "sub/b.bin"))
        assert (result.returncode, result.stdout) == (0, DS_FILES["sub/b.bin"])
        time.sleep(1.2)  # not the race of the test above: the daemon knows the next run
    runs = as_json(cli("runs", "ls", "--json"))
    assert [r["job_type"] for r in runs] == ["first", "second", "third"]
    for run in runs:
        assert inputs_become(cli, run["id"], expected) == expected, run["job_type"]


def test_a_small_file_opened_counts_as_read_whole(cli, mount, tmp_path):
    """A file of at most PUSH_BYTES goes to the kernel with its open, so a run that
    opens it and reads ten bytes is credited all of it; a larger file only what the
    kernel asked for, which ten bytes do not make all of it."""
    files = {"small.bin": os.urandom(200_000), "large.bin": os.urandom(1_500_000)}
    sizes = put_ds(cli, tmp_path, files=files)
    assert sizes["small.bin"] <= PUSH_BYTES < sizes["large.bin"]
    peek = "import os, sys\nfor p in sys.argv[1:]:\n    os.read(os.open(p, os.O_RDONLY), 10)\n"
    paths = [vpath(mount, "ds", 0, name) for name in files]
    result = cli("run", "--job-type", "peek", "--", sys.executable, "-c", peek, *paths)
    assert result.code == 0, result.err
    (run,) = as_json(cli("runs", "ls", "--json"))

    def both_recorded() -> dict:
        found = run_inputs(cli, run["id"]).get("ds:v0", {})
        return found if len(found) == 2 else {}

    credited = wait_for(both_recorded)
    assert credited["small.bin"] == sizes["small.bin"]
    assert 10 <= credited["large.bin"] < sizes["large.bin"]


# --- 7. bad input ------------------------------------------------------------------------


def test_bad_input(cli, tmp_path):
    put_ds(cli, tmp_path, files={"d.txt": b"x"})
    missing = cli("runs", "show", "nope")
    assert missing.code == 1 and missing.out == ""
    assert len(missing.err.splitlines()) == 1 and missing.err.startswith("artfs: error:")
    assert "nope" in missing.err

    for ref in ("ds:v7", "nothere:v0", "ds:nosuchalias"):
        unknown = cli("lineage", ref)
        assert unknown.code == 1, (ref, unknown)
        assert len(unknown.err.splitlines()) == 1 and unknown.err.startswith("artfs: error:")
    assert cli("lineage", "ds:v0", "--format", "png").code == 2
    assert cli("lineage", "ds:v0", "--depth", "-1").code == 2

    assert cli("run").code == 2
    assert cli("run", "--job-type", "x").code == 2
    bad_config = cli("run", "--config", "{not json", "--", "true")
    assert bad_config.code == 2 and len(bad_config.err.splitlines()) == 1
    assert as_json(cli("runs", "ls", "--all", "--json")) == []

    gone = cli("run", "--job-type", "broken", "--", "/nonexistent/cmd", "--flag")
    assert gone.code == 127
    assert len(gone.err.splitlines()) == 1 and "/nonexistent/cmd" in gone.err
    runs = as_json(cli("runs", "ls", "--json"))
    assert len(runs) == 1
    assert (runs[0]["status"], runs[0]["exit_code"], runs[0]["job_type"]) == (
        "failed",
        127,
        "broken",
    )
    assert runs[0]["command"] == ["/nonexistent/cmd", "--flag"]
    assert "failed" in cli("runs", "show", runs[0]["id"]).out


# --- 8. output formats -------------------------------------------------------------------


def test_formats(cli, mount, store_dir, tmp_path):
    sizes = put_ds(cli, tmp_path)
    script = textwrap.dedent(f"""\
        set -e
        mkdir "$M/staging/model"
        cat "$M/artifacts/ds/v0/a.csv" | wc -c > "$M/staging/model/size.txt"
        {artfs_shell(store_dir)} commit model --alias prod
        """)
    made = cli(
        "run",
        "--job-type",
        "train",
        "--name",
        'the "best" model',
        "--",
        "sh",
        "-c",
        script,
        env={"M": mount},
        cwd=str(tmp_path),
    )
    assert made.code == 0, made.err
    run = as_json(cli("runs", "ls", "--json"))[0]
    assert inputs_become(cli, run["id"], {"ds:v0": {"a.csv": sizes["a.csv"]}}) == {
        "ds:v0": {"a.csv": sizes["a.csv"]}
    }

    tree = cli("lineage", "model:v0")
    assert tree.code == 0, tree.err
    for needle in ("model:v0", "ds:v0", "train", run["id"][:8], "a.csv", "prod", "made by"):
        assert needle in tree.out, (needle, tree.out)
    assert tree.out.splitlines()[0].startswith("model:v0")
    down = cli("lineage", "ds:v0", "--format", "tree").out
    assert "read by" in down and "model:v0" in down

    dot = cli("lineage", "model:v0", "--format", "dot")
    assert dot.code == 0 and dot.out.startswith("digraph")
    drawn = subprocess.run(["dot", "-Tsvg"], input=dot.out, capture_output=True, text=True)
    assert drawn.returncode == 0, drawn.stderr
    assert "<svg" in drawn.stdout and "model:v0" in drawn.stdout

    for fmt in ("svg", "html"):
        out = tmp_path / f"lineage.{fmt}"
        written = cli("lineage", "model:v0", "--format", fmt, "-o", str(out))
        assert (written.code, written.out) == (0, ""), written.err
        text = out.read_text()
        assert "<svg" in text and "ds:v0" in text
    assert (tmp_path / "lineage.html").read_text().startswith("<!doctype html>")

    mermaid = cli("lineage", "model:v0", "--format", "mermaid")
    assert mermaid.code == 0 and mermaid.out.startswith("flowchart")
    assert "model:v0" in mermaid.out and "-->" in mermaid.out

    graph = as_json(cli("lineage", "model:v0", "--format", "json"))
    rnode = f"run:{run['id']}"
    assert edges_of(graph) == {("ds:v0", rnode, "input"), (rnode, "model:v0", "output")}


def test_no_lineage_mount_records_nothing(cli, tmp_path):
    put_ds(cli, tmp_path)
    path = str(tmp_path / "mnt")
    os.makedirs(path)
    assert cli("mount", path, "--no-lineage").code == 0
    try:
        result = cli("run", "--job-type", "quiet", "--", "cat", vpath(path, "ds", 0, "d.txt"))
        assert result.code == 0 and result.out.encode() == DS_FILES["d.txt"]
        assert read(vpath(path, "ds", 0, "a.csv")) == DS_FILES["a.csv"]
        time.sleep(1.5)
    finally:
        unmount(path)
    runs = all_runs(cli)
    assert [r["job_type"] for r in runs] == ["quiet"]
    assert run_inputs(cli, runs[0]["id"]) == {}


# --- 9. how input edges are stored --------------------------------------------------------


@pytest.mark.fast
def test_file_records_of_an_edge_add_up_and_take_long_paths(store, cli):
    run = runs_mod.start_run(store, job_type="t")
    long_path = "/".join(["deep"] * 150) + "/f.bin"  # 900 bytes: longer than an LMDB key
    for files in ({"a.csv": 10, long_path: 5}, {"a.csv": 7}):
        runs_mod.record_reads(store, [], {(run["id"], "ds", 0): runs_mod.Reads(files, 1.0, 2.0)})
    ((name, number, edge),) = runs_mod.run_inputs(store, run["id"])
    assert (name, number, edge) == (
        "ds",
        0,
        {"first": 1.0, "last": 2.0, "files": {"a.csv": 17, long_path: 5}},
    )


def test_runs_show_lists_the_first_files_of_an_input_and_all_with_files(store, cli):
    run = runs_mod.start_run(store, job_type="t")
    files = {f"img{i:03}.bin": 1024 * (i + 1) for i in range(12)}
    runs_mod.record_reads(store, [], {(run["id"], "ds", 0): runs_mod.Reads(files, 1.0, 2.0)})
    short = cli("runs", "show", run["id"]).out.splitlines()
    at = short.index("  input    ds:v0  12 files, 78.0 KiB read")
    assert [line.split()[0] for line in short[at + 1 : at + 9]] == sorted(files)[:8]
    assert short[at + 9] == "             ... 4 more (42.0 KiB; --files lists them all)"
    full = cli("runs", "show", run["id"], "--files").out.splitlines()
    assert [line.split() for line in full[at + 1 : at + 13]] == [
        [path, f"{n / 1024:.1f}", "KiB"] for path, n in sorted(files.items())
    ]
    assert json.loads(cli("runs", "show", run["id"], "--json").out)["inputs"][0]["files"] == files


@pytest.mark.fast
def test_a_file_read_again_whole_writes_no_record(store, monkeypatch):
    """A later epoch reads every file whole again: nothing new for its record (its bytes
    are capped at its size), so the batch writes only the edge, not one record a file."""
    from artfs.store import keys
    from artfs.store.local import LocalRefTxn

    run = runs_mod.start_run(store, job_type="t")
    sizes = {f"f{i}.bin": 1000 for i in range(50)}
    edge = (run["id"], "ds", 0)
    runs_mod.record_reads(store, [], {edge: runs_mod.Reads(dict(sizes), 1.0, 2.0, sizes)})
    puts: list[str] = []
    real = LocalRefTxn.put
    monkeypatch.setattr(
        LocalRefTxn, "put", lambda t, k, v, *a, **kw: puts.append(k) or real(t, k, v, *a, **kw)
    )
    again = {**dict(sizes), "f0.bin": 0}  # all read whole again; one opened, not read
    runs_mod.record_reads(store, [], {edge: runs_mod.Reads(again, 3.0, 4.0, sizes)})
    assert not [k for k in puts if k.startswith(keys.INPUT_FILES)] and puts  # the edge's
    grown = {**dict(sizes), "new.bin": 10}
    runs_mod.record_reads(
        store, [], {edge: runs_mod.Reads(grown, 5.0, 6.0, sizes | {"new.bin": 10})}
    )
    ((_, _, recorded),) = runs_mod.run_inputs(store, run["id"])
    assert recorded["files"] == sizes | {"new.bin": 10} and recorded["last"] == 6.0


def test_format_1_store_is_upgraded_in_place(store, store_dir, cli):
    """Format 1 kept the bytes per file inside the edge's JSON; opening such a store
    moves them to one record per file and keeps every count."""
    run = runs_mod.start_run(store, job_type="t")
    files = {"a.csv": 10, "sub/b.bin": 1_500_000}
    runs_mod.record_reads(store, [], {(run["id"], "ds", 3): runs_mod.Reads(files, 1.0, 2.0)})
    ended = runs_mod.start_run(store, job_type="ended", pid=1)
    runs_mod.finish_run(store, ended["id"])
    store.meta.close()
    store_mod._open_stores.clear()
    env = lmdb.open(os.path.join(store_dir, "meta"), max_dbs=len(meta.DBS), subdir=True)
    db = {name: env.open_db(name.encode()) for name in ("info", "inputs", "input_files", "running")}
    with env.begin(write=True) as txn:  # rewrite it the way format 1 stored it
        key = meta.run_version_key(run["id"], "ds", 3)
        edge = meta.loads(txn.get(key, db=db["inputs"])) | {"files": files}
        txn.put(key, meta.dumps(edge), db=db["inputs"])
        txn.drop(db["input_files"], delete=False)
        txn.drop(db["running"], delete=False)
        txn.put(b"format", b"1", db=db["info"])
    env.close()

    shown = as_json(cli("runs", "show", run["id"], "--json"))
    assert [(e["version"], e["files"]) for e in shown["inputs"]] == [("ds:v3", files)]
    env = lmdb.open(os.path.join(store_dir, "meta"), max_dbs=len(meta.DBS), subdir=True)
    info, inputs = env.open_db(b"info"), env.open_db(b"inputs")
    with env.begin() as txn:
        assert txn.get(b"format", db=info) == str(meta.FORMAT_VERSION).encode()
        assert "files" not in meta.loads(txn.get(key, db=inputs))
    env.close()
    assert runs_mod.running_runs(Store.open(store_dir)) == {run["pid"]: run["id"]}


@pytest.mark.fast
def test_index_of_running_runs_follows_the_records(store):
    first = runs_mod.start_run(store, job_type="a", pid=4242)
    later = runs_mod.start_run(store, job_type="b", pid=4242)  # init twice in one process
    other = runs_mod.start_run(store, job_type="c", pid=4343)
    runs_mod.record_reads(
        store, [runs_mod.new_run_record(job_type="adhoc", pid=4444, implicit=True)], {}
    )
    assert runs_mod.running_runs(store) == {4242: later["id"], 4343: other["id"]}
    runs_mod.finish_run(store, later["id"])
    assert runs_mod.running_runs(store) == {4242: first["id"], 4343: other["id"]}
    runs_mod.finish_run(store, other["id"], status="failed", exit_code=1)
    assert runs_mod.running_runs(store) == {4242: first["id"]}


@pytest.mark.fast
def test_running_runs_are_reread_one_at_a_time(store):
    """Two opens that both find the store changed must not re-read the running runs at
    once: the re-reads could finish out of order, the older one last, and hide a run
    that had just started (its reads would go to an implicit run)."""

    class SlowAttribution:
        def __init__(self):
            self.version, self.seen, self.busy, self.most = 1, 0, 0, 0
            self.lock = threading.Lock()

        def stale(self):
            return self.seen != self.version

        def refresh(self):
            with self.lock:
                self.busy += 1
                self.most = max(self.most, self.busy)
            time.sleep(0.2)
            with self.lock:
                self.busy -= 1
            self.seen = self.version

        def run_of(self, pid):
            return "run" if self.seen == self.version else None

    async def main():
        async with trio.open_nursery() as nursery:
            ops = Operations(store, nursery)
            ops.attribution = fake = SlowAttribution()
            found = []

            async def open_by(pid):
                found.append(await ops._run_of(pid))

            for pid in (101, 102, 103):
                nursery.start_soon(open_by, pid)
            await trio.sleep(0.05)
            fake.version = 2  # a run starts while the first re-read is under way
            nursery.start_soon(open_by, 104)
        ops.close()
        return fake, found

    fake, found = trio.run(main)
    assert fake.most == 1
    assert found[-1] == "run"  # the open after the change saw the newest runs


class _Publishing:
    """An LMDB environment in the middle of a commit: the meta page (what ``info()``
    reads) already names the next transaction; new read transactions do not see it yet."""

    def __init__(self, env):
        self.env = env

    def info(self):
        info = self.env.info()
        return info | {"last_txnid": info["last_txnid"] + 1}

    def __getattr__(self, name):
        return getattr(self.env, name)


@pytest.mark.fast
def test_runs_read_while_a_commit_is_published_stay_stale(store, monkeypatch):
    """A run that starts while the running runs are re-read, in the moment LMDB has
    written its meta page but not yet let readers see the commit, must still be found:
    the re-read saw the store before the run, so it must not count as up to date."""
    attribution = Attribution(store)
    with monkeypatch.context() as patch:
        patch.setattr(store.meta, "env", _Publishing(store.meta.env))
        attribution.refresh()
    run = runs_mod.start_run(store, job_type="late")  # the commit being published
    assert attribution.stale()
    attribution.refresh()
    assert attribution.run_of(os.getpid()) == run["id"]


# --- 10. derived from: a version made from another ---------------------------------------


def make_derived_chain(cli, store_dir, tmp_path) -> str:
    """ds:v1 from ds:v0 by new_draft(), ds:v2 from ds:v1 through a staging; → the run id."""
    write(tmp_path / "d/a.txt", "a")
    with artfs.init(job_type="make") as run:
        first = artfs.Artifact("ds", type="dataset")
        first.add_dir(str(tmp_path / "d"))
        run.log_artifact(first)
        draft = first.new_draft()
        with draft.new_file("b.txt") as f:
            f.write("b")
        run.log_artifact(draft)
    assert cli("stage", "ds").code == 0
    write(os.path.join(store_dir, "staging", "ds", "tree", "c.txt"), "c")
    made = cli("commit", "ds")
    assert (made.code, made.out) == (0, "ds:v2\n"), made.err
    return f"run:{run.id}"


def test_derived_from_edges_in_the_graph(cli, store_dir, tmp_path):
    rnode = make_derived_chain(cli, store_dir, tmp_path)
    api = artfs.Api()
    assert edges_of(api.lineage("ds:v2", direction="upstream")) == {
        ("ds:v1", "ds:v2", "derived"),
        ("ds:v0", "ds:v1", "derived"),
        (rnode, "ds:v1", "output"),
        (rnode, "ds:v0", "output"),
    }
    # one step: the base only (the staging's commit ran outside any run)
    assert edges_of(api.lineage("ds:v2", direction="upstream", depth=1)) == {
        ("ds:v1", "ds:v2", "derived")
    }
    assert edges_of(api.lineage("ds:v0", direction="downstream")) == {
        ("ds:v0", "ds:v1", "derived"),
        ("ds:v1", "ds:v2", "derived"),
    }
    nodes = {n["id"]: n for n in api.lineage("ds:v2")["nodes"]}
    assert (nodes["ds:v2"]["base"], nodes["ds:v1"]["base"], nodes["ds:v0"]["base"]) == (
        "ds:v1",
        "ds:v0",
        None,
    )

    assert cli("rm", "ds:v1").code == 0  # the record keeps the label; the graph drops it
    assert edges_of(api.lineage("ds:v2")) == set()
    assert as_json(cli("show", "ds:v2", "--json"))["base"] == "ds:v1"


def test_derived_from_in_every_format(cli, store_dir, tmp_path):
    make_derived_chain(cli, store_dir, tmp_path)
    up = cli("lineage", "ds:v2", "--upstream")
    assert up.code == 0, up.err
    assert up.out.splitlines()[:2] == [
        "ds:v2 (dataset) [latest]",
        "└─ derived from ds:v1 (dataset)",
    ]
    down = cli("lineage", "ds:v0", "--downstream").out.splitlines()
    assert down == [
        "ds:v0 (dataset)",
        "└─ base of ds:v1 (dataset)",
        "   └─ base of ds:v2 (dataset) [latest]",
    ]
    graph = as_json(cli("lineage", "ds:v2", "--format", "json"))
    assert ("ds:v1", "ds:v2", "derived") in edges_of(graph)
    dot = cli("lineage", "ds:v2", "--format", "dot").out
    assert '"ds:v1" -> "ds:v2" [label="derived", style=dashed];' in dot
    mermaid = cli("lineage", "ds:v2", "--format", "mermaid").out
    ids = {label: n for n, label in re.findall(r'(n\d+)\["(ds:v\d)', mermaid)}
    assert f"{ids['ds:v1']} -.->|derived| {ids['ds:v2']}" in mermaid
    for fmt in ("svg", "html"):
        out = cli("lineage", "ds:v2", "--format", fmt).out
        assert "<svg" in out and ">derived</text>" in out, fmt
