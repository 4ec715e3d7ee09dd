"""A run's metrics: ``log`` makes history rows, ``summary`` holds the last values.

As in W&B: each committed ``log`` call is one row with ``_step`` (0, 1, ... or the
``step=`` given, which must not go back), ``_runtime`` and ``_timestamp``;
``commit=False`` (the default when ``step`` is given) gathers data into the current
row until the step is committed or a later step is logged.  The summary is each key's
last logged value unless the script sets it, or ``define_metric`` asks for min, max,
mean, first or best instead.  Rows reach the store at least once a second and when
the run finishes (a crash loses at most the last second, as W&B's own buffering can).
"""

import fnmatch
import threading
import time
import warnings

from artfs.errors import UsageError
from artfs.store import runs as runs_mod
from artfs.values import jsonable

FLUSH_SECONDS = 1.0
_STATS = ("min", "max", "mean", "first", "last", "best")


class Summary:
    """``run.summary``: item and attribute access, ``update``, ``keys``/``items``/``get``.
    A value set here is saved at once."""

    def __init__(self, items: dict | None = None, save=None):
        object.__setattr__(self, "_items", dict(items or {}))
        object.__setattr__(self, "_save", save)

    def __getitem__(self, key):
        return self._items[key]

    def __getattr__(self, key):
        try:
            return self._items[key]
        except KeyError:
            raise AttributeError(f"the summary has no item {key!r}") from None

    def __setitem__(self, key, value) -> None:
        self.update({key: value})

    __setattr__ = __setitem__

    def __delitem__(self, key) -> None:
        del self._items[key]
        self._persist()

    __delattr__ = __delitem__

    def __contains__(self, key) -> bool:
        return key in self._items

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return repr(self._items)

    @property
    def _json_dict(self) -> dict:
        """The summary as a plain dict, under the name W&B's public API gives it (its
        export examples read ``run.summary._json_dict``)."""
        return dict(self._items)

    def keys(self) -> list[str]:
        return list(self._items)

    def items(self) -> list[tuple]:
        return list(self._items.items())

    def values(self) -> list:
        return list(self._items.values())

    def get(self, key, default=None):
        return self._items.get(key, default)

    def as_dict(self) -> dict:
        return dict(self._items)

    def update(self, d: dict | None = None, **kwargs) -> None:
        self._items.update(jsonable({**(d or {}), **kwargs}))
        self._persist()

    def _persist(self) -> None:
        if self._save is not None:
            self._save(dict(self._items))


class Metric:
    """What ``define_metric`` returns: how a metric is summarised and plotted."""

    def __init__(
        self, name: str, step_metric=None, step_sync=None, hidden=None, summary=None, goal=None
    ):
        if goal not in (None, "minimize", "maximize"):
            raise UsageError(f"goal must be 'minimize' or 'maximize', not {goal!r}")
        stats = tuple(s.strip() for s in summary.split(",")) if summary else ()
        unknown = [s for s in stats if s not in (*_STATS, "copy", "none")]
        if unknown:
            raise UsageError(
                f"unknown summary {unknown[0]!r} for metric {name!r}; use "
                "min, max, mean, first, last, best, copy or none"
            )
        self.name = name
        self.step_metric = step_metric.name if isinstance(step_metric, Metric) else step_metric
        self.step_sync = step_sync
        self.hidden = hidden
        self.summary = stats or None
        self.goal = goal

    def __repr__(self) -> str:
        return f"<Metric {self.name}>"

    def summarise(self, history: list, value):
        """The summary value of this metric given its earlier values and a new one;
        ``_NONE`` when the metric has no summary."""
        stats = self.summary or ("last",)
        if "none" in stats:
            return _NONE
        if set(stats) <= {"last", "copy"}:
            return value
        return {s: _stat(s, [*history, value], self.goal) for s in stats if s in _STATS}


_NONE = object()


