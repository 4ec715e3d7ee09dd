#!/usr/bin/env bash
# Install what artfs needs on Debian 12 (as root, or with sudo): FUSE 3, graphviz,
# Chromium and its driver (the web page's browser tests), a virtual environment in .venv
# with artfs, its web page and its test tools.  Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in fuse3 libfuse3-dev pkg-config graphviz python3-venv rsync git chromium chromium-driver; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/pip install -q --disable-pip-version-check -e '.[mount,test,ui]'
# An editable install compiles no bytecode, and where PYTHONDONTWRITEBYTECODE is set
# (as on this project's machines) every command would compile artfs anew: 100 ms of
# each command's start.  A stale .pyc is only ever recompiled, never trusted.
.venv/bin/python -m compileall -q artfs >/dev/null
