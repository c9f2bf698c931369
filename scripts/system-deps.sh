#!/usr/bin/env bash
# Debian packages the tests need, installed only when missing (and only as root):
# python3-venv, the PostgreSQL server, and Chromium for the UI test (never a browser download).
set -euo pipefail
[ "$(id -u)" = 0 ] || exit 0
missing=()
python3 -c "import venv, ensurepip" 2>/dev/null || missing+=(python3 python3-venv)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
