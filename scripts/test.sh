#!/usr/bin/env bash
# Set up (if needed), then check and test, in order: ruff check, ruff format --check, mypy
# (configured in pyproject.toml), the whole pytest suite.  Extra arguments go to pytest.
#
# The fast tier (tests marked "fast": in-process, no mount, server or subprocess: store,
# chunker, trees, W&B API, the mount's Operations driven directly), about ten seconds:
#     scripts/test.sh -m fast               the checks, then only the fast tier
#     .venv/bin/python -m pytest -m fast    only the fast tier
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check artfs tests scripts
.venv/bin/ruff format --check artfs tests scripts
.venv/bin/mypy
exec .venv/bin/python -m pytest -q "$@"
