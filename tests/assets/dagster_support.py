"""Helpers for the code location tests: a real `dagster dev` server and its GraphQL API."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from data_pipeline.config import Settings

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
LOCATION = "assets.definitions"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dagster_cli() -> str:
    """The `dagster` script of this interpreter's environment (.venv/bin/dagster)."""
    script = Path(sys.executable).with_name("dagster")
    return str(script) if script.exists() else shutil.which("dagster") or "dagster"


def settings_env(settings: Settings) -> dict[str, str]:
    """This process's environment without anyone's DP_* settings, plus these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DP_") or k.startswith("DP_TEST_")}
    env.update(
        {
            "DP_HOME": str(settings.home),
            "DAGSTER_HOME": str(settings.dagster_home),
            "DP_SOURCE_URL": settings.source_url,
            "DP_TARGET_URL": settings.target_url,
            "DP_POLICY": str(settings.policy_path),
            "DP_SUITES": str(settings.suites_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@dataclass
class DagsterServer:
    url: str
    process: subprocess.Popen
    log: Path
    settings: Settings

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = json.load(response)
        assert "errors" not in payload, payload["errors"]
        return payload["data"]

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_until_loaded(self, timeout: float = 120) -> None:
        """Up when the webserver answers and the code location has loaded without error."""
        deadline = time.monotonic() + timeout
        query = """{ workspaceOrError { ... on Workspace { locationEntries {
            name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"dagster dev exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                entries = self.graphql(query)["workspaceOrError"]["locationEntries"]
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
                continue
            entry = next((e for e in entries if e["name"] == LOCATION), None)
            if entry and entry["loadStatus"] == "LOADED":
                loaded = entry["locationOrLoadError"]
                assert loaded["__typename"] == "RepositoryLocation", loaded
                return
            time.sleep(0.5)
        pytest.fail(f"dagster dev did not load {LOCATION} within {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the whole process group (webserver, daemon, code server, run workers)."""
        pgid = self.process.pid  # start_new_session: the group id is the leader's pid
        for sig, grace in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):  # children that outlived the leader
            os.killpg(pgid, signal.SIGKILL)


def refreshed(settings: Settings) -> Settings:
    """These settings with their source state stored, as `data-pipeline refresh` leaves it."""
    from data_pipeline import source_state
    from data_pipeline.context import Context

    source_state.refresh(Context(settings))
    return settings


def defs_of(settings: Settings) -> dg.Definitions:
    """The code location for these settings, after a refresh of their source state."""
    from assets.definitions import build_definitions

    return build_definitions(refreshed(settings))
