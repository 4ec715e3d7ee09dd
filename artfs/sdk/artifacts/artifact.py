"""W&B's ``wandb.sdk.artifacts.artifact`` module path, for scripts that import
``Artifact`` from there rather than from ``wandb``."""

from artfs.artifact import Artifact

__all__ = ["Artifact"]
