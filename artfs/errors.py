"""One exception hierarchy for every failure a user can act on.

The CLI prints ``str(error)`` as a single line and exits 1 (2 for
``UsageError``); the mount maps ``errno`` to the FUSE reply.  Anything that is
not an ``ArtfsError`` is a bug and is allowed to show a traceback.
"""

import errno as _errno


class ArtfsError(Exception):
    """Base class: a failure explained in one line that says what to do."""

    errno = _errno.EIO

    def __str__(self) -> str:  # the message itself, also where a builtin base (KeyError) quotes
        return BaseException.__str__(self)


Error = ArtfsError  # W&B's wandb.Error / wandb.errors.Error


class UsageError(ArtfsError, ValueError):
    """The request itself is malformed (bad name, bad option value); W&B's UsageError."""

    errno = _errno.EINVAL


class InvalidName(UsageError):
    """An artifact name, version or alias that the store does not accept."""


class CommError(ArtfsError):
    """W&B's error for a request its server could not answer; here a lookup the store cannot."""


class NotFound(CommError, ValueError):
    """An artifact, version, alias, run or path that does not exist.  W&B raises CommError
    (older SDKs) or ValueError (newer ones) for a missing artifact; this is both."""

    errno = _errno.ENOENT


class EntryNotFound(NotFound, KeyError):
    """A path that a version does not hold (W&B: KeyError from ``get_entry``)."""


# NotFound's errno (ENOENT, a class attribute ahead of OSError's in the MRO) is what
# instances have; mypy sees OSError's "int | None" and calls the two incompatible.
class MissingPath(NotFound, FileNotFoundError):  # type: ignore[misc]
    """A local file or directory named by the caller does not exist."""


class ArtifactNotLoggedError(UsageError, AttributeError):
    """A property or method that needs a logged version, used on a draft (W&B's name)."""


class ArtifactFinalizedError(ArtfsError, AttributeError):
    """A change to a logged version's content (W&B's name): content is immutable."""

    errno = _errno.EROFS


class Conflict(ArtfsError):
    """The request would break an invariant (alias in use, version protected)."""

    errno = _errno.EEXIST


class SpecialFile(UsageError):
    """A fifo, socket or device file where only regular files, dirs and links can go."""

    errno = _errno.EPERM


class StoreError(ArtfsError):
    """The store is missing, damaged or of a format this artfs cannot read."""


class CorruptData(StoreError):
    """Stored bytes do not match their digest; never hand them out.

    ``problem`` names what is damaged without the advice that follows it in the message
    (for a caller, such as verify, that gives its own); by default the whole message."""

    def __init__(self, message: str, problem: str | None = None):
        super().__init__(message)
        self.problem = message if problem is None else problem


class ReferenceChanged(ArtfsError):
    """An external file recorded by reference no longer has its recorded digest."""


class MountLost(ArtfsError):
    """A mount took a request and died before answering: it may or may not have acted."""


class RemoteError(StoreError):
    """The remote could not be reached, or answered with an error, after retrying."""


class RemoteDenied(RemoteError):
    """The remote refused the credentials for what was asked (403, or no credentials)."""


class RemoteRefused(StoreError):
    """A bucket that does not enforce conditional writes; artfs will not share a store there."""


class DiskFull(StoreError):
    """The disk holding the store has no space (or quota) left."""

    errno = _errno.ENOSPC


FULL = (_errno.ENOSPC, _errno.EDQUOT)


def disk_full(store_path: str) -> DiskFull:
    return DiskFull(
        f"the disk holding the store {store_path} is full; nothing was published. "
        "Free space there ('artfs gc' frees what no version needs, also the chunks "
        "a failed commit left), then try again"
    )


class AliasesHeld(Conflict, CommError):
    """A version to delete still holds aliases (W&B's ``Artifact.delete`` raises CommError
    unless ``delete_aliases=True``)."""


class ConfigError(ArtfsError):
    """A config value already set changed without ``allow_val_change=True`` (W&B's name)."""


class WrongArgument(UsageError, TypeError):
    """A call missing an argument W&B requires, or given one of a kind it does not take
    (W&B raises TypeError: ``upsert_artifact`` without a group or id, ``log_artifact`` of
    neither an Artifact nor a path)."""
