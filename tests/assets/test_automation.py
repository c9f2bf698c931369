"""The nightly schedule and the run-failure sensor, evaluated the way the daemon evaluates them."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster_support import defs_of

from assets.resources import pipeline_resource
from assets.runner import prepare_dagster_home
from data_pipeline.config import Settings, load_settings
from data_pipeline.ledger import Ledger


def reloaded(settings: Settings) -> Settings:
    """The same places, re-read with the environment a test has just changed (cron, retention)."""
    return load_settings(
        home=settings.home,
        source_url=settings.source_url,
        target_url=settings.target_url,
        suites=settings.suites_dir,
    )


def test_nightly_tick_requests_a_run_that_publishes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DP_SCHEDULE_CRON", "30 3 * * *")
    settings = reloaded(settings)
    defs = defs_of(settings)
    schedule = defs.resolve_schedule_def("nightly_anonymized_copy")
    assert schedule.cron_schedule == "30 3 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED  # turned on deliberately
    prepare_dagster_home(settings)

    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        tick = datetime(2026, 3, 1, 3, 30, tzinfo=UTC)
        data = schedule.evaluate_tick(dg.build_schedule_context(instance, scheduled_execution_time=tick))
        assert not data.skip_message
        [request] = data.run_requests
        job = defs.resolve_job_def(schedule.job_name)
        result = job.execute_in_process(instance=instance, run_config=request.run_config, tags=request.tags)
        assert result.success

    [published] = Ledger(settings.ledger_url).events("published")
    assert published.run_id == result.run_id and published.release == 1


def test_failed_run_is_recorded_in_the_ledger_once(settings: Settings, tmp_path: Path) -> None:
    defs = defs_of(settings)  # exports DP_* for the EnvVar-fed resource
    sensor = defs.resolve_sensor_def("record_failed_runs")
    job = defs.resolve_job_def("anonymized_copy")
    resources = {"pipeline": pipeline_resource()}
    ledger = Ledger(settings.ledger_url)
    prepare_dagster_home(settings)

    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        # the daemon's first tick only places the cursor
        first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources))
        assert first.skip_message and first.cursor

        # the policy is read when the run starts: a broken one fails the run for real
        bad_policy = tmp_path / "broken-policy.yaml"
        bad_policy.write_text("tables: [this is not a policy\n")
        os.environ["DP_POLICY"] = str(bad_policy)
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        assert ledger.events("run_failed") == []

        tick = sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, cursor=first.cursor, resources=resources)
        )
        [failed] = ledger.events("run_failed")
        assert failed.run_id == result.run_id
        assert failed.details["job"] == "anonymized_copy"
        assert "snapshot" in failed.details["reason"]

        # the cursor moved past it: the next tick records nothing twice
        later = dg.build_sensor_context(instance=instance, cursor=tick.cursor, resources=resources)
        sensor.evaluate_tick(later)
        assert len(ledger.events("run_failed")) == 1


def test_retention_schedule_purges_expired_raw_checkpoints(
    run_cli, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli().exit_code == 0
    vault = settings.home / "vault"
    assert list(vault.rglob("*.parquet"))
    monkeypatch.setenv("DP_RAW_RETENTION", "0")
    settings = reloaded(settings)
    defs = defs_of(settings)
    schedule = defs.resolve_schedule_def("enforce_retention")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    prepare_dagster_home(settings)
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        tick = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
        [request] = schedule.evaluate_tick(
            dg.build_schedule_context(instance, scheduled_execution_time=tick)
        ).run_requests
        result = defs.resolve_job_def(schedule.job_name).execute_in_process(
            instance=instance, run_config=request.run_config
        )
        assert result.success
    assert not list(vault.rglob("*.parquet"))
    [purged] = Ledger(settings.ledger_url).events("purged")
    assert len(purged.details["raw"]) == 7
