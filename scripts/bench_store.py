"""Benchmark the artfs store against dvc and restic and check the project goals.

Not a test: it prints a table. Each tool runs as a subprocess on the same
generated data (see bench_data.py), in a fresh repository under
WORKDIR/runs, so the numbers include interpreter start-up and are comparable
with what a user sees from the CLI.

The page cache is not dropped between runs (that needs privileges we cannot
rely on); instead every tool reads the same warm data, and `sync` runs before
each timed command so one tool's dirty pages are not flushed on another's
clock.

    python scripts/bench_store.py [--workdir DIR] [--scale 0.05] [--skip-peers] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import commit_floor
from bench_data import DataSet, prepare

REPO = Path(__file__).resolve().parent.parent
MIB = 1 << 20
RSS_LIMIT = 200 * MIB
TOOLS = ("artfs", "dvc", "restic")


@dataclass
class Run:
    """Wall time, CPU time (user + system) and peak RSS of one finished subprocess."""

    seconds: float
    cpu: float
    peak_rss: int


@dataclass
class Result:
    """What one tool achieved; fields stay None where the tool was not measured."""

    a_mib_s: float | None = None
    a_cpu: float | None = None  # CPU seconds of the commit of A (artfs: against the floor)
    stored_a: int | None = None
    b_files_s: float | None = None
    b_recommit_s: float | None = None
    growth: int | None = None
    peak_rss: int = 0
    error: str | None = None

    def timed(self, cmd: list[str], **kwargs) -> Run:
        """Run cmd via timed() and keep its RSS for the per-tool maximum."""
        run = timed(cmd, **kwargs)
        self.peak_rss = max(self.peak_rss, run.peak_rss)
        return run


def run_quiet(cmd: list[str], **kwargs) -> str:
    """Run an untimed set-up command, failing loudly with its stderr."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}"
        )
    return proc.stdout


def timed(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> Run:
    """Time cmd and read its own peak RSS.

    os.wait4 returns the rusage of exactly this child (and its descendants),
    unlike getrusage(RUSAGE_CHILDREN), whose maximum spans every earlier child.
    """
    subprocess.run(["sync"], check=True)
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip()[-2000:]
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {tail}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds=seconds, cpu=cpu, peak_rss=usage.ru_maxrss * 1024)


def du(path: Path) -> int:
    """Apparent size in bytes, the same measure for every tool's repository."""
    return int(run_quiet(["du", "-sb", str(path)]).split()[0])


def fresh_dir(path: Path) -> Path:
    """Start each tool from an empty repository so earlier runs cannot help it."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def measure(result: Result, body) -> Result:
    """Run body(result), recording a failure instead of losing the other tools' rows."""
    try:
        body(result)
    except (RuntimeError, OSError) as exc:
        result.error = str(exc)
    return result


def bench_artfs(ds: DataSet, runs: Path) -> Result:
    """Commit A, B, B unchanged, then A' as a new version of A."""
    store = fresh_dir(runs / "artfs-store")

    def put(res: Result, path: Path, name: str) -> Run:
        cmd = [sys.executable, "-m", "artfs", "--store", str(store), "put", str(path)]
        return res.timed([*cmd, "--name", name], cwd=REPO)

    def body(res: Result) -> None:
        a = put(res, ds.a, "a")
        res.a_mib_s, res.a_cpu = ds.spec.a_size / MIB / a.seconds, a.cpu
        res.stored_a = du(store)
        res.b_files_s = ds.spec.b_files / put(res, ds.b, "b").seconds
        res.b_recommit_s = put(res, ds.b, "b").seconds
        before = du(store)
        put(res, ds.a_mod, "a")
        res.growth = du(store) - before

    return measure(Result(), body)


def bench_dvc(ds: DataSet, runs: Path, dvc: str) -> Result:
    """Time only `dvc add` of A, copied into a git-less repo with cache.type copy."""
    repo = fresh_dir(runs / "dvc-repo")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}

    def body(res: Result) -> None:
        run_quiet([dvc, "init", "--no-scm"], cwd=repo, env=env)
        run_quiet([dvc, "config", "cache.type", "copy"], cwd=repo, env=env)
        shutil.copyfile(ds.a, repo / ds.a.name)
        res.a_mib_s = (
            ds.spec.a_size / MIB / res.timed([dvc, "add", ds.a.name], cwd=repo, env=env).seconds
        )
        res.stored_a = du(repo / ".dvc" / "cache")

    return measure(Result(), body)


