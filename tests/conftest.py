"""Shared fixtures: a built demo source, an isolated DP_HOME with a key, and a CLI runner."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data_pipeline.config import Settings, load_settings
from data_pipeline.demo import build_demo_source
from data_pipeline.keys import generate_key_file

DEMO_ROWS = 200


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """The CLI exports DP_* variables for Dagster; no test may see another's."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith("DP_") and not name.startswith("DP_TEST_"):
            del os.environ[name]
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo source for the session; copy it before changing it."""
    path = tmp_path_factory.mktemp("demo") / "shop.db"
    build_demo_source(path, rows=DEMO_ROWS)
    return path


@pytest.fixture
def source_db(demo_db: Path, tmp_path: Path) -> Path:
    """A private copy of the demo source that a test may alter."""
    path = tmp_path / "source.db"
    shutil.copy(demo_db, path)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "dp_home"
    generate_key_file(path / "anon.key")
    return path


@pytest.fixture
def no_suites(tmp_path: Path) -> Path:
    """An empty suite directory: skips GE (seconds per run) where a test is not about it."""
    path = tmp_path / "no_suites"
    path.mkdir()
    return path


@pytest.fixture
def settings(home: Path, source_db: Path, no_suites: Path) -> Settings:
    return load_settings(
        home=home,
        source_url=f"sqlite:///{source_db}",
        target_url=f"sqlite:///{home / 'target.db'}",
        suites=no_suites,
    )


TARGET_ONLY = {"revoke", "purge", "releases", "gate", "expectations"}


def cli_args(settings: Settings, *extra: str, command: str = "run") -> list[str]:
    if command == "scan":
        return ["--home", str(settings.home), "--source", settings.source_url, *extra]
    args = ["--home", str(settings.home), "--target", settings.target_url]
    if command not in TARGET_ONLY:
        args += ["--source", settings.source_url, "--policy", str(settings.policy_path)]
    return [*args, *extra]


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture
def run_cli(cli: CliRunner, settings: Settings):
    """Invoke `data-pipeline run` (or another command) for these settings, in process."""
    from data_pipeline.cli import app

    def invoke(
        command: str = "run", *extra: str, env: dict[str, str] | None = None, suites: Path | None = None
    ):
        os.environ["DP_SUITES"] = str(suites or settings.suites_dir)
        words = command.split()
        return cli.invoke(app, [*words, *cli_args(settings, *extra, command=words[0])], env=env)

    return invoke


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database on the server `.ci/run` starts (DP_TEST_PG_URL)."""
    import uuid

    import sqlalchemy as sa

    base = os.environ.get("DP_TEST_PG_URL")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("DP_TEST_PG_URL is not set in CI: scripts/test.sh starts PostgreSQL")
        pytest.skip("no PostgreSQL: run the tests through scripts/test.sh")
    name = f"dp_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield base.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()
