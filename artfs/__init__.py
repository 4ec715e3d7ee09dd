"""artfs: versioned, deduplicated artifacts for ML pipelines.

The Python API follows W&B Artifacts, so ``import artfs as wandb`` works for
the common calls: ``init``, ``run`` (the active run, or None), ``finish``,
``Artifact``, ``log_artifact``, ``use_artifact``, ``download`` and ``Api``.  The
names load on first use, so the ``artfs`` command does not pay for the API's
imports.
"""

import importlib

_EXPORTS = {
    "Api": "artfs.api",
    "Artifact": "artfs.artifact",
    "ManifestEntry": "artfs.artifact",
    "ArtfsError": "artfs.errors",
    "Error": "artfs.errors",
    "CommError": "artfs.errors",
    "UsageError": "artfs.errors",
    "Run": "artfs.session",
    "init": "artfs.session",
    "finish": "artfs.session",
}
_SUBMODULES = {"errors", "apis"}  # wandb.errors.CommError works without importing it first
__all__ = sorted([*_EXPORTS, "run"])
importlib.import_module("artfs._alias").install()  # ``wandb.errors`` is artfs.errors itself


def __getattr__(name: str):
    if name == "run":  # the active run, or None: looked up on every access
        return importlib.import_module("artfs.session").active()
    if name in _SUBMODULES:
        return importlib.import_module(f"artfs.{name}")
    if name not in _EXPORTS:
        raise AttributeError(f"module 'artfs' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__
