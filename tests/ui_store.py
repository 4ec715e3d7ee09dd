"""A store for the web page's tests: two artifacts, three runs (one named like markup),
files of every preview kind, a name that is not UTF-8, metadata full of quotes and
``<script>``, metrics, inputs with files read, and an implicit run."""

import json
import os
import struct
import zlib

from artfs.store import runs as runs_mod
from artfs.store.commit import Commit, Node
from artfs.store.store import Store, Version
from tests.conftest import write

EVIL = "<script>alert('x')</script>"
QUOTES = "\"double\" & 'single' </textarea>"
BAD_NAME = b"caf\xe9 <b>.txt"  # Latin-1, not UTF-8, and markup


def png(width: int = 4, height: int = 3) -> bytes:
    """A real PNG, red pixels: the browser must draw it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\0" + b"\xff\0\0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def put_dir(store: Store, src, name: str, *, type: str = "dataset", run_id=None, **kw) -> Version:
    with Commit(store) as commit:
        node = Node()
        commit.scan_dir(os.fsencode(str(src)), node)
        version, _ = commit.publish(name, node, type=type, run_id=run_id, **kw)
    return version


def dataset_files(root, *, changed: bool = False) -> None:
    write(root / "readme.txt", "hello\nworld\n" + ("changed line\n" if changed else ""))
    write(root / "data.csv", "id,label\n1,cat\n2,<dog>\n")
    write(root / "data.tsv", "a\tb\n1\t2\n")
    write(root / "conf.json", json.dumps({"lr": 0.1, "tag": EVIL}))
    write(root / "img" / "red.png", png())
    table = {"_type": "table", "columns": ["x", "y"], "data": [[1, "one"], [2, EVIL]]}
    write(root / "preds.table.json", json.dumps(table))
    write(root / "blob.bin", bytes(range(256)) * 4)
    if not changed:
        write(root / "old.txt", "removed in v1\n")
    else:
        write(root / "new.txt", "added in v1\n")
    with open(os.path.join(os.fsencode(str(root)), BAD_NAME), "wb") as f:
        f.write(b"latin-1 name\n")


def build(path: str, tmp) -> dict:
    """Make the store at ``path``; → the ids and labels the tests look for."""
    store = Store.open(path)
    make = runs_mod.start_run(
        store, job_type="dataset-creation", name=EVIL, config={"q": QUOTES}, command=["mk"]
    )
    src = tmp / "v0"
    dataset_files(src)
    v0 = put_dir(
        store, src, "ds", run_id=make["id"], description=f"first {EVIL}", metadata={"n": QUOTES}
    )
    runs_mod.finish_run(store, make["id"])
    src1 = tmp / "v1"
    dataset_files(src1, changed=True)
    v1 = put_dir(store, src1, "ds", run_id=make["id"], metadata={"rows": 2, "deep": {"k": EVIL}})
    train = runs_mod.start_run(
        store, job_type="train", name="train-1", config={"lr": 0.01, "layers": [1, 2]}
    )
    runs_mod.record_input(store, train["id"], v1, {"data.csv": 25, "readme.txt": 12})
    runs_mod.append_history(
        store, train["id"], [{"_step": i, "loss": 1.0 / (i + 1), "acc": i / 10} for i in range(10)]
    )
    runs_mod.put_summary(store, train["id"], {"loss": 0.1})
    model_src = tmp / "model"
    write(model_src / "w.bin", b"weights" * 100)
    model = put_dir(store, model_src, "model", type="model", run_id=train["id"], aliases=["best"])
    runs_mod.finish_run(store, train["id"], exit_code=0)
    peek = runs_mod.start_run(store, job_type="", name="cat", implicit=True)
    runs_mod.record_input(store, peek["id"], v0, {"readme.txt": 3})
    runs_mod.finish_run(store, peek["id"])
    return {
        "make": make["id"],
        "train": train["id"],
        "peek": peek["id"],
        "v0": v0.label,
        "v1": v1.label,
        "model": model.label,
    }
