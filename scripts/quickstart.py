"""A tour of artfs: the W&B-style API, then the CLI, on a throwaway store."""

import os
import random
import shlex
import subprocess
import sys
import tempfile

work = tempfile.mkdtemp(prefix="artfs-quickstart-")
os.environ["ARTFS_HOME"] = os.path.join(work, "store")
os.chdir(work)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import artfs as wandb  # noqa: E402  (ARTFS_HOME must be set first)
from tests.s3server import S3Server  # noqa: E402  (moto's server, a stand-in bucket)


def artfs(*args: str) -> None:
    print(f"\n$ artfs {shlex.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "artfs", *args], check=True)


def sh(command: str) -> None:
    print(f"\n$ {command}", flush=True)
    subprocess.run(command, shell=True, check=False)


def make_dataset(rows: int, seed: int) -> None:
    rng = random.Random(seed)
    os.makedirs("data/images", exist_ok=True)
    with open("data/train.csv", "w") as f:
        f.write("id,x,y,label\n")
        for i in range(rows):
            f.write(f"{i},{rng.random():.6f},{rng.random():.6f},{rng.choice('abc')}\n")
    for i in range(20):
        with open(f"data/images/{i:03}.bin", "wb") as f:
            f.write(random.Random(i).randbytes(200_000))


TRAIN = """
import os, subprocess, sys
mnt = sys.argv[1]
data = os.path.join(mnt, "artifacts", "my-dataset", "latest")
with open(os.path.join(data, "train.csv")) as f:  # read through the mount: an input
    rows = sum(1 for _ in f)
os.makedirs(os.path.join(mnt, "staging", "model"), exist_ok=True)
with open(os.path.join(mnt, "staging", "model", "weights.txt"), "w") as f:
    f.write(f"trained on {rows} rows\\n")
subprocess.run([sys.executable, "-m", "artfs", "commit", "model", "--type", "model"],
               check=True)  # inside the run: its output
"""


def train_step(mnt: str) -> None:
    """A training job (any language would do): read through the mount, commit a model."""
    with open("train.py", "w") as f:
        f.write(TRAIN)
    artfs("run", "--job-type", "train", "--", sys.executable, "train.py", mnt)


print(f"working in {work}")
make_dataset(200_000, seed=1)

run = wandb.init(job_type="dataset-creation")
artifact = wandb.Artifact("my-dataset", type="dataset", metadata={"rows": 200_000})
artifact.add_dir("data")
run.log_artifact(artifact)
run.finish()
print(f"logged {artifact.name} ({artifact.size} bytes, digest {artifact.digest[:12]})")

run = wandb.init(job_type="model-training")
used = run.use_artifact("my-dataset:latest")
path = used.download()
print(f"used {used.name}, downloaded to {path}: {sorted(os.listdir(path))}")
run.finish()

with open("data/train.csv", "a") as f:  # a small change to a big dataset
    f.write("200000,0.5,0.5,a\n")
run = wandb.init(job_type="dataset-update")
artifact = wandb.Artifact("my-dataset", type="dataset")
artifact.add_dir("data")
run.log_artifact(artifact, aliases=["best"])
run.finish()
print(f"logged {artifact.name} with aliases {artifact.aliases}")

run = wandb.init(job_type="dataset-update")
again = wandb.Artifact("my-dataset", type="dataset")
again.add_dir("data")
run.log_artifact(again)  # same content: no new version, says which one holds it
run.finish()

# A W&B-style training script (scripts/train_wandb.py): config, metrics, a model.
script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train_wandb.py")
print("\n$ python train_wandb.py --lr 0.05", flush=True)
subprocess.run([sys.executable, script, "--lr", "0.05"], check=True)
trained = wandb.Api().artifact("my-model:production")
artfs("runs", "show", trained.logged_by().id)
artfs("show", "my-model:production")

artfs("ls", "my-dataset")
artfs("diff", "my-dataset:v0", "my-dataset:v1")
artfs("show", "my-dataset:best")
artfs("stats")
artfs("verify")

# The same store as a file system: versions are directories, staging is writable.
mnt = os.path.join(work, "mnt")
os.makedirs(mnt)
artfs("mount", mnt)
try:
    sh(f"ls -l {mnt}/artifacts/my-dataset/")
    sh(f"head -3 {mnt}/artifacts/my-dataset/v1/train.csv")
    sh(f"diff -r {mnt}/artifacts/my-dataset/v0 {mnt}/artifacts/my-dataset/v1")
    artfs("stage", "my-dataset", "--from", "latest")
    sh(f"rm {mnt}/staging/my-dataset/images/000.bin")
    sh(f"echo 'id,x,y,label' > {mnt}/staging/my-dataset/extra.csv")
    artfs("commit", "my-dataset", "-m", "drop an image, add extra.csv")
    artfs("diff", "my-dataset:v1", "my-dataset:v2")
    sh(f"cat {mnt}/meta/my-dataset/v2.json | head -20")
    train_step(mnt)
    artfs("lineage", "model:v0")
    artfs("lineage", "model:v0", "--format", "svg", "-o", os.path.join(work, "lineage.svg"))
finally:
    artfs("umount", mnt)

# A second machine: the store shared through S3 (moto's server on loopback stands in
# for a bucket), cloned into another store, seeing the versions and the lineage.
server = S3Server().start()
try:
    server.bucket("team")
    os.environ.update(
        AWS_ENDPOINT_URL=server.url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"
    )
    artfs("remote", "add", "s3://team/quickstart")
    machine2 = os.path.join(work, "machine2")
    artfs("clone", "s3://team/quickstart", machine2)
    artfs("--store", machine2, "ls")
    mnt2 = os.path.join(work, "mnt2")
    os.makedirs(mnt2)
    artfs("--store", machine2, "mount", mnt2)
    try:
        sh(f"ls {mnt2}/artifacts/my-dataset/")
        sh(f"head -3 {mnt2}/artifacts/my-dataset/latest/train.csv")
        artfs("--store", machine2, "lineage", "model:v0")
    finally:
        artfs("umount", mnt2)
finally:
    server.stop()
print(f"\nthe store is in {os.environ['ARTFS_HOME']}; the second machine's in {machine2}")
