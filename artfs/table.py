"""``artfs.Table``: W&B's ``wandb.Table``, rows of columns stored in an artifact.

``artifact.add(table, "name")`` writes ``name.table.json`` in W&B's JSON layout
(``_type``, ``columns``, ``data``, ``ncols``, ``nrows``, ``column_types``), so the
file reads the same through the mount, in W&B, or with ``json.load``;
``artifact.get("name")`` returns an equal Table.  Cells are JSON values (numbers,
strings, booleans, None, lists, dicts); NumPy values become their Python
equivalents.  W&B media cells (``wandb.Image`` and the like) are not supported.
"""

import math
from typing import Any

SUFFIX = ".table.json"
LOG_TYPE = "table"
_DEFAULT_COLUMNS = ["Input", "Output", "Expected"]  # W&B's, kept for legacy scripts


def _plain(value: Any) -> Any:
    """A cell as a JSON value (NumPy scalars and arrays, tuples → Python equivalents)."""
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays and scalars
        return _plain(value.tolist())
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(
        f"a Table cell must be a JSON value (number, string, bool, None, list, "
        f"dict), not {type(value).__name__}; W&B media types are not supported"
    )


def _kind(value: Any) -> str:
    """W&B's wb_type name for a cell."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "typedDict"


class Table:
    """Rows of named columns (W&B's ``wandb.Table``)."""

    # (artifact, path) of the file it was first added as; set by Artifact.add, absent before
    _artifact_target: tuple[Any, str]

    def __init__(
        self,
        columns=None,
        data=None,
        rows=None,
        dataframe=None,
        dtype=None,
        optional=True,
        allow_mixed_types: bool = False,
        log_mode: str = "IMMUTABLE",
    ):
        self.log_mode = log_mode
        self._mixed = allow_mixed_types or dtype is not None  # dtype: the caller's promise
        if dataframe is None and _is_dataframe(data):
            dataframe, data = data, None
        if dataframe is not None:
            columns, data = [str(c) for c in dataframe.columns], dataframe.values.tolist()
        self.columns: list = list(columns) if columns is not None else list(_DEFAULT_COLUMNS)
        if len(set(self.columns)) != len(self.columns):
            raise ValueError(f"Table columns must be unique: {self.columns}")
        self._optional = (
            list(optional)
            if isinstance(optional, list | tuple)
            else [bool(optional)] * len(self.columns)
        )
        self._kinds: dict = {}
        self.data: list[list] = []
        for row in _plain(data if data is not None else rows if rows is not None else []):
            self.add_data(*row)

    def add_data(self, *data) -> None:
        """Append one row: one value per column."""
        if len(data) != len(self.columns):
            raise ValueError(
                f"This table expects {len(self.columns)} columns: {self.columns}, found {len(data)}"
            )
        row = [_plain(v) for v in data]
        for i, value in enumerate(row):
            self._check_type(i, value)
        self.data.append(row)

    add_row = add_data  # W&B's deprecated name

    def _check_type(self, i: int, value: Any) -> None:
        """W&B refuses a cell whose type differs from its column's (unless mixed types are
        allowed), and None in a column that is not optional."""
        column, kind = self.columns[i], _kind(value)
        if kind == "none":
            if i < len(self._optional) and not self._optional[i] and not self._mixed:
                raise TypeError(f"column {column!r} is not optional: None is not allowed")
            return
        known = self._kinds.setdefault(column, kind)
        if known != kind and not self._mixed:
            raise TypeError(
                f"column {column!r} holds {known} values, not {kind} ({value!r}); "
                "pass allow_mixed_types=True to Table to allow that"
            )

    def add_column(self, name: str, data, optional: bool = False) -> None:
        """Append a column (one value per existing row)."""
        if not isinstance(name, str) or name in self.columns:
            raise ValueError(f"column name {name!r} must be a new string")
        values = _plain(list(data) if not hasattr(data, "tolist") else data)
        if self.columns and self.data and len(values) != len(self.data):
            raise ValueError(f"column {name!r} has {len(values)} values for {len(self.data)} rows")
        self.columns.append(name)
        self._optional.append(optional)
        for value in values:
            self._check_type(len(self.columns) - 1, value)
        if not self.data:
            self.data = [[v] for v in values]
        else:
            for row, value in zip(self.data, values, strict=True):
                row.append(value)

    def get_column(self, name, convert_to: str | None = None):
        """A column's values, as a list (or a NumPy array with ``convert_to="numpy"``)."""
        if name not in self.columns:
            raise KeyError(f"Table has no column {name!r}; its columns are {self.columns}")
        i = self.columns.index(name)
        values = [row[i] for row in self.data]
        if convert_to is None:
            return values
        if convert_to != "numpy":
            raise ValueError(f"convert_to must be None or 'numpy', not {convert_to!r}")
        import numpy

        return numpy.array(values)

    def get_index(self) -> list[int]:
        return list(range(len(self.data)))

    def get_dataframe(self):
        """The table as a ``pandas.DataFrame`` (pandas must be installed)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("Table.get_dataframe needs pandas: pip install pandas") from None
        return pandas.DataFrame.from_records(self.data, columns=self.columns)

    def iterrows(self):
        yield from enumerate(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Table)
            and self.columns == other.columns
            and _same(self.data, other.data)
        )

    __hash__ = None  # type: ignore[assignment]  # unhashable: mutable, as W&B's

    def __repr__(self) -> str:
        return f"<Table {len(self.data)} rows x {len(self.columns)} columns {self.columns}>"

    # --- the JSON file (W&B's layout) ---------------------------------------------------

    def to_json(self, artifact=None) -> dict:
        return {
            "_type": LOG_TYPE,
            "columns": self.columns,
            "data": self.data,
            "ncols": len(self.columns),
            "nrows": len(self.data),
            "column_types": self._column_types(),
            "log_mode": self.log_mode,
        }

    def _column_types(self) -> dict:
        type_map = {}
        for i, column in enumerate(self.columns):
            kind = {"wb_type": self._kinds.get(column, "any" if self._mixed else "none")}
            if i < len(self._optional) and self._optional[i] and kind["wb_type"] != "none":
                kind = {
                    "params": {"allowed_types": [{"wb_type": "none"}, kind]},
                    "wb_type": "union",
                }
            type_map[str(column)] = kind
        return {"params": {"type_map": type_map}, "wb_type": "typedDict"}

    @classmethod
    def from_json(cls, json_obj: dict, source_artifact=None) -> "Table":
        if json_obj.get("_type") not in (LOG_TYPE, None) or "columns" not in json_obj:
            raise ValueError(f"not a W&B table (its _type is {json_obj.get('_type')!r})")
        return cls(
            columns=json_obj["columns"],
            data=json_obj.get("data", []),
            allow_mixed_types=True,
            log_mode=json_obj.get("log_mode", "IMMUTABLE"),
        )

    @staticmethod
    def with_suffix(name: str) -> str:
        return name if name.endswith(SUFFIX) else name + SUFFIX


def _is_dataframe(data) -> bool:
    return type(data).__name__ == "DataFrame" and hasattr(data, "columns")


def _same(a: Any, b: Any) -> bool:
    """Equal cells, NaN equal to NaN (a table read back must equal the one written)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b
