"""Fault campaign, hostile input: input that could break the store, and a store that is
broken (issue 10, "Input that breaks the store").

Not a test: it prints a table.  Each case starts from a fresh copy of a small seeded
store (three versions of ``ds`` with an alias, a file of several chunks, a ``model``,
a recorded run), does its damage, then runs ``ls``, ``ls ds``, ``show``, ``verify``,
``get`` and ``gc`` (and, for damaged stores, ``mount``) as a user would:

- deep metadata: through the Python API and ``--metadata`` at several depths, and a
  record nested that deep written straight into LMDB (as an artfs without bounds did);
- flipped bytes: K random bit flips at random offsets of ``meta/data.mdb``;
- truncation: ``meta/data.mdb`` cut at several sizes;
- bad names: names that are references or hold ``:``, ``/``, control bytes, and a
  bad ``$ARTFS_RUN_ID``, at every command that takes one.

A row is ``ok`` when the command exited 0, 1 or 2 (not a signal: SIGBUS is 135), showed
no traceback, and on failure said one ``artfs: error:`` line (verify reports damage on
stdout); and when no chunk file was lost: every chunk of the seeded store is live, so a
gc that frees one has freed data.  A mount must refuse a damaged store or serve it and
unmount cleanly, never leave a dead mount.

    python scripts/fault_campaign_input.py [--big] [--seed N] [--workdir DIR] [--jobs N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from benchlib import REPO, artfs, artfs_revision, force_unmount, print_table

READS = [["ls"], ["ls", "ds"], ["show", "ds"], ["verify"], ["get", "ds", "{dest}"], ["gc"]]


@dataclass
class Row:
    case: str
    command: str
    code: int
    lines: int
    traceback: bool
    problem: str = ""  # empty: ok

    def cells(self) -> list[str]:
        one = "-" if self.lines == 0 else "yes" if self.lines == 1 else f"no ({self.lines})"
        return [
            self.case,
            self.command,
            str(self.code),
            one,
            "yes" if self.traceback else "no",
            self.problem or "ok",
        ]


# --- the seeded store ---------------------------------------------------------------------


def make_template(root: Path) -> Path:
    store, src = root / "template", root / "src"
    rnd = random.Random(42)
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(rnd.randbytes(3000))
    (src / "sub" / "big.bin").write_bytes(rnd.randbytes(900_000))  # several chunks
    artfs(store, "put", str(src), "--name", "ds", "-m", "first")
    (src / "a.txt").write_bytes(rnd.randbytes(3000))
    artfs(
        store,
        "put",
        str(src),
        "--name",
        "ds",
        "--alias",
        "best",
        "--metadata",
        '{"rows": 3, "split": {"train": 0.8}}',
    )
    (src / "sub" / "c.txt").write_text("third")
    artfs(
        store,
        "run",
        "--job-type",
        "make",
        "--config",
        '{"lr": 0.1}',
        "--",
        sys.executable,
        "-m",
        "artfs",
        "--store",
        str(store),
        "put",
        str(src),
        "--name",
        "ds",
    )
    (root / "model").mkdir()
    (root / "model" / "w.bin").write_bytes(rnd.randbytes(5000))
    artfs(store, "put", str(root / "model"), "--name", "model", "--type", "model")
    return store


def chunk_files(store: Path) -> set[str]:
    return {str(p.relative_to(store)) for p in (store / "chunks").rglob("*") if p.is_file()}


# --- running commands ----------------------------------------------------------------------


def run(store: Path, args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "artfs", "--store", str(store), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def judge(case: str, command: str, result: subprocess.CompletedProcess) -> Row:
    code, err = result.returncode, result.stderr
    lines = len(err.splitlines())
    row = Row(case, command, code, lines, "Traceback" in err)
    if code < 0 or code > 2:
        row.problem = f"signal {-code}" if code < 0 else f"exit {code}"
    elif row.traceback:
        row.problem = "traceback"
    elif (
        code
        and not (command == "verify" and lines == 0)
        and (lines != 1 or not err.startswith("artfs: error: "))
    ):
        row.problem = f"{lines} error lines"
    return row


def read_commands(case: str, store: Path, work: Path, commands=READS) -> list[Row]:
    """The read commands on a store, then whether gc lost a chunk."""
    before = chunk_files(store)
    rows = []
    for args in commands:
        args = [a.format(dest=str(work / "dest")) for a in args]
        rows.append(judge(case, " ".join(args[:2]), run(store, args)))
    lost = before - chunk_files(store)
    if lost:
        rows[-1].problem = f"gc freed {len(lost)} live chunks"
    return rows


def mount_command(case: str, store: Path, work: Path) -> Row:
    """Mount, list and read what can be read, unmount: never a dead mount."""
    mnt = work / "mnt"
    mnt.mkdir(exist_ok=True)
    result = run(store, ["mount", str(mnt)])
    row = judge(case, "mount", result)
    if result.returncode == 0:
        walked = subprocess.run(
            ["find", str(mnt / "artifacts"), "-type", "f", "-exec", "cat", "{}", "+"],
            capture_output=True,
            timeout=300,
        )
        alive = os.path.ismount(mnt) and os.path.isdir(mnt / "artifacts")
        umount = run(store, ["umount", str(mnt)])
        if not alive:
            row.problem = "the mount died (a dead mount)"
        elif umount.returncode:
            row.problem = "umount failed"
        elif walked.returncode not in (0, 1):
            row.problem = f"find exit {walked.returncode}"
    force_unmount(mnt)
    if os.path.ismount(mnt):
        row.problem = "a mount was left behind"
    return row


# --- the cases -----------------------------------------------------------------------------


def deep_text(levels: int) -> str:
    return '{"k":' * (levels - 1) + "{}" + "}" * (levels - 1)


API_LOG = """
import sys, artfs
from artfs.errors import ArtfsError
depth, src = int(sys.argv[1]), sys.argv[2]
value = {}
for _ in range(depth - 1):
    value = {"k": value}
