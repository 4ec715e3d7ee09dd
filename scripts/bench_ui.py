"""How fast the web page answers (goal: every page under 300 ms) on a store with
1,000 versions of an artifact, a version of 100,000 files in one directory, and a
lineage graph of 500 nodes (250 runs in 10 layers, each reading two versions of the
layer before and making one).  Served by a real uvicorn on loopback, fetched with
urllib: the first fetch of each page (cold: caches empty, Graphviz lays the graph out)
and the median of the next five.

    .venv/bin/python scripts/bench_ui.py [--keep DIR]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from artfs.store import runs as runs_mod  # noqa: E402
from artfs.store import store as store_mod  # noqa: E402
from artfs.store.store import Store  # noqa: E402
from scripts.benchlib import artfs_revision, run_steps  # noqa: E402
from tests.ui_store import put_dir  # noqa: E402
from tests.uiserver import running  # noqa: E402

VERSIONS, WIDE_FILES, LAYERS, PER_LAYER = 1000, 100_000, 10, 25
GOAL_MS = 300
REPEATS = 5


def many_versions(store: Store, work: str) -> None:
    """1,000 versions of ten files, each changing one."""
    src = os.path.join(work, "many")
    os.makedirs(src)
    for i in range(10):
        with open(os.path.join(src, f"part{i}.csv"), "w") as f:
            f.write("id,value\n" + "".join(f"{j},{j * i}\n" for j in range(200)))
    for n in range(VERSIONS):
        with open(os.path.join(src, f"part{n % 10}.csv"), "a") as f:
            f.write(f"{n},{n}\n")
        put_dir(store, src, "many", metadata={"step": n, "note": f"version {n}"})


def wide_version(store: Store, work: str) -> None:
    src = os.path.join(work, "wide")
    os.makedirs(src)
    for i in range(WIDE_FILES):
        with open(os.path.join(src, f"f{i:06d}.txt"), "w") as f:
            f.write(f"file {i}\n")
    put_dir(store, src, "wide")


def graph(store: Store, work: str) -> None:
    """Layer 0 is one artifact's versions made by a run each; every later run reads two
    versions of the layer before and makes one of its own layer's artifact."""
    src = os.path.join(work, "graph")
    os.makedirs(src)
    below: list = []
    for layer in range(LAYERS):
        made = []
        for k in range(PER_LAYER):
            run = runs_mod.start_run(store, job_type=f"step{layer % 5}", name=f"r{layer}-{k}")
            for source in [below[k], below[(k + 1) % PER_LAYER]] if below else []:
                runs_mod.record_input(store, run["id"], source, {"out.txt": 10})
            with open(os.path.join(src, "out.txt"), "w") as f:
                f.write(f"{layer} {k}\n")
            made.append(put_dir(store, src, f"layer{layer}", run_id=run["id"]))
            runs_mod.finish_run(store, run["id"])
        below = made


def fetch(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        response.read()
        assert response.status == 200, url
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="make the store here (kept); reused if it exists")
    args = parser.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="artfs-bench-ui-")
    path = os.path.join(work, "store")
    if not os.path.isdir(path):
        store = Store.open(path)
        run_steps(
            [
                (f"{VERSIONS} versions", lambda: many_versions(store, work)),
                (f"a version of {WIDE_FILES} files", lambda: wide_version(store, work)),
                (f"a graph of {2 * LAYERS * PER_LAYER} nodes", lambda: graph(store, work)),
            ]
        )
        store_mod.close_all()
    store = Store.open(path, create=False)
    train = runs_mod.list_runs(store)[-1]["id"]
    pages = [
        ("front page", "/"),
        ("artifact, 1,000 versions: page 1", "/a/many"),
        ("artifact, 1,000 versions: page 20", "/a/many?page=20"),
        ("version of 1,000", "/a/many/v999"),
        ("diff v0 → v999", "/diff?a=many:v0&b=many:v999"),
        ("file preview (CSV)", "/a/many/v999/file?path=part3.csv"),
        ("version of 100,000 files: page 1", "/a/wide/v0"),
        ("…: page 500 (last)", "/a/wide/v0?page=500"),
        ("…: filter by name", "/a/wide/v0?find=f09999"),
        ("file of 100,000", "/a/wide/v0/file?path=f054321.txt"),
        ("run", f"/run/{train}"),
        ("runs, 250", "/runs"),
        ("graph, 500 nodes, expanded", "/graph?ref=layer0:v0&view=expanded"),
        ("graph, 500 nodes, summary", "/graph?ref=layer0:v0&view=summary"),
        ("graph of a run, depth 2", f"/graph?run={train}&depth=2"),
    ]
    print(f"artfs {artfs_revision()}: artfs ui page times, ms (goal < {GOAL_MS})\n")
    print(f"| {'page':<36} | {'first':>7} | {'median':>7} |")
    print(f"| {'-' * 36} | {'-' * 7}:| {'-' * 7}:|")
    worst = 0.0
    with running(path, read_only=True) as base:
        for label, page in pages:
            first = fetch(base + page)
            median = statistics.median(fetch(base + page) for _ in range(REPEATS))
            worst = max(worst, median)
            print(f"| {label:<36} | {first:>7.0f} | {median:>7.0f} |", flush=True)
    verdict = "met" if worst < GOAL_MS else "MISSED"
    print(f"\nslowest median {worst:.0f} ms: goal {verdict}; store in {path}")


if __name__ == "__main__":
    main()
