"""W&B calls about its cloud, mapped to what is true of a local store.

There is no account to log into and no server to ask for features: ``login`` and
``require`` succeed, and say so.  What needs W&B's servers (restoring files from the
cloud) raises one line saying what to do instead.
"""

import enum
import sys

from artfs.errors import UsageError


def login(
    anonymous=None,
    key=None,
    relogin=None,
    host=None,
    force=None,
    timeout=None,
    verify=False,
    referrer=None,
) -> bool:
    """Nothing to log into: the store is local and its owner's.  → True, as W&B's login
    when it succeeds."""
    return True


def require(requirement=None, experiment=None) -> None:
    """W&B's feature flags ("core", "service"...) are about its client: every feature
    artfs has is on."""


def setup(settings=None) -> None:
    """Nothing to start: artfs runs no background service."""


def teardown(exit_code: int | None = None) -> None:
    """Finish every live run (W&B's teardown ends its service with them)."""
    from artfs import session

    for run in [*session._active, *session._others]:
        run.finish(exit_code)


def termlog(
    string: str = "", newline: bool = True, repeat: bool = True, prefix: bool = True
) -> None:
    _say("", string, newline, prefix)


def termwarn(string: str, newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    _say("WARNING ", string, newline, prefix)


def termerror(string: str, newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    _say("ERROR ", string, newline, prefix)


def _say(level: str, string: str, newline: bool, prefix: bool) -> None:
    text = f"wandb: {level}{string}" if prefix else str(string)
    print(text, end="\n" if newline else "", file=sys.stderr)


class AlertLevel(enum.Enum):
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


def restore(name: str, run_path: str | None = None, replace: bool = False, root: str | None = None):
    raise UsageError(
        "restore fetches files from W&B's cloud; with artfs, keep files in an "
        "artifact (log_artifact) and download() it, or read run.dir"
    )