def bench_restic(ds: DataSet, runs: Path, restic: str) -> Result:
    """Back up A, B, B again (restic finds the parent snapshot), then A'."""
    repo, cache = runs / "restic-repo", fresh_dir(runs / "restic-cache")
    shutil.rmtree(repo, ignore_errors=True)
    env = {
        **os.environ,
        "RESTIC_PASSWORD": "bench",
        "RESTIC_REPOSITORY": str(repo),
        "RESTIC_CACHE_DIR": str(cache),
    }

    def backup(res: Result, path: Path) -> Run:
        return res.timed([restic, "backup", "--quiet", "--host", "bench", str(path)], env=env)

    def body(res: Result) -> None:
        run_quiet([restic, "init"], env=env)
        res.a_mib_s = ds.spec.a_size / MIB / backup(res, ds.a).seconds
        res.stored_a = du(repo)
        res.b_files_s = ds.spec.b_files / backup(res, ds.b).seconds
        res.b_recommit_s = backup(res, ds.b).seconds
        before = du(repo)
        backup(res, ds.a_mod)
        res.growth = du(repo) - before

    return measure(Result(), body)


def artfs_available() -> bool:
    """The CLI is being written alongside this script; skip it until it imports."""
    proc = subprocess.run([sys.executable, "-m", "artfs", "--help"], cwd=REPO, capture_output=True)
    return proc.returncode == 0


def find_dvc() -> str | None:
    """Prefer the dvc installed next to this interpreter (the project venv)."""
    local = Path(sys.executable).with_name("dvc")
    return str(local) if local.exists() else shutil.which("dvc")


def run_all(ds: DataSet, workdir: Path, skip_peers: bool, repeat: int) -> dict[str, Result]:
    """Benchmark every available tool `repeat` times; a missing tool has no entry."""
    runs = workdir / "runs"
    dvc, restic = (None, None) if skip_peers else (find_dvc(), shutil.which("restic"))
    benches = {
        "artfs": (lambda: bench_artfs(ds, runs)) if artfs_available() else None,
        "dvc": (lambda: bench_dvc(ds, runs, dvc)) if dvc else None,
        "restic": (lambda: bench_restic(ds, runs, restic)) if restic else None,
    }
    samples: dict[str, list[Result]] = {tool: [] for tool, bench in benches.items() if bench}
    for round_ in range(1, repeat + 1):
        for tool in samples:
            print(f"round {round_}/{repeat}: {tool}", file=sys.stderr, flush=True)
            samples[tool].append(benches[tool]())
    return {tool: combine(results) for tool, results in samples.items()}


def combine(results: list[Result]) -> Result:
    """Median of each measurement, since one slow disk flush can double a single run;
    the maximum of peak RSS, since the goal is a ceiling."""

    def median(attr: str):
        values = [getattr(r, attr) for r in results]
        return None if None in values else statistics.median(values)

    errors = [r.error for r in results if r.error]
    return Result(
        a_mib_s=median("a_mib_s"),
        a_cpu=median("a_cpu"),
        stored_a=median("stored_a"),
        b_files_s=median("b_files_s"),
        b_recommit_s=median("b_recommit_s"),
        growth=median("growth"),
        peak_rss=max(r.peak_rss for r in results),
        error=errors[0] if errors else None,
    )


def metrics(res: Result | None, a_size: int) -> dict[str, float | None]:
    """The table's numbers for one tool, in display units; all None if it did not run."""
    res = res or Result()

    def mib(value: int | None) -> float | None:
        return None if value is None else value / MIB

    return {
        "a": res.a_mib_s,
        "stored_a": mib(res.stored_a),
        "b": res.b_files_s,
        "recommit": res.b_recommit_s,
        "growth": mib(res.growth),
        "growth_pct": None if res.growth is None else 100 * res.growth / a_size,
        "rss": mib(res.peak_rss) or None,
    }


