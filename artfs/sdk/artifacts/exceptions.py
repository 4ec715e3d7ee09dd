"""W&B's ``wandb.sdk.artifacts.exceptions`` module path: its exception names, as artfs
raises them."""

from artfs.errors import ArtifactFinalizedError, ArtifactNotLoggedError

__all__ = ["ArtifactFinalizedError", "ArtifactNotLoggedError"]
