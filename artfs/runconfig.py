"""``run.config`` / ``wandb.config``: a run's hyperparameters, saved with the run (the module
is not named config: ``artfs.config`` is the active run's).

As W&B's Config: attribute and item access, ``update``, ``setdefaults``; input may be
a dict, an ``argparse.Namespace``, absl flags or a YAML file's path; changing a value
already set needs ``allow_val_change=True`` (W&B raises then too, so a typo cannot
silently rewrite a hyperparameter).
"""

import os

from artfs.artifact import Artifact
from artfs.errors import ConfigError, UsageError
from artfs.values import jsonable


def parse_config(params, exclude=None, include=None) -> dict:
    """A dict of config items from anything ``init(config=)`` or ``update`` takes."""
    if exclude and include:
        raise UsageError("give config_exclude_keys or config_include_keys, not both")
    if params is None:
        return {}
    if isinstance(params, (str, os.PathLike)):
        params = _yaml_file(os.fspath(params))
    elif callable(getattr(params, "flag_values_dict", None)):  # absl.flags.FLAGS
        params = params.flag_values_dict()
    elif isinstance(params, Config):
        params = params.as_dict()
    elif not isinstance(params, dict):
        if not hasattr(params, "__dict__"):
            raise TypeError("config must be a dict or have a __dict__ attribute.")
        params = vars(params)  # argparse.Namespace and the like
    return {
        k: v
        for k, v in params.items()
        if (not include or k in include) and (not exclude or k not in exclude)
    }


def _yaml_file(path: str) -> dict:
    try:
        import yaml
    except ImportError:
        raise UsageError(
            f"config={path!r} names a YAML file, which needs PyYAML: "
            "pip install pyyaml, or pass a dict"
        ) from None
    try:
        with open(path, encoding="utf-8") as f:
            loaded = yaml.safe_load(f) or {}
    except OSError as e:
        raise UsageError(f"cannot read the config file {path}: {e.strerror}") from None
    if not isinstance(loaded, dict):
        raise UsageError(f"the config file {path} must hold a mapping of names to values")
    # W&B's config-defaults.yaml style: {"lr": {"value": 0.1, "desc": ...}}
    return {
        k: v["value"] if isinstance(v, dict) and "value" in v else v
        for k, v in loaded.items()
        if k != "wandb_version"
    }


def clean(items: dict) -> dict:
    """Config items as stored: JSON values, keys without the dashes of flag names
    (``--lr`` is ``lr``, as in W&B)."""
    return {str(key).strip("-"): jsonable(value, "config") for key, value in items.items()}


class Config:
    """A run's config.  ``on_change(items)`` is called with the whole config after each
    change, before the change is visible: a change the store refuses is not made."""

    def __init__(self, items: dict | None = None, on_change=None, on_artifact=None):
        object.__setattr__(self, "_items", dict(items or {}))
        object.__setattr__(self, "_on_change", on_change)
        object.__setattr__(self, "_on_artifact", on_artifact)
        object.__setattr__(self, "_artifacts", {})  # key -> the Artifact set there

    def keys(self) -> list[str]:
        return [k for k in self._items if not k.startswith("_")]

    def items(self) -> list[tuple]:
        return [(k, v) for k, v in self._items.items() if not k.startswith("_")]

    def values(self) -> list:
        return [v for _, v in self.items()]

    def get(self, *args):
        return self._items.get(*args)

    def as_dict(self) -> dict:
        return dict(self.items())

    def __getitem__(self, key):
        return self._artifacts.get(key, self._items[key])

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"the config has no item {key!r}") from None

    def __setitem__(self, key, value) -> None:
        self._change({key: value}, allow_val_change=None)

    __setattr__ = __setitem__

    def __delitem__(self, key) -> None:
        items = dict(self._items)
        del items[key]
        self._save(items)
        self._artifacts.pop(key, None)

    __delattr__ = __delitem__

    def __contains__(self, key) -> bool:
        return key in self._items

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self.keys())

    def __eq__(self, other) -> bool:
        return self.as_dict() == (other.as_dict() if isinstance(other, Config) else other)

    def __repr__(self) -> str:
        return repr(self._items)

    def update(self, d, allow_val_change=None) -> None:
        self._change(parse_config(d), allow_val_change)

    def setdefaults(self, d) -> None:
        """Set the items of ``d`` that are not set yet."""
        self._change(
            {k: v for k, v in parse_config(d).items() if k.strip("-") not in self._items},
            allow_val_change=None,
        )

    def setdefault(self, key, default=None):
        if key not in self._items:
            self[key] = default
        return self._items[key]

    def persist(self) -> None:
        """Save the config now (every change already is)."""
        self._save(self._items)

    def _change(self, new: dict, allow_val_change) -> None:
        items, artifacts = dict(self._items), {}
        for key, value in new.items():
            if isinstance(value, Artifact):  # W&B: the run uses it; config names it
                artifacts[str(key).strip("-")] = value
                new = {
                    **new,
                    key: {"_type": "artifactVersion", "name": value.name, "type": value.type},
                }
        for key, value in clean(new).items():
            if not allow_val_change and key in items and items[key] != value:
                raise ConfigError(
                    f"attempted to change config {key!r} from {items[key]!r} to {value!r}; "
                    "pass allow_val_change=True to config.update() if you mean it"
                )
            items[key] = value
        for artifact in artifacts.values():
            if self._on_artifact is not None:
                self._on_artifact(artifact)
        self._save(items)
        self._artifacts.update(artifacts)

    def _save(self, items: dict) -> None:
        if self._on_change is not None:
            self._on_change(items)
        object.__setattr__(self, "_items", items)
