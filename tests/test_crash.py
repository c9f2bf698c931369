"""Crash safety: kill -9 in the middle of publishing leaves the previous whole release."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from support import dump_target

from data_pipeline.config import REPO_ROOT, Settings, load_settings
from data_pipeline.demo import build_demo_source
from data_pipeline.errors import Busy
from data_pipeline.locks import run_lock


def _publish_started(ledger: Path, release: int) -> bool:
    if not ledger.exists():
        return False
    try:
        with sqlite3.connect(ledger, timeout=0.1) as conn:
            return bool(
                conn.execute(
                    "SELECT 1 FROM dp_ledger_events WHERE kind='publish_started' AND release=?", (release,)
                ).fetchone()
            )
    except sqlite3.OperationalError:
        return False


def test_kill_9_during_publish_keeps_the_previous_release(
    tmp_path: Path, home: Path, no_suites: Path
) -> None:
    source = tmp_path / "big.db"
    build_demo_source(source, rows=6000)
    settings = load_settings(
        home=home,
        source_url=f"sqlite:///{source}",
        target_url=f"sqlite:///{home / 'target.db'}",
        suites=no_suites,
    )
    env = {
        **os.environ,
        "DP_HOME": str(home),
        "DP_SOURCE_URL": settings.source_url,
        "DP_TARGET_URL": settings.target_url,
        "DP_SUITES": str(no_suites),
        "PYTHONPATH": str(REPO_ROOT),
    }
    command = [sys.executable, "-m", "data_pipeline.cli", "run"]
    assert subprocess.run(command, env=env, capture_output=True, timeout=600).returncode == 0
    release_1 = dump_target(settings)

    journal = home / "target.db-journal"
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not (_publish_started(home / "ledger.db", 2) and journal.exists()):
        assert proc.poll() is None, "the run ended before it was killed mid-publish"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    assert dump_target(settings) == release_1  # the hot journal rolls the half-publish back
    with sqlite3.connect(home / "target.db") as conn:
        assert conn.execute("SELECT release FROM _dp_release").fetchone()[0] == 1

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "release 2 published" in rerun.stdout


def test_a_second_run_on_the_same_home_fails_clearly(run_cli, settings: Settings) -> None:
    with run_lock(settings.home):
        result = run_cli()
    assert result.exit_code == Busy.exit_code, result.output
    assert "holds" in result.output and "run.lock" in result.output
    assert run_cli().exit_code == 0  # released: the next run works


CRASHING_RULE = """
import faulthandler

from data_pipeline.anonymize import register


@register("crash_in_native_code", classes=("safe",))
def crash_in_native_code(values, ctx):
    faulthandler._sigsegv()  # what a kernel writing out of bounds does
"""


def test_a_native_crash_names_its_step_and_leaves_the_previous_release(
    tmp_path: Path, settings: Settings
) -> None:
    """A segfault inside a step: one line (the step and part, what the target holds, where the
    details are), exit 128 + SIGSEGV, no traceback on the console, the target at release 1."""
    import yaml

    (tmp_path / "crashing.py").write_text(CRASHING_RULE)
    policy = yaml.safe_load(settings.policy_path.read_text())
    env = {
        **os.environ,
        "DP_HOME": str(settings.home),
        "DP_SOURCE_URL": settings.source_url,
        "DP_TARGET_URL": settings.target_url,
        "DP_SUITES": str(settings.suites_dir),
        "DP_PARTITION_ROWS": "300",  # orders in two parts
        "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{tmp_path}",
    }
    command = [sys.executable, "-m", "data_pipeline.cli", "run"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    release_1 = dump_target(settings)

    policy["plugins"] = [*policy.get("plugins", []), "crashing"]
    policy["tables"]["orders"]["columns"]["status"] = {"class": "safe", "rule": "crash_in_native_code"}
    crashing = tmp_path / "crashing.yaml"
    crashing.write_text(yaml.safe_dump(policy))
    crash = subprocess.run(
        [*command, "--policy", str(crashing)], env=env, capture_output=True, text=True, timeout=600
    )

    assert crash.returncode == 128 + signal.SIGSEGV, crash.stdout + crash.stderr
    lines = [line for line in crash.stderr.splitlines() if "crashed" in line]
    (logs,) = (settings.home / "crash").glob("run-*.log")
    assert lines == [
        "error: the run crashed (SIGSEGV) in anonymized/orders [rows-000]; nothing was published: "
        f"the target still holds release 1; details: {logs}"
    ]
    assert "Traceback" not in crash.stdout + crash.stderr
    details = logs.read_text()
    assert "Fatal Python error: Segmentation fault" in details and "crash_in_native_code" in details
    assert dump_target(settings) == release_1
