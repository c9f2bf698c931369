#!/usr/bin/env bash
# Creates .venv and installs data_pipeline (with test extras when given "dev").
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
bash scripts/system-deps.sh  # venv, C compiler and headers (the engine's kernels are compiled)
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip uv >/dev/null
EXTRA=""
[ "${1:-}" = "dev" ] && EXTRA="[dev]"
.venv/bin/python -m uv pip install -q -p .venv/bin/python -e ".${EXTRA}"
# precompiled bytecode: every process (tests, Dagster steps) would otherwise recompile dagster,
# pandas and GE from source where PYTHONDONTWRITEBYTECODE is set (seconds per process)
.venv/bin/python -m compileall -q -j 0 .venv/lib >/dev/null 2>&1 || true
