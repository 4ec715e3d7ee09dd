"""Fault campaign: crashes, a full disk and hostile destinations, against real mounts.

Not a test: it repeats the cases of issue 10 many times and prints a table of what
happened (tests/test_crash.py, test_full_disk.py and test_hardening.py hold one of
each as a test).  Run as root (FUSE, tmpfs):

    python scripts/fault_campaign.py [--big] [--workdir DIR]

- crash: SIGKILL the mount daemon at points spread over a commit through the mount
  (before, during and after publication); remount; the staging must show what was
  staged, every version what was committed, and the next commit must publish the
  staging.  Default 12 kills of a 72 MB staging; --big: 60 kills of 300 MB.
- full disk: a store on a small tmpfs that is then filled: reads through the mount
  go on, lineage waits and is written once room is made, a put fails in one line.
- hostile destination: links planted at every name an export writes, and at
  directory names: nothing outside the destination changes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARTFS = [sys.executable, "-m", "artfs"]


def artfs(store: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*ARTFS, "--store", str(store), *args], capture_output=True, text=True, timeout=timeout
    )


def unmount(path: Path) -> None:
    subprocess.run(["fusermount3", "-u", str(path)], capture_output=True)
    subprocess.run(["fusermount3", "-u", "-z", str(path)], capture_output=True)


def digests(root: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.iterdir())}


def daemon_pid(store: Path) -> int:
    for record in (store / "run").glob("*.json"):
        return json.loads(record.read_text())["pid"]
    raise RuntimeError("no mount daemon")


# --- crash -----------------------------------------------------------------------------


def stage(staging: Path, round_: int, files: int, size: int) -> dict[str, str]:
    for i in range(files):
        path = staging / f"f{i:03}.bin"
        if i % 2 == round_ % 2 or not path.exists():
            with open(path, "wb") as f:
                f.write(os.urandom(size + i))
                f.flush()
                os.fsync(f.fileno())
    return digests(staging)


def crash_campaign(work: Path, kills: int, files: int, size: int) -> list[list]:
    store, mount = work / "crash-store", work / "crash-mnt"
    mount.mkdir(parents=True)
    assert artfs(store, "mount", str(mount)).returncode == 0
    rows = []
    try:
        staging = mount / "staging" / "ds"
        staging.mkdir()
        expected = stage(staging, 0, files, size)
        started = time.monotonic()
        artfs(store, "ls")
        startup = time.monotonic() - started
        assert artfs(store, "commit", "ds").returncode == 0
        took = time.monotonic() - started - startup
        committed = {0: expected}
        for round_ in range(1, kills + 1):
            expected = stage(staging, round_, files, size)
            delay = 0.8 * startup + (took - 0.6 * startup) * (round_ - 1) / max(kills - 1, 1)
            client = subprocess.Popen(
                [*ARTFS, "--store", str(store), "commit", "ds"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(delay)
            os.kill(daemon_pid(store), signal.SIGKILL)
            out, err = client.communicate(timeout=300)
            unmount(mount)
            assert artfs(store, "mount", str(mount)).returncode == 0
            staging_ok = digests(staging) == expected
            labels = [v["version"] for v in json.loads(artfs(store, "ls", "ds", "--json").stdout)]
            if client.returncode == 0:
                committed[int(out.strip().rsplit(":v", 1)[1])] = expected
            versions_ok = all(
                digests(mount / "artifacts" / "ds" / label)
                == committed.get(int(label[1:]), expected)
                for label in labels
            )
            again = artfs(store, "commit", "ds")
            number = int(again.stdout.strip().rsplit(":v", 1)[1]) if again.returncode == 0 else -1
            committed[number] = expected
            next_ok = number >= 0 and digests(mount / "artifacts" / "ds" / f"v{number}") == expected
            said = out.strip() or err.strip().split(";")[-1].strip()[:40]
            rows.append(
                [
                    "crash",
                    f"kill at {delay:.3f} s",
                    client.returncode,
                    said,
                    ok(staging_ok and versions_ok and next_ok),
                ]
            )
    finally:
        unmount(mount)
    return rows


# --- full disk -------------------------------------------------------------------------


def fill(path: Path) -> Path:
    filler = path / "filler"
    with open(filler, "wb", buffering=0) as f:
        for block in (1 << 20, 4096):
            try:
                while True:
                    f.write(b"\0" * block)
            except OSError:
                pass
    return filler


def full_disk_campaign(work: Path, rounds: int) -> list[list]:
    disk, mount = work / "disk", work / "disk-mnt"
    disk.mkdir()
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(disk)], check=True)
    rows = []
    try:
        store, src = disk / "store", work / "disk-src"
        src.mkdir()
        for i in range(20):
            (src / f"f{i}.txt").write_text(f"file {i}\n" * 100)
        assert artfs(store, "put", str(src), "--name", "ds").returncode == 0
        assert artfs(store, "mount", str(mount)).returncode == 0
        filler = fill(disk)
        served = 0
        for _ in range(rounds):
            for i in range(20):
                done = subprocess.run(
                    ["cat", str(mount / "artifacts/ds/v0" / f"f{i}.txt")],
                    capture_output=True,
                    start_new_session=True,
                )
                served += done.stdout == f"file {i}\n".encode() * 100
            time.sleep(0.3)
        rows.append(
            [
                "full disk",
                f"{rounds * 20} reads, disk full",
                0,
                f"{served} served right",
                ok(served == rounds * 20),
            ]
        )
        put = artfs(store, "put", str(src), "--name", "other")
        one_line = put.stderr.count("\n") == 1 and "is full" in put.stderr
        rows.append(
            [
                "full disk",
                "put",
                put.returncode,
                put.stderr.strip()[7:47],
                ok(put.returncode == 1 and one_line),
            ]
        )
        filler.unlink()
        time.sleep(2.5)
        runs = json.loads(artfs(store, "runs", "ls", "--all", "--json").stdout)
        recorded = [r for r in runs if r.get("implicit")]
        rows.append(
            [
                "full disk",
                "room again: lineage",
                0,
                f"{len(recorded)} implicit runs",
                ok(bool(recorded)),
            ]
        )
    finally:
        unmount(mount)
        subprocess.run(["umount", "-l", str(disk)], check=False)
    return rows


# --- hostile destinations ----------------------------------------------------------------


def hostile_destination_campaign(work: Path) -> list[list]:
    store, src, outside = work / "dest-store", work / "dest-src", work / "outside"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "inner.txt").write_bytes(b"secret")
    (src / "top.txt").write_bytes(b"top")
    outside.mkdir()
    (outside / "victim").write_bytes(b"untouched")
    assert artfs(store, "put", str(src), "--name", "ds").returncode == 0
    plants = {
        "file": ["top.txt"],
        "nested file": ["sub/inner.txt"],
        "old temporary name": ["sub/inner.txt.artfs-tmp"],
        "directory": ["sub"],
    }
    rows = []
    for label, names in plants.items():
        dest = work / f"dest-{label.replace(' ', '-')}"
        (dest / "sub").mkdir(parents=True)
        for name in names:
            target = dest / name
            if target.is_dir():
                target.rmdir()
            target.symlink_to(outside if label == "directory" else outside / "victim")
        got = artfs(store, "get", "ds:v0", str(dest), "--force")
        untouched = (outside / "victim").read_bytes() == b"untouched" and sorted(
            p.name for p in outside.iterdir()
        ) == ["victim"]
        rows.append(
            [
                "hostile dest",
                f"link at {label}",
                got.returncode,
                (got.stderr.strip() or "written")[7:47],
                ok(untouched),
            ]
        )
    return rows


def ok(good: bool) -> str:
    return "ok" if good else "FAILED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big", action="store_true", help="many more kills, bigger files")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="artfs-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    kills, files, size = (60, 30, 10_000_000) if args.big else (12, 12, 6_000_000)
    rows: list[list] = []
    try:
        rows += crash_campaign(work, kills, files, size)
        rows += full_disk_campaign(work, 10 if args.big else 4)
        rows += hostile_destination_campaign(work)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    widths = [12, 26, 4, 42, 6]
    head = ["case", "what", "exit", "said", "result"]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    failed = sum(row[-1] != "ok" for row in rows)
    print(f"\n{len(rows)} cases, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
