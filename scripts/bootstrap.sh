#!/usr/bin/env bash
# Create the project's virtual environment and install mldeploy with every extra and test tool.
# Usage: scripts/bootstrap.sh [VENV_DIR]   (default .venv); safe to run again.
set -euo pipefail
venv="${1:-.venv}"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "mldeploy needs Python 3.10 or newer; set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if ! "$python" -c 'import ensurepip' 2>/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # Debian's python3 ships venv support separately.
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
"$venv/bin/python" -m pip install --quiet -e ".[dev]"
touch "$venv/.installed"
