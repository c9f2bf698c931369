"""Subsets vs the full copy: the demo shop on PostgreSQL, `data-pipeline run` whole and with
`--subset customers=P%`, in the same run: wall time, rows read from the source, peak RSS.

    python -m bench subset --customers 100000 --pg-url "$(bash scripts/pg.sh start)"
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from data_pipeline.demo import build_demo_source, demo_metadata
from data_pipeline.keys import generate_key_file

REPO = Path(__file__).resolve().parent.parent


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--shares", default="10,1", help="subset shares in percent, comma-separated")
    parser.add_argument("--pg-url", required=True, help="PostgreSQL server URL (scripts/pg.sh start)")
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")


def copy_to_postgres(sqlite_path: Path, url: str) -> dict[str, int]:
    """The demo's tables, created as the demo defines them and filled with COPY."""
    meta = demo_metadata()
    engine = sa.create_engine(url)
    meta.create_all(engine)
    source = sa.create_engine(f"sqlite:///{sqlite_path}")
    counts = {}
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with source.connect() as read:
            for table in meta.sorted_tables:
                result = read.execution_options(stream_results=True).execute(sa.select(table))
                counts[table.name] = 0
                for chunk in result.partitions(100_000):
                    buffer = io.StringIO()
                    csv.writer(buffer).writerows(["" if v is None else v for v in row] for row in chunk)
                    buffer.seek(0)
                    cursor.copy_expert(f'COPY "{table.name}" FROM STDIN WITH (FORMAT csv)', buffer)
                    counts[table.name] += len(chunk)
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return counts


def run_pipeline(home: Path, source: str, target: str, extra: list[str]) -> dict:
    suites = home / "no_suites"
    suites.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DP_HOME": str(home), "DP_SUITES": str(suites)}
    command = ["/usr/bin/time", "-v", str(REPO / ".venv/bin/data-pipeline"), "run"]
    command += ["--source", source, "--target", target, *extra]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"run {' '.join(extra) or 'full'} failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
        )
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1)) // 1024
    ledger = sa.create_engine(f"sqlite:///{home / 'ledger.db'}")
    with ledger.connect() as conn:
        details = conn.execute(
            sa.text(
                "SELECT details FROM dp_ledger_events WHERE kind = 'snapshot_taken' ORDER BY id DESC LIMIT 1"
            )
        ).scalar()
    rows = json.loads(details)["rows"]
    return {"wall": wall, "rss": rss, "rows": rows}


def fresh_database(server: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return server.rsplit("/", 1)[0] + f"/{name}"


def run(args: argparse.Namespace) -> None:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-subset-"))
    work.mkdir(parents=True, exist_ok=True)
    demo = work / "shop.db"
    if not demo.exists():
        started = time.perf_counter()
        build_demo_source(demo, rows=args.customers)
        print(f"demo built: {args.customers} customers in {time.perf_counter() - started:.1f} s")
    source = fresh_database(args.pg_url)
    counts = copy_to_postgres(demo, source)
    total = sum(counts.values())
    print(f"source: {total} rows in {len(counts)} tables ({source.rsplit('/', 1)[1]})")
    key = work / "anon.key"
    if not key.exists():
        generate_key_file(key)
    results = {}
    for label, extra in [("full", [])] + [
        (f"{s}%", ["--subset", f"customers={s}%"]) for s in args.shares.split(",")
    ]:
        home = work / f"home-{label.rstrip('%')}"
        home.mkdir(exist_ok=True)
        (home / "anon.key").write_bytes(key.read_bytes())
        (home / "anon.key").chmod(0o600)
        env_k = ["--subset-other", "copy"] if extra else []
        results[label] = run_pipeline(home, source, fresh_database(args.pg_url), extra + env_k)
    full = results["full"]
    print(f"{'run':<8} {'wall s':>8} {'x full':>7} {'rows read':>11} {'share read':>10} {'peak MB':>8}")
    for label, r in results.items():
        read = sum(r["rows"].values())
        print(
            f"{label:<8} {r['wall']:>8.1f} {r['wall'] / full['wall']:>7.2f} {read:>11} "
            f"{read / total:>10.1%} {r['rss']:>8}"
        )
