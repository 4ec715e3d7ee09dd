"""artfs: versioned, deduplicated artifacts for ML pipelines.

The Python API follows W&B Artifacts, so ``import artfs as wandb`` works for
the common calls: ``init``, ``Artifact``, ``log_artifact``, ``use_artifact``,
``download`` and ``Api``.  The names load on first use, so the ``artfs``
command does not pay for the API's imports.
"""

import importlib

_EXPORTS = {
    "Api": "artfs.api",
    "Artifact": "artfs.artifact",
    "ManifestEntry": "artfs.artifact",
    "ArtfsError": "artfs.errors",
    "Run": "artfs.run",
    "init": "artfs.run",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'artfs' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__
