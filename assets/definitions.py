"""The code location: everything assembled from the source schema and the settings.

`dagster dev -m assets.definitions` opens it. Settings come from DP_* environment variables (see
README); the assets are generated per source table. Runs use Dagster's multiprocess executor (or the
one DP_EXECUTOR names) with a concurrency pool per database: see assets/execution.py.
"""

from __future__ import annotations

import dagster as dg

from assets.assets import (
    all_partitions_tags,
    build_anonymized,
    build_anonymized_parts,
    build_foreign_key_check,
    build_published,
    build_snapshot,
    partitions_definition,
)
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
from data_pipeline.context import Context
from data_pipeline.partitions import Partitioning, plan_partitions
from data_pipeline.plan import foreign_key_tables
from data_pipeline.schema import Table


def build_definitions(
    settings: Settings,
    loggers: dict[str, dg.LoggerDefinition] | None = None,
    parts: Partitioning | None = None,
) -> dg.Definitions:
    """`parts`: the partitioning a run planned with (planned here otherwise)."""
    export_settings(settings)
    ctx = Context(settings)
    schema = ctx.schema
    if parts is None:
        parts = plan_partitions(ctx.source, schema, settings.partition_rows)
    fk_tables = foreign_key_tables(schema, parts)
    job = anonymized_copy_job()

    def anonymized(t: Table) -> dg.AssetsDefinition:
        if t.name in parts:
            return build_anonymized_parts(t, parts)
        return build_anonymized(t, (settings.suites_dir / f"{t.name}.json").exists())

    return dg.Definitions(
        assets=[
            build_snapshot(schema, pool=database_pool(settings.source_url)),
            *[anonymized(t) for t in schema.tables],
            build_published(schema, pool=database_pool(settings.target_url), partitioning=parts),
        ],
        asset_checks=[build_foreign_key_check(t) for t in schema.tables if t.name in fk_tables],
        jobs=[job, enforce_retention],
        schedules=[
            nightly_anonymized_copy(
                job, settings.schedule_cron, tags=all_partitions_tags(partitions_definition(parts))
            ),
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
