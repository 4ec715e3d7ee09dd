"""W&B's ``wandb.apis`` namespace: ``wandb.apis.public`` is the public API (``artfs.Api``)."""

from artfs.apis import public

__all__ = ["public"]
