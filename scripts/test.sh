#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite.  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check artfs tests scripts
exec .venv/bin/python -m pytest -q "$@"
