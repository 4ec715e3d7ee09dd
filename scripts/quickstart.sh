#!/usr/bin/env bash
# The main job: create a store, log a dataset, use it, log a changed version,
# and show the versions and what deduplication saved.  Safe to rerun: it works
# in a fresh temporary directory each time (kept, and printed, at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python scripts/quickstart.py "$@"
