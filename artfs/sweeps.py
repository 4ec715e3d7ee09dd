"""``wandb.sweep`` and ``wandb.agent``, run in this process.

W&B's server hands trials of a sweep to agents anywhere; here ``agent`` runs the
trials itself, calling ``function`` once per trial with ``artfs.config`` holding the
trial's parameters (each trial is a run recorded with its sweep id).  ``grid`` walks
every combination of ``values``; ``random`` samples W&B's distributions; ``bayes`` is
sampled as ``random`` (said once): there is no model of past results here.
"""

import itertools
import math
import random
import sys
import traceback
import uuid
from typing import Any

from artfs import session
from artfs.errors import UsageError
from artfs.values import warn_once

_sweeps: dict[str, dict] = {}  # sweep id -> its config, made by sweep() in this process


def sweep(
    sweep,
    entity: str | None = None,
    project: str | None = None,
    prior_runs: list[str] | None = None,
) -> str:
    """Register a sweep configuration; → its id, for ``agent``."""
    config = sweep() if callable(sweep) else sweep
    if not isinstance(config, dict) or not isinstance(config.get("parameters"), dict):
        raise UsageError("a sweep configuration is a dict with 'method' and 'parameters'")
    if config.get("method", "random") not in ("grid", "random", "bayes"):
        raise UsageError(
            f"sweep method must be 'grid', 'random' or 'bayes', not {config.get('method')!r}"
        )
    if config.get("method") == "grid":
        _grid(config["parameters"])  # a parameter a grid cannot walk is refused now
    sweep_id = uuid.uuid4().hex[:8]
    _sweeps[sweep_id] = {
        "config": config,
        "project": project or config.get("project"),
        "entity": entity or config.get("entity"),
    }
    return sweep_id


def agent(
    sweep_id: str,
    function=None,
    entity: str | None = None,
    project: str | None = None,
    count: int | None = None,
    forward_signals: bool = False,
    term_timeout: int | None = None,
) -> None:
    """Run the sweep's trials (at most ``count``), calling ``function`` for each.  A trial
    that raises is recorded as a failed run and the next one starts, as W&B's agent does."""
    found = _sweeps.get(str(sweep_id).rsplit("/", 1)[-1])
    if found is None:
        raise UsageError(
            f"no sweep {sweep_id!r} in this process: artfs runs a sweep's "
            "trials with agent() in the process that made it with sweep()"
        )
    if function is None:
        raise UsageError("agent needs function=: running a sweep's 'program' is not supported")
    config = found["config"]
    method = config.get("method", "random")
    if method != "grid" and count is None:
        raise UsageError(f"a {method} sweep has no end: pass agent(..., count=N)")
    if method == "bayes":
        warn_once(
            "bayes", "artfs: bayes sweeps are sampled at random here (no model of past results)"
        )
    trials = (
        _grid(config["parameters"])
        if method == "grid"
        else (_sample(config["parameters"]) for _ in itertools.count())  # islice ends it
    )
    for params in itertools.islice(trials, count):
        _trial(sweep_id, params, function, project or found["project"], entity or found["entity"])


def _trial(sweep_id: str, params: dict, function, project, entity) -> None:
    session._sweep_trial = {
        "sweep": sweep_id,
        "config": params,
        "project": project,
        "entity": entity,
    }
    try:
        function()
        code = 0
    except Exception:
        traceback.print_exc(file=sys.stderr)
        code = 1
    finally:
        session._sweep_trial = None
    run = session.active()
    if run is not None and run.sweep_id == sweep_id:  # the function left it running
        run.finish(code)


def _grid(parameters: dict) -> list[dict]:
    names, choices = [], []
    for name, spec in parameters.items():
        names.append(name)
        if "parameters" in spec:
            choices.append(_grid(spec["parameters"]))
        elif "value" in spec:
            choices.append([spec["value"]])
        elif "values" in spec:
            choices.append(list(spec["values"]))
        else:
            raise UsageError(
                f"a grid sweep needs 'values' (or 'value') for parameter "
                f"{name!r}; use method='random' for distributions"
            )
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*choices)]


def _sample(parameters: dict) -> dict:
    return {name: _draw(name, spec) for name, spec in parameters.items()}


def _draw(name: str, spec: dict):
    if "parameters" in spec:
        return _sample(spec["parameters"])
    if "value" in spec:
        return spec["value"]
    if "values" in spec:
        return random.choices(spec["values"], weights=spec.get("probabilities"))[0]
    low: Any = spec.get("min")  # numbers of a JSON-like config, checked by the calls below
    high: Any = spec.get("max")
    value: float
    kind = spec.get("distribution") or (
        "int_uniform" if isinstance(low, int) and isinstance(high, int) else "uniform"
    )
    base = kind.removeprefix("q_")
    if base == "int_uniform":
        value = random.randint(low, high)
    elif base == "uniform":
        value = random.uniform(low, high)
    elif base == "log_uniform":  # min and max are exponents of e
        value = math.exp(random.uniform(low, high))
    elif base == "log_uniform_values":
        value = math.exp(random.uniform(math.log(low), math.log(high)))
    elif base == "normal":
        value = random.gauss(spec.get("mu", 0), spec.get("sigma", 1))
    elif base == "log_normal":
        value = math.exp(random.gauss(spec.get("mu", 0), spec.get("sigma", 1)))
    else:
        raise UsageError(f"unknown distribution {kind!r} for parameter {name!r}")
    if kind.startswith("q_"):
        q = spec.get("q", 1)
        value = round(value / q) * q
    return value
