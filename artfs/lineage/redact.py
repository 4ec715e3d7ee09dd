"""Run records as other users may see them: secrets on command lines taken out.

A run's command and config are stored whole (the store is its owner's alone),
but ``MOUNT/meta/NAME/vN.json`` is readable by whoever may enter the mount.
Values that look like credentials are replaced there by ``REDACTED``: options
named like a password, token, secret or key (``--token=X`` and ``--token X``),
environment-style assignments (``AWS_SECRET_ACCESS_KEY=X``), passwords in
URLs (``https://user:X@host``), and config entries under such names.
"""

import re

REDACTED = "REDACTED"
_SECRET_NAME = re.compile(
    r"(password|passwd|passphrase|token|secret|api[-_]?key|"
    r"access[-_]?key|private[-_]?key|credentials?|authorization)",
    re.IGNORECASE,
)
_OPTION = re.compile(r"^(-{1,2}[\w.-]+)=(.*)$")
_ASSIGNMENT = re.compile(r"^([A-Za-z_][\w.]*)=(.*)$")
_URL_PASSWORD = re.compile(r"(\w+://[^/:@\s]*:)([^@/\s]+)(@)")


def run(record: dict | None) -> dict | None:
    """A copy of a run record fit to show to anyone."""
    if record is None:
        return None
    out = dict(record)
    if isinstance(out.get("command"), list):
        out["command"] = command(out["command"])
    if isinstance(out.get("config"), dict):
        out["config"] = _config(out["config"])
    return out


def command(args: list[str]) -> list[str]:
    out, hide_next = [], False
    for arg in map(str, args):
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        option, assignment = _OPTION.match(arg), _ASSIGNMENT.match(arg)
        if option and _SECRET_NAME.search(option.group(1)):
            out.append(f"{option.group(1)}={REDACTED}")
        elif assignment and _SECRET_NAME.search(assignment.group(1)):
            out.append(f"{assignment.group(1)}={REDACTED}")
        else:
            hide_next = arg.startswith("-") and "=" not in arg and bool(_SECRET_NAME.search(arg))
            out.append(_URL_PASSWORD.sub(rf"\g<1>{REDACTED}\g<3>", arg))
    return out


def _config(config: dict) -> dict:
    return {
        key: REDACTED
        if _SECRET_NAME.search(str(key))
        else _config(value)
        if isinstance(value, dict)
        else value
        for key, value in config.items()
    }
