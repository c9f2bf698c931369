#!/usr/bin/env bash
# Debian packages, installed only when missing (and only as root). Always: python3-venv, and a C
# compiler with Python's headers for the engine's compiled kernels. With "test": the PostgreSQL server,
# Chromium for the UI test (never a browser download) and Redis for the Celery test's broker.
set -euo pipefail
[ "$(id -u)" = 0 ] || exit 0
PY="${PYTHON:-python3}"
missing=()
"$PY" -c "import venv, ensurepip" 2>/dev/null || missing+=(python3 python3-venv)
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
"$PY" -c "import os, sysconfig; assert os.path.exists(sysconfig.get_paths()['include'] + '/Python.h')" \
  2>/dev/null || missing+=(python3-dev)
if [ "${1:-}" = test ]; then
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)  # the Celery test's broker
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
