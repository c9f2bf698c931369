#!/usr/bin/env bash
# One command, fresh machine: install with test extras, start PostgreSQL, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh test
bash scripts/setup.sh dev
DP_TEST_PG_URL="$(bash scripts/pg.sh start)"
export DP_TEST_PG_URL
trap 'bash scripts/pg.sh stop' EXIT
.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
# a full run (no arguments) also runs the kernels' tests against their checked build (bounds checks, ASan)
[ $# -gt 0 ] || bash scripts/test-kernels-checked.sh
