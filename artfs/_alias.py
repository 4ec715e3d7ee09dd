"""Submodules under the name a script gave artfs.

A script that puts artfs in ``sys.modules["wandb"]`` (as ``import artfs as wandb``
shims do) and then imports ``wandb.errors`` would otherwise load a second copy of
``artfs/errors.py`` under that name, whose classes its own ``except`` clauses would
then not match.  This finder hands out ``artfs.X`` itself for ``ALIAS.X``.
"""

import importlib
import importlib.util
import sys
from typing import TYPE_CHECKING

# The import system asks only for these methods; importlib.abc's base classes would
# cost every command (and every ``import artfs``) 10 ms of importlib.resources.
if TYPE_CHECKING:
    from importlib.abc import Loader as _LoaderBase
else:
    _LoaderBase = object


class _Loader(_LoaderBase):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module) -> None:
        """The module ran already, under its own name."""


class _Finder:
    def find_spec(self, fullname, path, target=None):
        head, _, rest = fullname.partition(".")
        artfs = sys.modules.get("artfs")
        if not rest or head == "artfs" or artfs is None or sys.modules.get(head) is not artfs:
            return None
        return importlib.util.spec_from_loader(fullname, _Loader(f"artfs.{rest}"))


def install() -> None:
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
