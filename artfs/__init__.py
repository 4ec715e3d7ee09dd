"""artfs: versioned, deduplicated artifacts for ML pipelines.

The Python API follows W&B Artifacts, so ``import artfs as wandb`` works for
the common calls: ``init``, ``Artifact``, ``log_artifact``, ``use_artifact``,
``download`` and ``Api``.
"""

from artfs.api import Api
from artfs.artifact import Artifact, ManifestEntry
from artfs.errors import ArtfsError
from artfs.run import Run, init

__all__ = ["Api", "Artifact", "ArtfsError", "ManifestEntry", "Run", "init"]
