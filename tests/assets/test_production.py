"""deploy/dagster.yaml: Dagster's storage on PostgreSQL, pools capped, telemetry and nux off."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from dagster_support import defs_of
from sqlalchemy.engine import make_url

from assets.execution import database_pool
from assets.schedules import ANONYMIZED_COPY_JOB
from data_pipeline.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def dagster_pg_env(url: str) -> dict[str, str]:
    """The DAGSTER_PG_* variables deploy/dagster.yaml reads, for one database URL."""
    parsed = make_url(url)
    return {
        "DAGSTER_PG_HOST": parsed.host or "localhost",
        "DAGSTER_PG_PORT": str(parsed.port or 5432),
        "DAGSTER_PG_USERNAME": parsed.username or "",
        "DAGSTER_PG_PASSWORD": parsed.password or "",
        "DAGSTER_PG_DB": parsed.database or "",
    }


def production_home(settings: Settings) -> Path:
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    return home


@pytest.mark.postgres
def test_runs_are_stored_in_postgresql_and_read_back(
    settings: Settings, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in dagster_pg_env(pg_url).items():
        monkeypatch.setenv(name, value)
    home = production_home(settings)
    job = defs_of(settings).resolve_job_def(ANONYMIZED_COPY_JOB)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert not instance.telemetry_enabled and not instance.nux_enabled
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        result = job.execute_in_process(instance=instance)
        assert result.success

    # a second instance, as the webserver or the daemon opens it, reads the run back from PostgreSQL
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        assert run.job_name == ANONYMIZED_COPY_JOB
        published = instance.get_latest_materialization_event(dg.AssetKey(["published", "customers"]))
        assert published.run_id == result.run_id
        assert published.asset_materialization.metadata["release"].value == 1
        for pool in (database_pool(settings.source_url), database_pool(settings.target_url)):
            info = instance.event_log_storage.get_concurrency_info(pool)
            assert info.slot_count == 1 and info.active_slot_count == 0, pool

    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT status FROM runs WHERE run_id = :id"), {"id": result.run_id})
        assert stored.scalar_one() == "SUCCESS"
        checks = conn.execute(sa.text("SELECT count(*) FROM asset_check_executions")).scalar_one()
        assert checks > 0
    engine.dispose()
    assert not list(home.rglob("*.db")), "no SQLite storage beside PostgreSQL"


def test_storage_settings_come_from_the_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without DAGSTER_PG_* the instance refuses to start instead of falling back to SQLite."""
    for name in dagster_pg_env("postgresql://u@h/d"):
        monkeypatch.delenv(name, raising=False)
    home = production_home(settings)
    with pytest.raises(dg.DagsterInvalidConfigError, match="DAGSTER_PG_"):
        dg.DagsterInstance.from_config(str(home))
