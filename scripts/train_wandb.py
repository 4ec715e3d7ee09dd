"""A training script of the usual W&B shape, run on artfs unchanged but for the import.

Run by scripts/quickstart.py after it has logged ``my-dataset``: it uses the
dataset, logs metrics, logs a model with an alias, then promotes the model by
editing its metadata, aliases and description with ``save()``.
"""

import argparse
import json
import os

import artfs as wandb  # the only line that differs from a W&B script

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--epochs", type=int, default=3)
args = parser.parse_args()

with wandb.init(project="quickstart", job_type="train", config=args, tags=["baseline"]) as run:
    dataset = run.use_artifact("my-dataset:latest", type="dataset")
    data_dir = dataset.download()
    with open(os.path.join(data_dir, "train.csv")) as f:
        rows = sum(1 for _ in f) - 1

    loss = 1.0
    for epoch in range(wandb.config.epochs):
        loss *= 1 - run.config.lr * 5  # stands in for an epoch of training
        wandb.log({"epoch": epoch, "loss": loss})
    run.summary["rows_seen"] = rows

    os.makedirs("model", exist_ok=True)
    with open("model/weights.json", "w") as f:
        json.dump({"lr": run.config.lr, "loss": loss}, f)
    model = wandb.Artifact("my-model", type="model", metadata={"loss": loss})
    model.add_dir("model")
    run.log_artifact(model, aliases=["candidate"])
    model.wait()

    # After evaluation: promote the model; content stays, its record changes.
    model.metadata["evaluated"] = True
    model.aliases.append("production")
    model.description = "baseline, promoted after evaluation"
    model.save()
    print(f"logged {model.qualified_name} with aliases {model.aliases} in run {run.id}")
