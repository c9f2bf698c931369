"""End to end: `data-pipeline run` on one big customers table vs a plain copy, in the same run.

Prints rows/s of both, their ratio, the pipeline's peak RSS (from `/usr/bin/time -v`) and where its
time went (stage boundaries from the run's ledger events and checkpoint manifests), for SQLite ->
SQLite (default) or PostgreSQL -> PostgreSQL (`--pg-url`, plain copy = `pg_dump | psql`). On a local
PostgreSQL server it also prints the CPU seconds both spent, client and server: divided by the cores,
the least wall time any overlap of the pipeline's stages could reach.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
import yaml

from data_pipeline.anonymize.pools import pool
from data_pipeline.keys import generate_key_file

REPO = Path(__file__).resolve().parent.parent
POLICY = {
    "version": 1,
    "tables": {
        "customers": {
            "columns": {
                "id": {"class": "key", "rule": "keep"},
                "first_name": {"class": "pii", "rule": "first_name"},
                "last_name": {"class": "pii", "rule": "last_name"},
                "email": {"class": "pii", "rule": "email"},
                "phone": {"class": "pii", "rule": "phone"},
                "street": {"class": "pii", "rule": "street_address"},
                "city": {"class": "pii", "rule": "city"},
                "birth_date": {"class": "quasi", "rule": "generalize_date", "to": "decade"},
                "created_at": {"class": "pii", "rule": "date_shift", "subject": "id", "max_days": 30},
            }
        }
    },
}
DDL = """CREATE TABLE customers (
    id INTEGER PRIMARY KEY, first_name VARCHAR(50) NOT NULL, last_name VARCHAR(50) NOT NULL,
    email VARCHAR(120) NOT NULL UNIQUE, phone VARCHAR(30), street VARCHAR(120), city VARCHAR(60),
    birth_date DATE, created_at TIMESTAMP NOT NULL)"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg-url", help="PostgreSQL server URL (e.g. from scripts/pg.sh start)")
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")


def frames(rows: int, chunk: int = 200_000):
    rng = np.random.default_rng(7)
    firsts, lasts = pool("en_US", "first_name"), pool("en_US", "last_name")
    streets, cities = pool("en_US", "street_address"), pool("en_US", "city")
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        ids = np.arange(start + 1, start + n + 1)
        first = firsts[rng.integers(0, len(firsts), n)]
        last = lasts[rng.integers(0, len(lasts), n)]
        yield pd.DataFrame(
            {
                "id": ids,
                "first_name": first,
                "last_name": last,
                "email": [
                    f"{a}.{b}.{i}@corp.example".lower() for a, b, i in zip(first, last, ids, strict=True)
                ],
                "phone": [
                    f"+1-555-{a:03d}-{b:04d}"
                    for a, b in zip(rng.integers(0, 1000, n), rng.integers(0, 10000, n), strict=True)
                ],
                "street": streets[rng.integers(0, len(streets), n)],
                "city": cities[rng.integers(0, len(cities), n)],
                "birth_date": (
                    np.datetime64("1940-01-01") + rng.integers(0, 23000, n).astype("timedelta64[D]")
                ).astype(str),
                "created_at": (
                    np.datetime64("2020-01-01T00:00:00") + rng.integers(0, 10**8, n).astype("timedelta64[s]")
                ).astype(str),
            }
        )


def build_source(url: str, rows: int) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS customers")
        conn.exec_driver_sql(DDL)
        for frame in frames(rows):
            if engine.dialect.name == "postgresql":
                buffer = io.StringIO()
                frame.to_csv(buffer, index=False, header=False)
                buffer.seek(0)
                conn.connection.dbapi_connection.cursor().copy_expert(
                    "COPY customers FROM STDIN WITH (FORMAT csv)", buffer
                )
            else:
                conn.exec_driver_sql(
                    "INSERT INTO customers VALUES (?,?,?,?,?,?,?,?,?)",
                    list(frame.itertuples(index=False, name=None)),
                )
    engine.dispose()


