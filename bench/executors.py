"""Scale-out on this machine: one job in one process, then on the multiprocess executor (1, 2 processes).

The demo shop of `--rows` customers (SQLite source and target, no suites) is copied by the
`anonymized_copy` job three ways, each in a fresh DP_HOME: `data-pipeline run` (in process), and
`dagster job execute` with the code location's multiprocess executor at max_concurrent 1 and 2
(every step its own process, the tables' anonymize steps side by side). Prints wall seconds, rows/s,
peak RSS of the biggest process and the speed-up of 2 processes over 1. The outputs must be equal
(same key): a digest of each target is compared.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.validation import measure

REPO = Path(__file__).resolve().parent.parent
KEY = "bench-executors-key-0123456789abcdef"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rows", type=int, default=100_000, help="demo customers (100k: ~940k rows, 7 tables)"
    )
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")


def digest(database: Path) -> str:
    """Every published table's rows, sorted: equal outputs have equal digests."""
    h = hashlib.sha256()
    with sqlite3.connect(database) as conn:
        names = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' "
            "AND name NOT LIKE 'sqlite%' ORDER BY name"
        ).fetchall()
        for (name,) in names:
            for row in sorted(map(repr, conn.execute(f'SELECT * FROM "{name}"'))):
                h.update(row.encode())
    return h.hexdigest()[:16]


def run(args: argparse.Namespace) -> None:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-executors-"))
    work.mkdir(parents=True, exist_ok=True)
    python = [sys.executable, "-m", "data_pipeline.cli"]
    base = {**os.environ, "PYTHONPATH": str(REPO), "DP_ANON_KEY": KEY}
    source = work / "demo.db"
    if not source.exists():
        print(f"building the demo source ({args.rows:,} customers) ...", flush=True)
        subprocess.run(
            [*python, "demo-source", "--rows", str(args.rows), "--out", str(source)], env=base, check=True
        )
    with sqlite3.connect(source) as conn:
        tables = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        total = sum(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)
    no_suites = work / "no_suites"
    no_suites.mkdir(exist_ok=True)
    print(f"source: {source} ({total:,} rows, {len(tables)} tables)", flush=True)

    results = {}
    for name, procs in (
        ("in process (data-pipeline run)", 0),
        ("multiprocess, 1 process", 1),
        ("multiprocess, 2 processes", 2),
    ):
        home = work / f"home-{procs}"
        subprocess.run(["rm", "-rf", str(home)], check=True)
        config = work / f"executor-{procs}.yaml"
        config.write_text(f"max_concurrent: {max(procs, 1)}\n")
        env = {
            **base,
            "DP_HOME": str(home),
            "DP_SOURCE_URL": f"sqlite:///{source}",
            "DP_TARGET_URL": f"sqlite:///{home / 'target.db'}",
            "DP_SUITES": str(no_suites),
            "DP_EXECUTOR_CONFIG": str(config),
            "DAGSTER_HOME": str(home / "dagster"),
        }
        subprocess.run([*python, "refresh"], env=env, check=True, capture_output=True)
        if procs == 0:
            command = [*python, "run"]
        else:
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "from assets.runner import prepare_dagster_home; "
                    "from data_pipeline.config import load_settings; prepare_dagster_home(load_settings())",
                ],
                env=env,
                check=True,
            )
            command = [
                sys.executable,
                "-m",
                "dagster",
                "job",
                "execute",
                "-m",
                "assets.definitions",
                "-j",
                "anonymized_copy",
            ]
        got = measure(command, env, home)
        if got["exit"] != 0:
            print(f"{name}: exit {got['exit']}\n{got['stdout'][-2000:]}\n{got['stderr'][-2000:]}")
            continue
        results[procs] = got
        print(
            f"{name}: {got['seconds']:.1f} s ({total / got['seconds']:,.0f} rows/s), "
            f"peak RSS {got['rss_mb']:.0f} MB, output {digest(home / 'target.db')}",
            flush=True,
        )
    if 1 in results and 2 in results:
        print(f"2 processes vs 1: {results[1]['seconds'] / results[2]['seconds']:.2f}x faster", flush=True)
    print(f"files in {work}")