try:
    with artfs.init(job_type="deep") as run:
        art = artfs.Artifact("deep", "dataset", metadata=value)
        art.add_file(src)
        run.log_artifact(art)
except ArtfsError as e:
    print(f"artfs: error: {e}", file=sys.stderr)
    sys.exit(2)
"""


def api_metadata(depth: int):
    def case(store: Path, work: Path) -> list[Row]:
        result = subprocess.run(
            [sys.executable, "-c", API_LOG, str(depth), str(store / ".." / "src" / "a.txt")],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, "ARTFS_HOME": str(store)},
            timeout=300,
        )
        name = f"api metadata {depth} levels"
        return [judge(name, "log_artifact", result), *read_commands(name, store, work)]

    return case


def cli_metadata(depth: int):
    def case(store: Path, work: Path) -> list[Row]:
        name = f"--metadata {depth} levels"
        put = run(
            store,
            ["put", str(store / ".." / "src"), "--name", "deep", "--metadata", deep_text(depth)],
        )
        return [judge(name, "put --metadata", put), *read_commands(name, store, work)]

    return case


def stored_deep(depth: int):
    """A record nested ``depth`` levels written straight into LMDB (what an artfs without
    bounds stored through the API)."""

    def case(store: Path, work: Path) -> list[Row]:
        import lmdb  # only this case writes into LMDB itself

        env = lmdb.open(str(store / "meta"), max_dbs=15, subdir=True)
        versions = env.open_db(b"versions")
        key = b"ds\0\0\0\0\1"
        with env.begin(write=True) as txn:
            record = json.loads(txn.get(key, db=versions))
            text = json.dumps(record | {"metadata": {}}).replace(
                '"metadata": {}', f'"metadata": {deep_text(depth)}'
            )
            txn.put(key, text.encode(), db=versions)
        env.close()
        name = f"stored metadata {depth} levels"
        return [*read_commands(name, store, work), mount_command(name, store, work)]

    return case


def flipped(flips: int, seed: int, with_mount: bool):
    def case(store: Path, work: Path) -> list[Row]:
        data = store / "meta" / "data.mdb"
        blob = bytearray(data.read_bytes())
        rnd = random.Random(seed)
        for _ in range(flips):
            blob[rnd.randrange(len(blob))] ^= 1 << rnd.randrange(8)
        data.write_bytes(blob)
        name = f"flip {flips} bits, seed {seed}"
        rows = read_commands(name, store, work)
        return rows + [mount_command(name, store, work)] if with_mount else rows

    return case


def truncated(label: str, size_of):
    def case(store: Path, work: Path) -> list[Row]:
        data = store / "meta" / "data.mdb"
        os.truncate(data, size_of(data.stat().st_size))
        name = f"truncate to {label}"
        return [*read_commands(name, store, work), mount_command(name, store, work)]

    return case


BAD_NAMES = ["a:b", "ds:v1", "a/b", "..", "a\x01b", "d\u015b", "x" * 129]


def bad_name(bad: str):
    def case(store: Path, work: Path) -> list[Row]:
        name = f"name {bad[:12]!r}"
        commands = [
            ["stage", bad],
            ["unstage", bad],
            ["put", str(work), "--name", bad],
            ["ls", bad],
            ["commit", bad],
            ["alias", "--rm", bad, "x"],
        ]
        rows = [
            judge(name, " ".join(c[:1] + (["--rm"] if "--rm" in c else [])), run(store, c))
            for c in commands
        ]
        for row in rows:
            if row.code != 2 and not row.problem:
                row.problem = f"accepted (exit {row.code})"
        staged = sorted(os.listdir(store / "staging")) if (store / "staging").exists() else []
        if staged:
            rows[0].problem = f"a staging was made: {staged}"
        return rows

    return case


def bad_run_id(value: str):
    def case(store: Path, work: Path) -> list[Row]:
        name = f"ARTFS_RUN_ID={value!r}"
        row = judge(
            name,
            "put",
            run(
                store,
                ["put", str(store / ".." / "src"), "--name", "ds"],
                env={"ARTFS_RUN_ID": value},
            ),
        )
        if row.code != 2 and not row.problem:
            row.problem = f"accepted (exit {row.code})"
        return [row]

    return case


def cases(big: bool, seed: int) -> list:
    depths = [64, 65, 986, 5000] + ([100, 1000, 20_000, 100_000] if big else [])
    found = [api_metadata(d) for d in depths]
    found += [cli_metadata(d) for d in ([65, 20_000] + ([986, 5000] if big else []))]
    found += [stored_deep(d) for d in ([986, 5000] + ([2000, 50_000] if big else []))]
    rnd = random.Random(seed)
    flips = [(8, rnd.randrange(1 << 30)) for _ in range(4)]
    if big:
        flips += [(k, rnd.randrange(1 << 30)) for k in (1, 8, 64) for _ in range(20)]
    found += [flipped(k, s, with_mount=i < 2) for i, (k, s) in enumerate(flips)]
    cuts = [
        ("1/2", lambda n: n // 2),
        ("size - 1000", lambda n: n - 1000),
        ("2 pages", lambda n: 8192),
    ]
    if big:
        cuts += [
            ("1/10", lambda n: n // 10),
            ("9/10", lambda n: n * 9 // 10),
            ("size - 1", lambda n: n - 1),
            ("1 page", lambda n: 4096),
            ("0 bytes", lambda n: 0),
            ("2 pages + 100", lambda n: 8292),
        ]
    found += [truncated(label, f) for label, f in cuts]
    found += [bad_name(b) for b in (BAD_NAMES if big else BAD_NAMES[:3])]
    found += [bad_run_id(v) for v in (["a:b", "a\x01b", "\udcff"] if big else ["\udcff"])]
    return found


# --- main ------------------------------------------------------------------------------------


def run_case(index: int, case, template: Path, workdir: Path) -> list[Row]:
    work = workdir / f"case{index}"
    store = work / "store"
    shutil.copytree(template, store, ignore=shutil.ignore_patterns("lock.mdb"))
    shutil.copytree(template.parent / "src", work / "src")
    try:
        return case(store, work)
    finally:
        force_unmount(work / "mnt")
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big", action="store_true", help="many more cases")
    parser.add_argument("--seed", type=int, default=1, help="seed of the flip offsets")
    parser.add_argument("--workdir", type=Path, help="where stores go (default: a temp dir)")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    options = parser.parse_args()
    workdir = Path(options.workdir or tempfile.mkdtemp(prefix="artfs-campaign-"))
    workdir.mkdir(parents=True, exist_ok=True)
    template = make_template(workdir)
    found = cases(options.big, options.seed)
    print(f"artfs {artfs_revision()}: {len(found)} cases", file=sys.stderr)
    with ThreadPoolExecutor(options.jobs) as pool:
        results = list(
            pool.map(lambda ic: run_case(ic[0], ic[1], template, workdir), enumerate(found))
        )
    rows = [row for case_rows in results for row in case_rows]
    print_table(
        ["case", "command", "exit", "one line?", "traceback?", "verdict"],
        [row.cells() for row in rows],
    )
    bad = [row for row in rows if row.problem]
    print(
        f"\n{len(rows)} commands in {len(found)} cases: "
        + (f"{len(bad)} NOT ok" if bad else "all ok")
    )
    if not options.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
