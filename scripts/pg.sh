#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests: own data directory, 127.0.0.1 only, trust auth.
#   scripts/pg.sh start   -> prints the SQLAlchemy URL (also written to .pg/url)
#   scripts/pg.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
PGPORT="${DP_TEST_PG_PORT:-54329}"
PGDIR="${DP_TEST_PG_DIR:-/tmp/data_pipeline_pg_$PGPORT}"
mkdir -p .pg

find_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return; }
  done
  if [ "$(id -u)" = 0 ]; then
    echo "installing PostgreSQL (Debian package)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    for dir in /usr/lib/postgresql/*/bin; do [ -x "$dir/pg_ctl" ] && { echo "$dir"; return; }; done
  fi
  echo "PostgreSQL server binaries not found: apt-get install postgresql" >&2
  exit 1
}

as_pg() {  # initdb refuses to run as root
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-start}" in
  start)
    BIN="$(find_bin)"
    if [ "$(id -u)" = 0 ]; then
      mkdir -p "$PGDIR" && chown postgres "$PGDIR" && chmod 700 "$PGDIR"
    fi
    if [ ! -f "$PGDIR/PG_VERSION" ]; then
      as_pg "$BIN/initdb" -D "$PGDIR" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    if ! as_pg "$BIN/pg_ctl" -D "$PGDIR" status >/dev/null 2>&1; then
      as_pg "$BIN/pg_ctl" -D "$PGDIR" -l "$PGDIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGDIR -c fsync=off -c full_page_writes=off" start >/dev/null
    fi
    URL="postgresql+psycopg2://postgres@127.0.0.1:$PGPORT/postgres"
    echo "$URL" > .pg/url
    echo "$URL"
    ;;
  stop)
    BIN="$(find_bin)"
    as_pg "$BIN/pg_ctl" -D "$PGDIR" -m fast stop >/dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
