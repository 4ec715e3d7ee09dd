"""``wandb.apis.public``: the names W&B scripts import from it, which are artfs's own."""

from artfs.api import Api
from artfs.collections import ArtifactCollection, ArtifactType
from artfs.session import Run

__all__ = ["Api", "ArtifactCollection", "ArtifactType", "Run"]
