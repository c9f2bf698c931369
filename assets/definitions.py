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
from assets.catalog import build_catalog
from assets.execution import build_executor, database_pool
from assets.resources import export_settings, pipeline_resource
from assets.schedules import (
    anonymized_copy_job,
    enforce_retention,
    nightly_anonymized_copy,
    retention_schedule,
)
from assets.sensors import record_failed_runs
from assets.source import refresh_source_state, source_schema, source_schema_changes
from data_pipeline import source_state
from data_pipeline.anonymize.cost import relative_cost
from data_pipeline.config import Settings, load_settings
from data_pipeline.expectations import suite_names
from data_pipeline.plan import foreign_key_tables
from data_pipeline.schema import Table
from data_pipeline.source_state import SourceState


def build_definitions(
    settings: Settings,
    loggers: dict[str, dg.LoggerDefinition] | None = None,
    state: SourceState | None = None,
) -> dg.Definitions:
    """From the stored source state (`state`: the one a run planned with), never a connection to
    the source: with production down, the code location still loads, and so do its schedules, the
    failure sensor and the retention purge."""
    export_settings(settings)
    state = state or source_state.load(settings)
    if state is None:  # never refreshed: only what needs no source schema
        return dg.Definitions(
            assets=[source_schema],
            jobs=[refresh_source_state, enforce_retention],
            schedules=[retention_schedule(settings.retention_cron)],
            sensors=[record_failed_runs],
            resources={"pipeline": pipeline_resource()},
            executor=build_executor(),
            loggers=loggers,
        )
    schema, parts = state.schema, state.parts
    catalog = build_catalog(settings, schema)
    fk_tables = foreign_key_tables(schema, parts)
    job = anonymized_copy_job()

    def anonymized(t: Table) -> dg.AssetsDefinition:
        rules = [rule for _, rule in catalog.rules.get(t.name, {}).values()]
        priority = relative_cost(state.estimates.get(t.name, 0), rules)  # longest first
        if t.name in parts:
            return build_anonymized_parts(t, parts, catalog, priority)
        return build_anonymized(t, catalog, priority)

    return dg.Definitions(
        assets=[
            source_schema,
            build_snapshot(schema, catalog, pool=database_pool(settings.source_url)),
            *[anonymized(t) for t in schema.tables],
            build_published(
                schema,
                catalog,
                pool=database_pool(settings.target_url),
                partitioning=parts,
                suites=suite_names(settings) & frozenset(schema.names),
            ),
        ],
        asset_checks=[build_foreign_key_check(t) for t in schema.tables if t.name in fk_tables],
        jobs=[job, refresh_source_state, enforce_retention],
        schedules=[
            nightly_anonymized_copy(
                job, settings.schedule_cron, tags=all_partitions_tags(partitions_definition(parts))
            ),
            retention_schedule(settings.retention_cron),
        ],
        sensors=[record_failed_runs, source_schema_changes],
        resources={"pipeline": pipeline_resource()},
        executor=build_executor(),
        loggers=loggers,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded lazily by Dagster's tools, so importing this module has no side effects."""
    return build_definitions(load_settings())
