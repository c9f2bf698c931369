"""Validation at scale (issue 15): `run` and `gate` on the demo shop, peak RSS, and a bad row far down.

On the demo source of `--rows` customers (`demo-source --rows 1000000`: ~9.4M rows over 7 tables) with
the demo's suites: `data-pipeline run` (wall time, peak RSS of its biggest process from
`/usr/bin/time -v`, and the step it was in when each process peaked, from the run's breadcrumbs),
then `data-pipeline gate` (time, peak RSS) and `expectations init` drafting every table's suite from
the release (time, peak RSS: it reads each table in chunks). Then the last order of the published
target gets a status outside its suite's value set (far past the first 100,000 rows an in-memory
sample would see): the gate must exit 1. With `--bad-run`, the same order in a copy of the source, and
`run` again: exit 1 and nothing published is what the in-run check on every row must give.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BAD_STATUS = "teleported"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=1_000_000, help="demo customers (1M: ~9.4M rows)")
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")
    parser.add_argument("--source", type=Path, help="an existing demo source (SQLite file) to use")
    parser.add_argument("--bad-run", action="store_true", help="also run on a source with the bad order")


def _rss_mb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def _tree(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(p for c in children for p in _tree(int(c)))]


def _step(home: Path) -> str:
    """The step the run is in: the last breadcrumb of its newest crash log."""
    logs = sorted((home / "crash").glob("run-*.log"), key=lambda p: p.stat().st_mtime)
    if not logs:
        return "start"
    crumbs = [line for line in logs[-1].read_text(errors="replace").splitlines() if line.startswith("at: ")]
    return crumbs[-1][4:] if crumbs else "start"


def measure(command: list[str], env: dict[str, str], home: Path) -> dict:
    """Run `command` under /usr/bin/time -v, sampling its process tree's RSS every 0.2 s."""
    peaks: dict[str, int] = {}
    proc = subprocess.Popen(
        ["/usr/bin/time", "-v", *command], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            biggest = max((_rss_mb(p) for p in _tree(proc.pid)), default=0)
            step = _step(home)
            peaks[step] = max(peaks.get(step, 0), biggest)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    return {
        "exit": proc.returncode,
        "seconds": seconds,
        "rss_mb": int(rss.group(1)) / 1024 if rss else float("nan"),
        "steps": peaks,
        "stdout": out,
        "stderr": err,
    }


def plant_bad_order(database: Path) -> int:
    """The last order (highest id) gets a status outside the value set; returns its row number."""
    with sqlite3.connect(database) as conn:
        (rows,) = conn.execute("SELECT count(*) FROM orders").fetchone()
        conn.execute("UPDATE orders SET status = ? WHERE id = (SELECT max(id) FROM orders)", (BAD_STATUS,))
    return rows


def run(args: argparse.Namespace) -> None:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-validation-"))
    work.mkdir(parents=True, exist_ok=True)
    python = [sys.executable, "-m", "data_pipeline.cli"]
    base = {**os.environ, "PYTHONPATH": str(REPO)}
    source = args.source or work / "demo.db"
    if not source.exists():
        print(f"building the demo source ({args.rows:,} customers) ...", flush=True)
        subprocess.run(
            [*python, "demo-source", "--rows", str(args.rows), "--out", str(source)], env=base, check=True
        )

    def settings(home: Path, src: Path) -> dict[str, str]:
        return {
            **base,
            "DP_HOME": str(home),
            "DAGSTER_HOME": str(home / "dagster"),
            "DP_SOURCE_URL": f"sqlite:///{src}",
            "DP_TARGET_URL": f"sqlite:///{home / 'target.db'}",
            "DP_SUITES": str(REPO / "expectations"),
        }

    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    env = settings(home, source)
    subprocess.run([*python, "keygen"], env=env, check=True, capture_output=True)
    with sqlite3.connect(source) as conn:
        total = sum(
            conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
            for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        )
    print(f"source: {source} ({total:,} rows)", flush=True)

    result = measure([*python, "run"], env, home)
    _report("run", result, total)
    if result["exit"] != 0:
        raise SystemExit(result["stdout"][-3000:] + result["stderr"][-3000:])
    gate = measure([*python, "gate"], env, home)
    _report("gate", gate, total)
    drafts = work / "drafted"
    drafted = measure([*python, "expectations", "init", "--suites", str(drafts), "--force"], env, home)
    _report("expectations init", drafted, total)

    rows = plant_bad_order(home / "target.db")
    bad_gate = measure([*python, "gate"], env, home)
    listed = "expect_column_values_to_be_in_set(status)" in bad_gate["stdout"]
    print(
        f"gate with the last of {rows:,} orders' status outside its value set: exit {bad_gate['exit']} "
        f"(expected 1), {bad_gate['seconds']:.1f} s, failure listed: {listed}",
        flush=True,
    )

    if args.bad_run:
        bad_source = work / "bad_source.db"
        shutil.copy(source, bad_source)
        plant_bad_order(bad_source)
        bad_home = work / "home_bad"
        shutil.rmtree(bad_home, ignore_errors=True)
        bad_env = settings(bad_home, bad_source)
        subprocess.run([*python, "keygen"], env=bad_env, check=True, capture_output=True)
        bad = measure([*python, "run"], bad_env, bad_home)
        published = re.search(r"release \d+ published", bad["stdout"]) is not None
        print(
            f"run with the last order's status outside its value set: exit {bad['exit']} (expected 1), "
            f"{bad['seconds']:.1f} s, peak RSS {bad['rss_mb']:,.0f} MB, published: {published}",
            flush=True,
        )
    print(f"files in {work}")


def _report(name: str, result: dict, rows: int) -> None:
    print(
        f"{name}: exit {result['exit']}, {result['seconds']:.1f} s ({rows / result['seconds']:,.0f} rows/s), "
        f"peak RSS {result['rss_mb']:,.0f} MB (target <= 400 MB)",
        flush=True,
    )
    top = sorted(result["steps"].items(), key=lambda kv: -kv[1])[:5]
    print("  biggest process, by step: " + ", ".join(f"{step} {mb} MB" for step, mb in top), flush=True)
