"""``wandb.Settings`` and where ``init``'s choices come from.

As in W&B: an explicit ``init`` argument wins over ``settings=``, which wins over
the ``WANDB_*`` environment variables that scripts and CI jobs set.
"""

from artfs.errors import UsageError

PROJECT = "uncategorized"  # W&B's project when none is given or can be inferred
MODES = {
    "online": "online",
    "run": "online",
    "offline": "offline",
    "dryrun": "offline",
    "disabled": "disabled",
    "shared": "online",
}

# init argument -> (Settings field, environment variable)
_SOURCES = {
    "project": ("project", "WANDB_PROJECT"),
    "entity": ("entity", "WANDB_ENTITY"),
    "id": ("run_id", "WANDB_RUN_ID"),
    "name": ("run_name", "WANDB_NAME"),
    "group": ("run_group", "WANDB_RUN_GROUP"),
    "job_type": ("run_job_type", "WANDB_JOB_TYPE"),
    "tags": ("run_tags", "WANDB_TAGS"),
    "notes": ("run_notes", "WANDB_NOTES"),
    "mode": ("mode", "WANDB_MODE"),
    "dir": ("root_dir", "WANDB_DIR"),
    "resume": ("resume", "WANDB_RESUME"),
    "reinit": ("reinit", None),
}


class Settings:
    """W&B's run settings: any of its keyword fields is accepted and kept; those with a
    local meaning (project, entity, run_id, run_name, run_group, run_job_type, run_tags,
    run_notes, mode, root_dir, resume, reinit) steer ``init``."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return None  # a field not set: W&B's default applies

    def update(self, settings=None, **fields) -> None:
        self.__dict__.update({**_fields(settings), **fields})

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def __repr__(self) -> str:
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


def _fields(settings) -> dict:
    if settings is None:
        return {}
    if isinstance(settings, Settings):
        return settings.to_dict()
    if isinstance(settings, dict):
        return dict(settings)
    raise UsageError(f"settings must be a wandb.Settings or a dict, not {type(settings).__name__}")


def resolve(args: dict, settings, environ) -> dict:
    """``init``'s arguments with what ``settings`` and the environment give for those
    left None; the mode normalised to online, offline or disabled."""
    given = _fields(settings)
    out = dict(args)
    for arg, (field, variable) in _SOURCES.items():
        if out.get(arg) is None:
            out[arg] = given.get(field)
        if out.get(arg) is None and variable and environ.get(variable):
            value = environ[variable]
            out[arg] = [t for t in value.split(",") if t] if arg == "tags" else value
    if str(environ.get("WANDB_DISABLED", "")).lower() in ("true", "1", "yes"):
        out["mode"] = out["mode"] or "disabled"
    mode = out["mode"] or "online"
    if mode not in MODES:
        raise UsageError(f"mode must be 'online', 'offline' or 'disabled', not {mode!r}")
    out["mode"] = MODES[mode]
    return out
