"""The code location: everything assembled from the source schema and the settings.

`dagster dev -m assets.definitions` opens it. Settings come from DP_* environment variables (see
README); the assets are generated per source table. Runs use Dagster's multiprocess executor (or the
one DP_EXECUTOR names) with a concurrency pool per database: see assets/execution.py.
"""

from __future__ import annotations

import dagster as dg

from assets.assets import build_anonymized, build_foreign_key_check, build_published, build_snapshot
from assets.execution import build_executor, database_pool
from assets.resources import export_settings, pipeline_resource
from assets.schedules import (
    anonymized_copy_job,
    enforce_retention,
    nightly_anonymized_copy,
    retention_schedule,
)
from assets.sensors import record_failed_runs
from data_pipeline.config import Settings, load_settings
from data_pipeline.pipeline import Pipeline


def build_definitions(
    settings: Settings, loggers: dict[str, dg.LoggerDefinition] | None = None
) -> dg.Definitions:
    export_settings(settings)
    schema = Pipeline(settings).schema
    job = anonymized_copy_job()
    return dg.Definitions(
        assets=[
            build_snapshot(schema, pool=database_pool(settings.source_url)),
            *[build_anonymized(t, (settings.suites_dir / f"{t.name}.json").exists()) for t in schema.tables],
            build_published(schema, pool=database_pool(settings.target_url)),
        ],
        asset_checks=[build_foreign_key_check(t) for t in schema.tables if t.foreign_keys],
        jobs=[job, enforce_retention],
        schedules=[
            nightly_anonymized_copy(job, settings.schedule_cron),
            retention_schedule(settings.retention_cron),
        ],
        sensors=[record_failed_runs],
        resources={"pipeline": pipeline_resource()},
        executor=build_executor(),
        loggers=loggers,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded lazily by Dagster's tools, so importing this module has no side effects."""
    return build_definitions(load_settings())
