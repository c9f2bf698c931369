"""PostgreSQL -> PostgreSQL on a realistic schema: `data-pipeline run` vs `pg_dump | psql`, same run.

The source is tests/fixtures/pg_shop.sql (partitioned orders, domains, enum, identity and generated
columns, views and a materialized view, triggers, a second schema, citext) filled by tests/pg_shop.py
to about 1M rows with `--customers 68000` (15.7 rows per customer over 9 tables). The plain copy is
the whole database through `pg_dump | psql` (schema and rows, no anonymization); the pipeline runs
snapshot, anonymize, checks and the faithful publish (pg_dump's DDL, COPY, keys and indexes after the
load, verify). Prints seconds, rows/s, the ratio, the run's peak RSS, its publish step alone (from the
ledger), and on a local server the CPU seconds of both, client and server.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from bench.pipeline import _pg_database, local_server, machine_cpu, run_env, timed_run
from data_pipeline import pg_ddl

REPO = Path(__file__).resolve().parent.parent


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, default=68_000, help="rows scale: ~15.6 rows per customer")
    parser.add_argument(
        "--pg-url", required=True, help="PostgreSQL server URL (e.g. from scripts/pg.sh start)"
    )
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")
    parser.add_argument(
        "--processes",
        default="",
        help="comma-separated `run --processes` values to measure one after another (default: the "
        "run's own default: 1 below 5M source rows, every core above)",
    )


def _shop():
    sys.path.insert(0, str(REPO / "tests"))
    import pg_shop

    return pg_shop


def _rows(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = conn.execute(
            sa.text(
                "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
                "AND n.nspname IN ('public', 'billing') AND c.relname NOT LIKE '\\_dp\\_%'"
            )
        ).scalars()
        total = sum(conn.exec_driver_sql(f"SELECT count(*) FROM {n}").scalar() for n in list(names))
    engine.dispose()
    return total


def _settle(url: str) -> None:
    """VACUUM ANALYZE, so that autovacuum does not take a core in the middle of a measurement."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")
    engine.dispose()


def plain_copy(source: str, target: str) -> float:
    """`pg_dump source | psql target`: the whole database, schema and rows."""
    with sa.create_engine(source).connect() as conn:
        pg_dump, _ = pg_ddl.find_tool("pg_dump", pg_ddl.server_major(conn))
    psql = str(Path(pg_dump).with_name("psql"))
    src, env = pg_ddl.libpq_args(sa.engine.make_url(source))
    dst, _ = pg_ddl.libpq_args(sa.engine.make_url(target))
    start = time.perf_counter()
    dump = subprocess.Popen([pg_dump, "--no-owner", f"--dbname={src}"], stdout=subprocess.PIPE, env=env)
    subprocess.run(
        [psql, "-q", "-v", "ON_ERROR_STOP=1", f"--dbname={dst}"],
        stdin=dump.stdout,
        check=True,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    if dump.wait() != 0:
        raise SystemExit("pg_dump failed")
    return time.perf_counter() - start


def run_pipeline(work: Path, source: str, target: str, processes: str = "") -> tuple[float, float, float]:
    """Seconds and peak RSS (MB) of `data-pipeline run`, and its publish step's seconds."""
    env = run_env(work, source, target, _shop().POLICY)
    if processes:
        env["DP_PROCESSES"] = processes
    seconds, rss, _ = timed_run(env)
    with sqlite3.connect(Path(env["DP_HOME"]) / "ledger.db") as conn:
        at = dict(
            conn.execute(
                "SELECT kind, at FROM dp_ledger_events WHERE kind IN ('publish_started', 'published')"
            )
        )
    publish = (
        datetime.fromisoformat(at["published"]) - datetime.fromisoformat(at["publish_started"])
    ).total_seconds()
    return seconds, rss, publish


def run(args: argparse.Namespace) -> None:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="dp-bench-faithful-"))
    work.mkdir(parents=True, exist_ok=True)
    source, plain_target, target = (
        _pg_database(args.pg_url, n) for n in ("bench_shop_src", "bench_shop_plain", "bench_shop_dst")
    )
    t0 = time.perf_counter()
    _shop().build(source, customers=args.customers)
    _settle(source)
    rows = _rows(source)
    print(
        f"source: pg_shop, {rows:,} rows ({args.customers:,} customers) "
        f"built in {time.perf_counter() - t0:.1f} s"
    )
    local = local_server(args.pg_url)
    cpu = machine_cpu()
    plain = plain_copy(source, plain_target)
    plain_cpu = machine_cpu() - cpu
    _settle(plain_target)
    print(f"{'pg_dump | psql (whole database)':<34} {plain:8.1f} s  {rows / plain:>10,.0f} rows/s")
    if local:
        print(f"  CPU seconds, the whole machine (client and server): {plain_cpu:.1f} s")
    for processes in args.processes.split(",") if args.processes else [""]:
        cpu = machine_cpu()
        seconds, rss, publish = run_pipeline(work, source, target, processes)
        run_cpu = machine_cpu() - cpu
        name = f"data-pipeline run{f' --processes {processes}' if processes else ''}"
        print(
            f"{name:<34} {seconds:8.1f} s  {rows / seconds:>10,.0f} rows/s"
            f"  ratio {seconds / plain:.2f}x pg_dump | psql"
        )
        print(f"  of which publish (DDL, COPY, keys, indexes, verify, commit): {publish:.1f} s")
        print(f"  peak RSS (largest process): {rss:,.0f} MB")
        if local:
            print(f"  CPU seconds, the whole machine (client, step processes, server): {run_cpu:.1f} s")
