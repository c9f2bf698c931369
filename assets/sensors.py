"""Sensors: failed runs are recorded in the release ledger, beside the releases."""

import dagster as dg

from assets.resources import PipelineResource


@dg.run_failure_sensor(name="record_failed_runs", default_status=dg.DefaultSensorStatus.RUNNING)
def record_failed_runs(context: dg.RunFailureSensorContext, pipeline: PipelineResource) -> None:
    pipeline.context().ledger.record(
        "run_failed",
        run_id=context.dagster_run.run_id,
        job=context.dagster_run.job_name,
        reason=(context.failure_event.message or "")[:300],
    )
