"""W&B's ``wandb.sdk.artifacts.artifact_ttl`` module path, for scripts that import
``ArtifactTTL`` from there rather than from ``wandb``."""

from artfs.artifact import ArtifactTTL

__all__ = ["ArtifactTTL"]
