#!/usr/bin/env bash
# One command, fresh machine: install, make a key and the demo source, run the whole pipeline once.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DP_HOME="${DP_HOME:-$PWD/.data_pipeline}"
.venv/bin/data-pipeline keygen
.venv/bin/data-pipeline demo-source --rows "${DP_DEMO_ROWS:-1000}"
.venv/bin/data-pipeline run
echo
echo "UI:  DAGSTER_HOME=$DP_HOME/dagster DP_HOME=$DP_HOME .venv/bin/dagster dev -m assets.definitions"
echo "     then open http://127.0.0.1:3000 (asset graph, forward-only marks, checks)"
