"""Where a store's remote is and how it behaves: ``STORE/remote.json``.

``{"url", "endpoint_url", "cache_size"}``, written whole (a temporary file, fsync,
rename); ``$ARTFS_REMOTE`` stands in for a store without the file.
"""

import json
import os
from dataclasses import asdict, dataclass

from artfs.errors import ArtfsError, UsageError
from artfs.store import durable

CONFIG = "remote.json"  # in the store directory


@dataclass
class RemoteConfig:
    url: str
    endpoint_url: str | None = None
    cache_size: int | None = None  # bytes of chunks kept locally; None: no limit
    # If-Match's ETag without its quotes (Ceph RGW 16), as check_bucket found at 'remote
    # add'; None: not checked ($ARTFS_REMOTE), found out at the first refusal (s3.py).
    unquoted_if_match: bool | None = None

    @classmethod
    def load(cls, store_path: str) -> "RemoteConfig | None":
        path = os.path.join(store_path, CONFIG)
        try:
            with open(path) as f:
                raw = json.load(f)
        except FileNotFoundError:
            url = os.environ.get("ARTFS_REMOTE")
            return cls(url) if url else None
        except (OSError, ValueError) as e:
            raise ArtfsError(
                f"cannot read {path} ({e}); fix it or run 'artfs remote add' again"
            ) from None
        fields = {k: raw.get(k) for k in ("url", "endpoint_url", "cache_size")}
        # A remote.json from before the key: its bucket check proved the quoted form.
        return cls(**fields, unquoted_if_match=bool(raw.get("unquoted_if_match", False)))

    def save(self, store_path: str) -> None:
        durable.replace_json(os.path.join(store_path, CONFIG), asdict(self))

    @staticmethod
    def remove(store_path: str) -> None:
        os.unlink(os.path.join(store_path, CONFIG))


def retry_seconds() -> float:
    """How long a failing request is retried ($ARTFS_REMOTE_RETRY, default 60 s)."""
    return env_seconds("ARTFS_REMOTE_RETRY", 60.0)


def interval_seconds() -> float:
    """How often a mount looks at the remote ($ARTFS_REMOTE_INTERVAL, default 2 s)."""
    return env_seconds("ARTFS_REMOTE_INTERVAL", 2.0, above_zero=True)


def env_seconds(name: str, default: float, *, above_zero: bool = False) -> float:
    """A number of seconds from the environment; a bad one is refused in one line."""
    raw = os.environ.get(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0 or (above_zero and value == 0):
        bound = "above 0" if above_zero else "0 or more"
        raise UsageError(f"{name}={raw!r} is not a number of seconds {bound}")
    return value


def check_url(url: str) -> str:
    if not url.startswith("s3://"):
        raise UsageError(f"{url!r} is not a remote artfs can use; write it as s3://BUCKET/PREFIX")
    return url
