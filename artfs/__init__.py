"""artfs: versioned, deduplicated artifacts for ML pipelines.

The Python API follows W&B Artifacts, so ``import artfs as wandb`` works for
the common calls: ``init``, ``run`` (the active run, or None), ``config``,
``summary``, ``log``, ``finish``, ``Artifact``, ``log_artifact``, ``use_artifact``,
``download`` and ``Api``, and W&B's cloud calls (``login``...).  The
names load on first use, so the ``artfs`` command does not pay for the API's
imports.
"""

import importlib

_EXPORTS = {
    "Api": "artfs.api",
    "Artifact": "artfs.artifact",
    "ArtifactTTL": "artfs.artifact",
    "ManifestEntry": "artfs.artifact",
    "ArtfsError": "artfs.errors",
    "Error": "artfs.errors",
    "CommError": "artfs.errors",
    "UsageError": "artfs.errors",
    "Table": "artfs.table",
    "ConfigError": "artfs.errors",
    "Run": "artfs.session",
    "init": "artfs.session",
    "finish": "artfs.session",
    **dict.fromkeys(
        [
            "log",
            "define_metric",
            "save",
            "watch",
            "unwatch",
            "alert",
            "mark_preempting",
            "log_code",
            "log_artifact",
            "use_artifact",
            "join",
        ],
        "artfs.session",
    ),
    "Settings": "artfs.settings",
    "sweep": "artfs.sweeps",
    "agent": "artfs.sweeps",
    **dict.fromkeys(
        [
            "login",
            "require",
            "setup",
            "teardown",
            "termlog",
            "termwarn",
            "termerror",
            "AlertLevel",
            "restore",
        ],
        "artfs.cloud",
    ),
}
_SUBMODULES = {"errors", "apis", "sdk", "data_types"}  # wandb.errors.X without an import
_OF_ACTIVE_RUN = {"run", "config", "summary"}  # looked up on every access
__all__ = sorted([*_EXPORTS, *_OF_ACTIVE_RUN])
importlib.import_module("artfs._alias").install()  # ``wandb.errors`` is artfs.errors itself


def __getattr__(name: str):
    if name in _OF_ACTIVE_RUN:
        session = importlib.import_module("artfs.session")
        run = session.active()
        if name == "run":  # the active run, or None
            return run
        return session.PreInit(f"wandb.{name}") if run is None else getattr(run, name)
    if name in _SUBMODULES:
        return importlib.import_module(f"artfs.{name}")
    if name not in _EXPORTS:
        raise AttributeError(f"module 'artfs' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__
