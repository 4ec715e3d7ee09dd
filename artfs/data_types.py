"""W&B's ``wandb.data_types`` module path, for the one data type artfs has: ``Table``
(W&B's media types, and ``PartitionedTable``, are not supported)."""

from artfs.table import Table

__all__ = ["Table"]
