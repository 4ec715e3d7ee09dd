"""Concurrent writers on one remote: nothing acknowledged is ever lost.

Machines are separate local stores on one S3 remote (moto's server, started
here, unless --url and AWS_* point at another, such as scripts/ceph-rgw.sh's).
Writer processes commit versions of the same artifacts at once, with `artfs put`
and, on the first two machines, through a mount's staging directory and `artfs
commit`; a gc of the remote runs in a loop with a short grace period; readers
read every version through the mounts of the other machines.  With --kill,
writers' commits are killed with SIGKILL at random moments.  Then:

- every acknowledged version exists with the content its writer logged;
- each artifact's numbers are distinct and gap-free (a killed commit may have
  claimed its number before dying: such a version is whole or absent);
- `artfs verify --remote` is clean, and a fresh clone reads every version back.

Prints a table; exits 1 if a check fails.  Small by default; --big for a long run.
"""

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.s3server import S3Server  # noqa: E402

ARTIFACTS = ("art0", "art1")


def main() -> int:
    args = parse_args()
    work = tempfile.mkdtemp(prefix="artfs-campaign-")
    server = None
    if args.url is None:
        server, args.url = start_moto()
    env = {**os.environ, "ARTFS_REMOTE_RETRY": "30", "ARTFS_REMOTE_INTERVAL": "0.5"}
    machines = [os.path.join(work, f"machine{m}") for m in range(args.machines)]
    mounts: list[str] = []
    try:
        run(env, machines[0], "remote", "add", args.url)
        for store in machines[1:]:
            run(env, None, "clone", args.url, store)
        for store in machines:
            mnt = store + "-mnt"
            os.makedirs(mnt)
            run(env, store, "mount", mnt)
            mounts.append(mnt)
        result = Campaign(args, env, machines, mounts, work).run()
    finally:
        for mnt in mounts:
            unmount(mnt)
        if server is not None:
            server.stop()
    print_table(result)
    print(f"(working directory {work})")
    return 0 if all(ok for _, ok, _ in result["checks"]) else 1


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="s3://BUCKET/PREFIX of an existing bucket (default: moto)")
    parser.add_argument("--machines", type=int, default=4)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--commits", type=int, default=4, help="per writer")
    parser.add_argument("--size", type=int, default=200_000, help="bytes per version")
    parser.add_argument("--kill", action="store_true", help="SIGKILL commits at random")
    parser.add_argument("--big", action="store_true", help="25 commits a writer, 4 MB each")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.big:
        args.commits, args.size = 25, 4_000_000
    return args


def start_moto() -> tuple[S3Server, str]:
    """moto's S3 server on a free port, a bucket, and the AWS settings pointing there."""
    server = S3Server().start()
    server.bucket("campaign")
    os.environ.update(
        AWS_ENDPOINT_URL=server.url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"
    )
    return server, "s3://campaign/team"


def artfs_command(store: str | None, *args: str) -> list[str]:
    return [sys.executable, "-m", "artfs", *(["--store", store] if store else []), *args]


