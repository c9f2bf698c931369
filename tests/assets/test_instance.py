"""The CLI's Dagster instance: the embedded SQLite storage with its event log on open connections,
written exactly as Dagster's own instance (what `dagster dev` opens) reads it; other storage as
configured."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from assets.instance import PooledSqliteEventLogStorage, run_instance


@dg.asset
def first() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 3})


@dg.asset(deps=[first], check_specs=[dg.AssetCheckSpec("positive", asset="second")])
def second() -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={"rows": 4}, check_results=[dg.AssetCheckResult(check_name="positive", passed=True)]
    )


JOB = dg.define_asset_job("both", selection=[first, second])


def _run(instance: dg.DagsterInstance) -> str:
    job = dg.Definitions(assets=[first, second], jobs=[JOB]).resolve_job_def("both")
    result = job.execute_in_process(instance=instance)
    assert result.success
    return result.run_id


def test_the_default_storage_is_pooled_and_reads_as_dagster_writes_it(tmp_path: Path) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    with run_instance(home) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        runs = [_run(instance), _run(instance)]
        with storage.index_connection() as conn:  # WAL, synced at checkpoints only
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    assert not list(home.rglob("*.db-wal")), "every connection closed with the instance"

    with dg.DagsterInstance.from_config(str(home)) as plain:  # Dagster's own, as the UI opens it
        assert type(plain.event_log_storage) is not PooledSqliteEventLogStorage
        for run_id in runs:
            assert plain.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
            kinds = [e.dagster_event_type for e in plain.all_logs(run_id) if e.is_dagster_event]
            assert kinds.count(dg.DagsterEventType.ASSET_MATERIALIZATION) == 2
            assert dg.DagsterEventType.ASSET_CHECK_EVALUATION in kinds
        latest = plain.get_latest_materialization_event(dg.AssetKey("second"))
        assert latest.run_id == runs[-1]
        assert latest.asset_materialization.metadata["rows"].value == 4
        check = plain.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("second"), "positive")]
        )
        assert check[dg.AssetCheckKey(dg.AssetKey("second"), "positive")].run_id == runs[-1]


def test_other_storage_is_used_as_configured(tmp_path: Path) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        f"""\
event_log_storage:
  module: dagster._core.storage.event_log
  class: SqliteEventLogStorage
  config:
    base_dir: {tmp_path / "events"}
"""
    )
    with run_instance(home) as instance:
        assert type(instance.event_log_storage).__name__ == "SqliteEventLogStorage"
        run_id = _run(instance)
    assert (tmp_path / "events" / f"{run_id}.db").exists()
