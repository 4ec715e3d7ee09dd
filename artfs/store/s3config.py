"""Where an ``s3://BUCKET/PREFIX`` remote is and how to sign for it, found as AWS tools find it.

The order is the AWS CLI's, so a machine already set up for ``aws s3`` needs nothing
more: an explicit endpoint argument, then ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``,
then the profile's ``endpoint_url``; ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, then the
profile's ``region``; keys from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, then
the profile (``AWS_PROFILE`` or ``default``) in the shared credentials file, then in the
config file.  With no keys anywhere the S3 client falls back to the instance's role
(EC2/ECS/EKS metadata, web identity), which it finds itself.
"""

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass

from artfs.errors import UsageError

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" or a path without leading or trailing "/"
    endpoint: str | None  # None: AWS itself
    region: str
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def parse_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://BUCKET[/PREFIX]``."""
    if not url.startswith("s3://"):
        raise UsageError(f"{url!r} is not an S3 remote; write it as s3://BUCKET/PREFIX")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise UsageError(f"{url!r} names no bucket; write it as s3://BUCKET/PREFIX")
    prefix = prefix.strip("/")
    if "//" in prefix:
        raise UsageError(f"{url!r} has an empty path segment; remove the doubled '/'")
    return bucket, prefix


def resolve(
    url: str,
    endpoint_url: str | None = None,
    env: Mapping[str, str] | None = None,
) -> S3Location:
    """The remote ``url`` with its endpoint, region and keys filled in from the environment
    and ~/.aws (``env`` defaults to ``os.environ``; tests pass their own)."""
    env = os.environ if env is None else env
    bucket, prefix = parse_url(url)
    profile = _profile(env)
    key_id = env.get("AWS_ACCESS_KEY_ID") or profile.get("aws_access_key_id")
    secret = env.get("AWS_SECRET_ACCESS_KEY") or profile.get("aws_secret_access_key")
    from_env = bool(env.get("AWS_ACCESS_KEY_ID"))
    token = env.get("AWS_SESSION_TOKEN") if from_env else profile.get("aws_session_token")
    return S3Location(
        bucket=bucket,
        prefix=prefix,
        endpoint=endpoint_url
        or env.get("AWS_ENDPOINT_URL_S3")
        or env.get("AWS_ENDPOINT_URL")
        or profile.get("endpoint_url"),
        region=env.get("AWS_REGION")
        or env.get("AWS_DEFAULT_REGION")
        or profile.get("region")
        or DEFAULT_REGION,
        access_key_id=key_id,
        secret_access_key=secret,
        session_token=token,
    )


def _profile(env: Mapping[str, str]) -> dict[str, str]:
    """The named profile's settings, credentials file over config file, as the AWS CLI
    merges them.  A profile named in AWS_PROFILE that neither file has is an error
    there too; the implicit ``default`` may be absent."""
    name = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    home = env.get("HOME") or os.path.expanduser("~")
    credentials = _read_ini(env.get("AWS_SHARED_CREDENTIALS_FILE"), home, "credentials")
    config = _read_ini(env.get("AWS_CONFIG_FILE"), home, "config")
    config_section = name if name == "default" else f"profile {name}"
    found: dict[str, str] = {}
    if config.has_section(config_section):
        found.update(config[config_section])
    if credentials.has_section(name):
        found.update(credentials[name])
    if not found and name != "default":
        raise UsageError(
            f"the AWS profile {name!r} (AWS_PROFILE) is in neither ~/.aws/credentials nor "
            "~/.aws/config; add it there or unset AWS_PROFILE"
        )
    return found


def _read_ini(path: str | None, home: str, name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    path = path or os.path.join(home, ".aws", name)
    try:
        parser.read(path)
    except configparser.Error:  # its message spans lines and quotes the file
        raise UsageError(f"{path} is not a valid AWS {name} file; fix its syntax") from None
    return parser