def run(env, store: str | None, *args: str) -> str:
    done = subprocess.run(artfs_command(store, *args), capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"artfs {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def unmount(path: str) -> None:
    subprocess.run(["fusermount3", "-u", path], capture_output=True)
    with open("/proc/self/mountinfo") as f:
        if any(line.split()[4] == path for line in f):
            subprocess.run(["fusermount3", "-u", "-z", path], capture_output=True)


class Campaign:
    def __init__(self, args, env, machines, mounts, work):
        self.args, self.env, self.machines, self.mounts, self.work = (
            args,
            env,
            machines,
            mounts,
            work,
        )
        self.lock = threading.Lock()
        self.acked: dict[str, str] = {}  # label -> sha256 of the content its writer logged
        self.stats = {"commits": 0, "failed": 0, "killed": 0, "reads": 0, "read errors": 0}
        self.gc_runs, self.gc_deleted, self.gc_revived = 0, 0, 0
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> dict:
        writers = [
            threading.Thread(target=self.writer, args=(i,)) for i in range(self.args.writers)
        ]
        helpers = [threading.Thread(target=self.gc_loop)] + [
            threading.Thread(target=self.reader, args=(m,)) for m in range(2, len(self.machines))
        ]
        started = time.monotonic()
        for t in writers + helpers:
            t.start()
        for t in writers:
            t.join()
        self.stop.set()
        for t in helpers:
            t.join()
        took = time.monotonic() - started
        stats = self.stats | {
            "gc runs": self.gc_runs,
            "packs deleted by gc": self.gc_deleted,
            "packs revived": self.gc_revived,
        }
        return {"took": took, "stats": stats, "checks": self.check()}

    # --- the processes ------------------------------------------------------------

    def writer(self, i: int) -> None:
        rng = random.Random(self.args.seed * 1000 + i)
        machine = i % len(self.machines)
        name = ARTIFACTS[i % len(ARTIFACTS)]
        # Writers 0 and 1 commit through their machine's mount, the others with put.
        through_mount = i < 2 and machine < len(self.mounts)
        src = os.path.join(self.work, f"writer{i}")
        os.makedirs(src)
        if through_mount:
            run(self.env, self.machines[machine], "stage", name, "--empty")
        for n in range(self.args.commits):
            data = rng.randbytes(self.args.size) + f"writer {i} commit {n}".encode()
            digest = hashlib.sha256(data).hexdigest()
            if through_mount:
                path = os.path.join(self.mounts[machine], "staging", name, "data.bin")
                args = ["commit", name]
            else:
                path = os.path.join(src, "data.bin")
                args = ["put", path, "--name", name]
            with open(path, "wb") as f:
                f.write(data)
            proc = subprocess.Popen(
                artfs_command(self.machines[machine], *args),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=self.env,
            )
            killed = self.args.kill and rng.random() < 0.3
            if killed:
                time.sleep(rng.uniform(0.05, 1.5))
                proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate()
            with self.lock:
                if proc.returncode == 0:
                    label = out.strip().splitlines()[-1]
                    if label in self.acked:
                        self.errors.append(f"{label} acknowledged twice")
                    self.acked[label] = digest
                    self.stats["commits"] += 1
                elif proc.returncode == -signal.SIGKILL:
                    self.stats["killed"] += 1
                else:
                    self.stats["failed"] += 1
                    self.errors.append(f"writer {i}: {err.strip()}")

    def gc_loop(self) -> None:
        store = self.machines[-1]
        while not self.stop.wait(1.0):
            done = subprocess.run(
                artfs_command(store, "gc", "--remote", "--grace", "3s", "--json"),
                capture_output=True,
                text=True,
                env=self.env,
            )
            if done.returncode != 0:
                if "a gc is running" not in done.stderr:
                    self.errors.append(f"gc: {done.stderr.strip()}")
                continue
            report = json.loads(done.stdout)["remote"]
            with self.lock:
                self.gc_runs += 1
                self.gc_deleted += len(report["deleted"])
                self.gc_revived += len(report["revived"])

    def reader(self, machine: int) -> None:
        mnt = self.mounts[machine]
        while not self.stop.is_set():
            with self.lock:
                known = dict(self.acked)
            for label, digest in known.items():
                name, version = label.split(":")
                path = os.path.join(mnt, "artifacts", name, version, "data.bin")
                try:
                    with open(path, "rb") as f:
                        got = hashlib.sha256(f.read()).hexdigest()
                except FileNotFoundError:
                    continue  # not seen by this machine yet
                except OSError as e:
                    got = f"error {e}"
                with self.lock:
                    self.stats["reads"] += 1
                    if got != digest:
                        self.stats["read errors"] += 1
                        self.errors.append(f"machine {machine} read {label}: {got}")
            time.sleep(0.2)

    # --- afterwards ---------------------------------------------------------------

    def check(self) -> list[tuple[str, bool, str]]:
        fresh = os.path.join(self.work, "fresh")
        run(self.env, None, "clone", self.args.url, fresh)
        checks = []
        lost, wrong = [], []
        numbers: dict[str, list[int]] = {}
        for name in ARTIFACTS:
            listed = json.loads(run(self.env, fresh, "ls", name, "--json"))
            numbers[name] = sorted(int(v["version"][1:]) for v in listed)
        for label, digest in sorted(self.acked.items()):
            name, version = label.split(":")
            if int(version[1:]) not in numbers.get(name, []):
                lost.append(label)
                continue
            out = os.path.join(self.work, "check", label.replace(":", "_"))
            run(self.env, fresh, "get", label, out)
            with open(os.path.join(out, "data.bin"), "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() != digest:
                    wrong.append(label)
        checks.append(("acknowledged versions present", not lost, ", ".join(lost) or "all"))
        checks.append(("their content as logged", not wrong, ", ".join(wrong) or "all"))
        gaps = {n: ns for n, ns in numbers.items() if ns != list(range(len(ns)))}
        checks.append(("numbers distinct, gap-free", not gaps, str(gaps or "yes")))
        extra = sum(len(ns) for ns in numbers.values()) - len(self.acked)
        checks.append(
            (
                "unacknowledged versions only from killed commits",
                0 <= extra <= self.stats["killed"],
                f"{extra} (killed {self.stats['killed']})",
            )
        )
        verified = subprocess.run(
            artfs_command(fresh, "verify", "--remote"), capture_output=True, text=True, env=self.env
        )
        checks.append(("verify --remote", verified.returncode == 0, verified.stdout.strip()[-80:]))
        checks.append(("no errors seen", not self.errors, "; ".join(self.errors[:3]) or "none"))
        return checks


def print_table(result: dict) -> None:
    stats = result["stats"]
    print(f"\n{'campaign':<48} {'value':>10}")
    for key, value in stats.items():
        print(f"{key:<48} {value:>10}")
    print(f"{'seconds':<48} {result['took']:>10.1f}")
    print(f"\n{'check':<48} {'ok':>4}  detail")
    for name, ok, detail in result["checks"]:
        print(f"{name:<48} {'yes' if ok else 'NO':>4}  {detail}")


if __name__ == "__main__":
    sys.exit(main())
