"""wandb.Table in artifacts, as W&B documents it (Table reference, "Log tables"):
add(table, name) stores NAME.table.json in W&B's layout, get(name) returns an equal Table."""

import json
import os

import pytest

import artfs as wandb
from tests.conftest import write

pytestmark = pytest.mark.fast


def logged(art):
    with wandb.init(job_type="t") as run:
        run.log_artifact(art)
    return art


def test_table_building():
    table = wandb.Table(columns=["id", "label"], data=[[1, "cat"], [2, "dog"]])
    table.add_data(3, "bird")
    assert table.columns == ["id", "label"]
    assert table.data == [[1, "cat"], [2, "dog"], [3, "bird"]]
    assert table.get_column("label") == ["cat", "dog", "bird"]
    table.add_column("score", [0.5, 0.25, 1.0])
    assert table.data[2] == [3, "bird", 1.0] and table.columns[-1] == "score"
    assert list(table.get_column("id", convert_to="numpy")) == [1, 2, 3]
    with pytest.raises(ValueError, match="expects 3 columns"):
        table.add_data(4, "fish")
    with pytest.raises(TypeError):  # W&B checks a column's type
        table.add_data("four", "fish", 0.1)
    assert len(table.data) == 3
    assert wandb.Table().columns == ["Input", "Output", "Expected"]  # W&B's default
    mixed = wandb.Table(columns=["x"], allow_mixed_types=True)
    mixed.add_data(1)
    mixed.add_data("one")
    assert mixed.get_column("x") == [1, "one"]


def test_table_from_rows_numpy_and_equality():
    import numpy as np

    a = wandb.Table(columns=["a", "b"], rows=[[1, 2.5]])
    b = wandb.Table(columns=["a", "b"], data=np.array([[1, 2.5]]))
    assert a.data == [[1, 2.5]] and b.data == [[1.0, 2.5]]
    assert a == b and a != wandb.Table(columns=["a", "c"], rows=[[1, 2.5]])


def test_table_dataframe_round_trip():
    import pandas as pd

    df = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    table = wandb.Table(dataframe=df)
    assert table.columns == ["x", "y"] and table.data == [[1, "a"], [2, "b"]]
    assert table.get_dataframe().equals(df)
    assert wandb.Table(data=df) == table


def test_add_and_get_a_table(store_dir, tmp_path):
    table = wandb.Table(columns=["image_id", "prediction", "confidence"])
    table.add_data("img_001", "cat", 0.9)
    table.add_data("img_002", None, 0.1)
    art = wandb.Artifact("predictions", type="evaluation")
    entry = art.add(table, "preds")
    assert entry.path == "preds.table.json"
    logged(art)
    got = wandb.Api().artifact("predictions:latest").get("preds")
    assert isinstance(got, wandb.Table) and got == table
    assert got.get_column("confidence") == [0.9, 0.1]
    assert art.get("nothing") is None
    assert art["preds"] == table and art.get_entry("preds").path == "preds.table.json"
    path = art.get_entry("preds.table.json").download(str(tmp_path / "out"))
    with open(path) as f:
        document = json.load(f)
    assert document["_type"] == "table" and document["columns"] == table.columns
    assert document["data"] == [["img_001", "cat", 0.9], ["img_002", None, 0.1]]
    assert (document["ncols"], document["nrows"]) == (3, 2)
    assert document["column_types"]["wb_type"] == "typedDict"


def test_add_the_same_object_twice_and_overwrite(store_dir):
    table = wandb.Table(columns=["a"], data=[[1]])
    art = wandb.Artifact("t", type="dataset")
    art.add(table, "t")
    assert art.add(table, "t").path == "t.table.json"
    other = wandb.Table(columns=["a"], data=[[2]])
    art.add(other, "t")  # W&B keeps the first unless overwrite
    art["u"] = other
    logged(art)
    assert art.get("t") == table and art.get("u") == other


def test_plain_json_objects_and_refused_types(store_dir, tmp_path):
    art = wandb.Artifact("cfg", type="config")
    assert art.add({"lr": 0.1, "layers": [64, 32]}, "hparams").path == "hparams.json"
    with pytest.raises(TypeError):
        art.add(object(), "thing")
    logged(art)
    assert art.get("hparams") == {"lr": 0.1, "layers": [64, 32]}


def test_a_table_file_reads_as_json_after_download(store_dir, tmp_path):
    write(tmp_path / "x.txt", "x")
    art = wandb.Artifact("t", type="dataset")
    art.add(wandb.Table(columns=["a"], data=[[float("nan")]]), "nan")
    logged(art)
    root = art.download(str(tmp_path / "o"))
    assert os.path.exists(os.path.join(root, "nan.table.json"))
    assert art.get("nan") == wandb.Table(columns=["a"], data=[[float("nan")]])


def test_a_table_from_a_logged_artifact_is_added_by_reference(store_dir):
    table = wandb.Table(columns=["a"], data=[[1]])
    first = wandb.Artifact("first", type="dataset")
    first.add(table, "t1")
    assert first.manifest.entries["t1.table.json"].ref is None
    logged(first)
    second = wandb.Artifact("second", type="dataset")
    entry = second.add(table, "t2")
    assert entry.ref == first.get_entry("t1").ref_url()  # W&B's wandb-artifact:// URL
    logged(second)
    assert second.get_entry("t2").ref == entry.ref and second.get("t2") == table
