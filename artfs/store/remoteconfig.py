"""Where a store's remote is and how it behaves: ``STORE/remote.json``.

``{"url", "endpoint_url", "cache_size"}``, written whole (a temporary file, fsync,
rename); ``$ARTFS_REMOTE`` stands in for a store without the file.
"""

import json
import os
from dataclasses import asdict, dataclass

from artfs.errors import ArtfsError, UsageError

CONFIG = "remote.json"  # in the store directory


@dataclass
class RemoteConfig:
    url: str
    endpoint_url: str | None = None
    cache_size: int | None = None  # bytes of chunks kept locally; None: no limit

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
        return cls(**{k: raw.get(k) for k in ("url", "endpoint_url", "cache_size")})

    def save(self, store_path: str) -> None:
        path = os.path.join(store_path, CONFIG)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(asdict(self), f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

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