def _stat(stat: str, values: list, goal: str | None):
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if stat == "first":
        return values[0]
    if stat == "last":
        return values[-1]
    if not numbers:
        return None
    if stat == "best":
        stat = "min" if goal == "minimize" else "max"
    if stat == "mean":
        return sum(numbers) / len(numbers)
    return min(numbers) if stat == "min" else max(numbers)


class History:
    """The rows a run logs, buffered and written to the store (``store`` None: kept in
    memory only, for a disabled run)."""

    def __init__(self, store, run_id: str, summary: Summary, start: float, step: int = 0):
        self._store, self._run_id, self.summary, self._start = store, run_id, summary, start
        self.step = step
        self._pending: dict = {}
        self._unwritten: list[dict] = []
        self._last_write = time.monotonic()
        self.metrics: dict[str, Metric] = {}
        self._seen: dict[str, list] = {}  # values of metrics summarised by statistics
        self._lock = threading.RLock()  # scripts log from callback and loader threads too

    def log(self, data: dict, step: int | None = None, commit: bool | None = None) -> None:
        with self._lock:
            self._log(data, step, commit)

    def _log(self, data: dict, step: int | None, commit: bool | None) -> None:
        if not isinstance(data, dict):
            raise UsageError(
                f"log takes a dict of metric names to values, not {type(data).__name__}"
            )
        if not all(isinstance(k, str) for k in data):
            raise UsageError("the keys of a dict passed to log must be strings")
        if step is not None:
            if step < self.step:
                warnings.warn(
                    f"artfs: log(step={step}) is before the current step "
                    f"{self.step}; steps only go forward, so this data is ignored",
                    stacklevel=3,
                )
                return
            if step > self.step:
                self.commit()
                self.step = step
        self._pending.update(jsonable(data))
        if commit if commit is not None else step is None:
            self.commit()
        if time.monotonic() - self._last_write >= FLUSH_SECONDS:
            self.flush()

    def commit(self) -> None:
        """Close the current step's row (if anything was logged to it)."""
        with self._lock:
            if self._pending:
                self._commit()

    def _commit(self) -> None:
        now = time.time()
        row = {
            **self._pending,
            "_step": self.step,
            "_runtime": now - self._start,
            "_timestamp": now,
        }
        self._sync_steps(row)
        self._pending = {}
        self._unwritten.append(row)
        self.step += 1
        self.summary._items.update(self._summaries(row))

    def _sync_steps(self, row: dict) -> None:
        """Give rows the last value of each metric's ``step_metric`` (W&B's step_sync)."""
        for key in list(row):
            metric = self.metric(key)
            if (
                metric
                and metric.step_metric
                and metric.step_sync is not False
                and metric.step_metric not in row
                and metric.step_metric in self.summary._items
            ):
                row[metric.step_metric] = self.summary._items[metric.step_metric]

    def _summaries(self, row: dict) -> dict:
        out = {}
        for key, value in row.items():
            metric = self.metric(key)
            if metric is None or key.startswith("_"):
                out[key] = value
                continue
            summarised = metric.summarise(self._seen.get(key, []), value)
            self._seen.setdefault(key, []).append(value)
            if summarised is not _NONE:
                out[key] = summarised
        return out

    def metric(self, key: str) -> Metric | None:
        """The definition that applies to ``key``: its own, else a matching glob."""
        if key in self.metrics:
            return self.metrics[key]
        return next(
            (
                m
                for pattern, m in self.metrics.items()
                if "*" in pattern and fnmatch.fnmatchcase(key, pattern)
            ),
            None,
        )

    def flush(self) -> None:
        """Write the rows not yet in the store, then the summary."""
        with self._lock:
            self._last_write = time.monotonic()
            if self._store is not None:  # rows stay queued if the write fails
                runs_mod.append_history(self._store, self._run_id, self._unwritten)
                runs_mod.put_summary(self._store, self._run_id, self.summary.as_dict())
            self._unwritten = []