# label, metric, peer the ratio compares with, format, goal, check(artfs value, ratio)
ROWS = [
    ("A commit MiB/s", "a", "dvc", "{:.1f}", ">= 2x dvc", lambda v, r: r >= 2),
    ("A stored MiB", "stored_a", None, "{:.1f}", "", None),
    ("B commit files/s", "b", "restic", "{:.0f}", ">= restic", lambda v, r: r >= 1),
    (
        "B unchanged re-commit s",
        "recommit",
        "restic",
        "{:.2f}",
        "<= 1/3 restic",
        lambda v, r: r <= 1 / 3,
    ),
    ("growth after A' MiB", "growth", "restic", "{:.1f}", "<= restic", lambda v, r: r <= 1),
    ("growth after A' % of A", "growth_pct", None, "{:.2f}", "", None),
    ("peak RSS MiB", "rss", None, "{:.0f}", "< 200 MiB", lambda v, r: v < RSS_LIMIT / MIB),
]


def table_rows(results: dict[str, Result], a_size: int) -> list[list[str]]:
    """One row per measurement: value per tool, artfs/peer ratio, goal, verdict."""
    values = {tool: metrics(results.get(tool), a_size) for tool in TOOLS}
    rows = []
    for label, key, peer, fmt, goal, check in ROWS:
        cells = [values[tool][key] for tool in TOOLS]
        mine, theirs = cells[0], values[peer][key] if peer else None
        r = mine / theirs if mine is not None and theirs else None
        judgeable = check and mine is not None and (r is not None or not peer)
        verdict = ("PASS" if check(mine, r) else "FAIL") if judgeable else ("n/a" if check else "")
        shown = ["-" if c is None else fmt.format(c) for c in cells]
        rows.append([label, *shown, "-" if r is None else f"{r:.2f}x", goal, verdict])
    return rows


def print_table(rows: list[list[str]]) -> None:
    """Plain fixed-width table: readable in a terminal and pasteable into an issue."""
    header = ["measurement", "artfs", "dvc", "restic", "ratio", "goal", "result"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for line in [header, ["-" * w for w in widths], *rows]:
        cells = [line[0].ljust(widths[0])]
        cells += [cell.rjust(w) for cell, w in zip(line[1:], widths[1:], strict=True)]
        print(" | ".join(cells))


def print_context(ds: DataSet, results: dict[str, Result], repeat: int, load: float) -> None:
    """Say what was measured and how, and which tools were missing or failed.

    The load average is printed because other work on a 2-core machine can
    halve a throughput figure; a busy run is worth repeating.
    """
    spec, inserted = ds.spec, ds.a_mod.stat().st_size - ds.spec.a_size
    print(
        f"A: {spec.a_size / MIB:.0f} MiB; A': {inserted} bytes inserted, 5 x 2 MiB rewritten; "
        f"B: {spec.b_files} files in {spec.b_dirs} dirs, {ds.b_bytes / MIB:.0f} MiB"
    )
    print("page cache not dropped: every tool reads the same warm data; sync before each timed run")
    print(f"medians of {repeat} runs; peak RSS is the max over each tool's timed runs")
    print(f"1-min load average: {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    print("stored bytes: du -sb of the repository; dvc: cache.type copy, only `dvc add` of A")
    for tool in TOOLS:
        if tool not in results:
            print(f"{tool}: not run (not installed, or --skip-peers)")
        elif results[tool].error:
            print(f"{tool}: FAILED: {results[tool].error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/artfs-bench"))
    parser.add_argument(
        "--scale", type=float, default=1.0, help="size factor; 0.05 for a quick run"
    )
    parser.add_argument("--skip-peers", action="store_true", help="benchmark artfs only")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per tool; the table shows medians"
    )
    args = parser.parse_args()
    ds = prepare(args.workdir, args.scale)
    load = os.getloadavg()[0]
    results = run_all(ds, args.workdir, args.skip_peers, args.repeat)
    print_context(ds, results, args.repeat, load)
    print_table(table_rows(results, ds.spec.a_size))
    artfs = results.get("artfs")
    floor = commit_floor.measure(ds.a, args.workdir)
    print()
    print("\n".join(commit_floor.report(floor, artfs and artfs.a_mib_s, artfs and artfs.a_cpu)))


if __name__ == "__main__":
    main()
