"""Fixtures for the code location: a fresh DP_HOME for Dagster's tools, a real `dagster dev` server."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster_support import (
    ARTIFACTS,
    LOCATION,
    REPO,
    DagsterServer,
    dagster_cli,
    free_port,
    refreshed,
    settings_env,
)

from assets.execution import EXECUTOR_ENV
from assets.runner import prepare_dagster_home
from data_pipeline.config import DEFAULT_POLICY, Settings, load_settings
from data_pipeline.keys import generate_key_file


@pytest.fixture
def ui_settings(tmp_path: Path, demo_db: Path, no_suites: Path) -> Settings:
    """A fresh DP_HOME with a key, the small demo source and no GE suites (fast)."""
    home = tmp_path / "ui_home"
    generate_key_file(home / "anon.key")
    source = tmp_path / "ui_source.db"
    shutil.copy(demo_db, source)
    policy = tmp_path / "ui_policy.yaml"  # a copy: the staleness test edits it
    shutil.copy(DEFAULT_POLICY, policy)
    settings = load_settings(home=home, source_url=f"sqlite:///{source}", suites=no_suites, policy=policy)
    prepare_dagster_home(settings)  # the embedded dagster.yaml: SQLite, telemetry and nux off
    return refreshed(settings)  # the stored source state the code location is built from


@pytest.fixture
def dagster_dev(ui_settings: Settings, tmp_path: Path) -> Iterator[DagsterServer]:
    """`dagster dev -m assets.definitions` on a free port, in its own session, stopped afterwards."""
    port = free_port()
    log = tmp_path / "dagster-dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [dagster_cli(), "dev", "-m", LOCATION, "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO,
            # in-process runs keep this test fast: it is about the UI; test_execution.py runs the
            # default multiprocess executor the same way a run worker does
            env={**settings_env(ui_settings), EXECUTOR_ENV: "in_process"},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = DagsterServer(f"http://127.0.0.1:{port}", process, log, ui_settings)
    try:
        server.wait_until_loaded()
        yield server
    finally:
        server.stop()
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(log, ARTIFACTS / "dagster-dev.log")