def plain_copy_sqlite(source: Path, target: Path) -> float:
    """A plain copy with the same tools and no anonymization: chunked read_sql -> to_sql."""
    start = time.perf_counter()
    src, dst = sa.create_engine(f"sqlite:///{source}"), sa.create_engine(f"sqlite:///{target}")
    with dst.begin() as conn:
        conn.exec_driver_sql(DDL)
    with src.connect() as read, dst.begin() as write:
        for chunk in pd.read_sql_query("SELECT * FROM customers", read, chunksize=100_000):
            chunk.to_sql("customers", write, if_exists="append", index=False)
    return time.perf_counter() - start


def plain_copy_pg(source: str, target: str) -> float:
    """`pg_dump -t customers source | psql target`, the baseline a DBA would use."""
    plain = [u.replace("postgresql+psycopg2://", "postgresql://") for u in (source, target)]
    start = time.perf_counter()
    dump = subprocess.Popen(["pg_dump", "-t", "customers", "--no-owner", plain[0]], stdout=subprocess.PIPE)
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", plain[1]],
        stdin=dump.stdout,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    dump.wait()
    return time.perf_counter() - start


def stages(home: Path, started: datetime, ended: datetime) -> list[tuple[str, float]]:
    """Seconds per stage of one run: from its ledger events and its checkpoints' manifests."""
    with sqlite3.connect(home / "ledger.db") as conn:
        events = conn.execute("SELECT kind, at FROM dp_ledger_events ORDER BY id").fetchall()
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    for kind, at in events:
        first.setdefault(kind, datetime.fromisoformat(at))
        last[kind] = datetime.fromisoformat(at)

    def created(pattern: str) -> list[datetime]:
        manifests = (p for p in home.glob(pattern) if not p.name.startswith("_"))
        return sorted(datetime.fromisoformat(json.loads(p.read_text())["created_at"]) for p in manifests)

    # batch directories are named <step>-<UTC second it started>-<id>
    (snap_dir,) = (home / "vault").glob("snapshot-*")
    snap_start = datetime.strptime(snap_dir.name.split("-")[1], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    anonymized = created("checkpoints/anonymized-*/*.json")
    marks = [
        ("start-up (process, Dagster, preflight) ~", started, snap_start),
        ("snapshot (COPY/rows -> Parquet) ~", snap_start, first["snapshot_taken"]),
        ("fingerprints + anonymize + row checks", first["snapshot_taken"], anonymized[-1]),
        ("table checks (suites) -> ledger", anonymized[-1], last["anonymized"]),
        ("release checks (FK) + verify", last["anonymized"], first["publish_started"]),
        ("publish (load + keys + commit)", first["publish_started"], last["published"]),
        ("shutdown", last["published"], ended),
    ]
    return [(label, (b - a).total_seconds()) for label, a, b in marks]


def run_env(work: Path, source: str, target: str, policy: dict, fresh: bool = True) -> dict[str, str]:
    """The environment of a benchmarked `data-pipeline run`: DP_HOME `work/home` (`fresh`: emptied,
    with a new key), the policy written beside it, no expectation suites."""
    home = work / "home"
    if fresh:
        shutil.rmtree(home, ignore_errors=True)
        generate_key_file(home / "anon.key")
    (work / "no_suites").mkdir(exist_ok=True)
    (work / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    return {
        **os.environ,
        "DP_HOME": str(home),
        "DP_SOURCE_URL": source,
        "DP_TARGET_URL": target,
        "DP_POLICY": str(work / "policy.yaml"),
        "DP_SUITES": str(work / "no_suites"),
        "PYTHONPATH": str(REPO),
    }


def timed_run(env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB; /usr/bin/time's maximum is the largest process of the tree: the
    CLI forks one child) and CPU seconds (user + system, children included) of `data-pipeline run`;
    a failed run ends the bench with its output."""
    start = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-v", sys.executable, "-m", "data_pipeline.cli", "run"],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"pipeline run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    cpu = sum(
        float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", done.stderr).group(1))
        for kind in ("User", "System")
    )
    return seconds, rss_kb / 1024, cpu


def run_pipeline(work: Path, source: str, target: str) -> tuple[float, float, float, list[tuple[str, float]]]:
    """Seconds, peak RSS (MB), CPU seconds (user + system) and stages of `data-pipeline run`."""
    env = run_env(work, source, target, POLICY)
    started = datetime.now(UTC)
    seconds, rss, cpu = timed_run(env)
    return seconds, rss, cpu, stages(Path(env["DP_HOME"]), started, datetime.now(UTC))


def settle(url: str) -> None:
    """VACUUM ANALYZE the freshly loaded customers, so that autovacuum does not wake up on them in the
    middle of the next measurement (it would take one of the two cores)."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE) customers")
    engine.dispose()


def machine_cpu() -> float:
    """CPU seconds this machine has spent so far, every process together (/proc/stat: user, nice,
    system, irq, softirq, steal). Around a run on an otherwise quiet machine it counts what
    rusage cannot: step processes that a forkserver, not the run, reaps; and the local server."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def local_server(url: str) -> bool:
    """Whether the server at `url` runs on this machine (then the machine's CPU counts its work)."""
    return sa.engine.make_url(url).host in ("127.0.0.1", "localhost", "::1")


def _pg_database(server: str, name: str) -> str:
    admin = sa.create_engine(server.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return server.rsplit("/", 1)[0] + f"/{name}"


def run(args: argparse.Namespace) -> None:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="dp-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = args.rows
    t0 = time.perf_counter()
    if args.pg_url:
        source, plain_target, target = (
            _pg_database(args.pg_url, n) for n in ("bench_src", "bench_plain", "bench_dst")
        )
        build_source(source, rows)
        settle(source)
        print(f"source: {rows:,} rows built in {time.perf_counter() - t0:.1f} s (PostgreSQL)")
        cpu = machine_cpu()
        plain = plain_copy_pg(source, plain_target)
        plain_cpu = machine_cpu() - cpu
        settle(plain_target)
        label = "pg_dump | psql"
    else:
        for name in ("source.db", "plain.db", "target.db"):
            (work / name).unlink(missing_ok=True)
        source, target = f"sqlite:///{work / 'source.db'}", f"sqlite:///{work / 'target.db'}"
        build_source(source, rows)
        print(f"source: {rows:,} rows built in {time.perf_counter() - t0:.1f} s (SQLite)")
        plain = plain_copy_sqlite(work / "source.db", work / "plain.db")
        label = "plain copy (read_sql -> to_sql)"
    cpu = machine_cpu()
    seconds, rss, client_cpu, parts = run_pipeline(work, source, target)
    run_cpu = machine_cpu() - cpu
    print(f"{label:<34} {plain:8.1f} s  {rows / plain:>10,.0f} rows/s")
    print(
        f"{'data-pipeline run (full)':<34} {seconds:8.1f} s  {rows / seconds:>10,.0f} rows/s"
        f"  ratio {seconds / plain:.2f}x the plain copy"
    )
    print(f"peak RSS of the pipeline run: {rss:,.0f} MB (target <= 400 MB)")
    if args.pg_url and local_server(args.pg_url):
        cores = os.cpu_count() or 1
        floor = run_cpu / cores
        print(
            f"CPU seconds of the whole machine: {label} {plain_cpu:.1f} s, data-pipeline run {run_cpu:.1f} s"
            f" ({client_cpu:.1f} the run's own + {run_cpu - client_cpu:.1f} the server's);"
            f" spread over {cores} cores with every stage overlapped the run would still take"
            f" >= {floor:.1f} s = {floor / plain:.2f}x {label}"
        )
    print("stages of the pipeline run (~: to the second the snapshot batch is named after):")
    for label, part in parts:
        print(f"  {label:<44} {part:6.1f} s")
