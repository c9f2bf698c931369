"""The source schema as Dagster sees it: an observable source asset whose data version is the
schema's digest, the job that refreshes the stored state the code location is built from, and the
sensor that notices a migration: an additive change starts a new release on its own, a destructive
one waits (its reason shown on the sensor's ticks) until someone allows it
(`data-pipeline refresh --allow-destructive`)."""

import warnings

import dagster as dg

from assets.assets import FORWARD_ONLY_TAG
from assets.resources import PipelineResource
from assets.schedules import ANONYMIZED_COPY_JOB
from data_pipeline import source_state
from data_pipeline.errors import PipelineError
from data_pipeline.source_state import schema_digest

SOURCE_SCHEMA = dg.AssetSpec(
    "source_schema",
    group_name="source",
    tags={FORWARD_ONLY_TAG: "false"},
    description="The production schema; its data version is the schema's digest (reads the source).",
)

with warnings.catch_warnings():  # observable source assets are beta in Dagster 1.13: not the user's concern
    warnings.simplefilter("ignore", dg.BetaWarning)

    @dg.multi_observable_source_asset(specs=[SOURCE_SCHEMA], name="observe_source_schema")
    def source_schema(pipeline: PipelineResource):  # noqa: ANN201 - Dagster reads the yielded results
        ctx = pipeline.context()
        stored = source_state.load(ctx.settings)
        digest = schema_digest(ctx.schema)
        yield dg.ObserveResult(
            asset_key=SOURCE_SCHEMA.key,
            data_version=dg.DataVersion(digest),
            metadata={
                "tables": len(ctx.schema.tables),
                "stored_state_digest": stored.digest if stored else "none",
                "matches_stored_state": stored is not None and stored.digest == digest,
            },
        )


@dg.op(description="Read the source schema, row estimates and partition layout into DP_HOME.")
def refresh_state(context: dg.OpExecutionContext, pipeline: PipelineResource) -> None:
    state = source_state.refresh(pipeline.context())
    context.log.info(
        f"source state refreshed: {len(state.schema.tables)} tables, digest {state.digest}, "
        f"{state.parts.count if state.parts.tables else 0} parts; reload the code location to see it"
    )


@dg.job(description="Refresh the stored source state the code location is built from (reads the source).")
def refresh_source_state() -> None:
    refresh_state()


@dg.sensor(
    name="source_schema_changes",
    job_name=ANONYMIZED_COPY_JOB,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="A source migration: additive -> a new anonymized release; destructive -> waits for "
    "`data-pipeline refresh --allow-destructive`.",
)
def source_schema_changes(
    context: dg.SensorEvaluationContext, pipeline: PipelineResource
) -> dg.SkipReason | dg.RunRequest:
    ctx = pipeline.context()
    try:
        live = ctx.schema
    except PipelineError as exc:
        return dg.SkipReason(f"source not readable, nothing to compare: {exc}")
    stored = source_state.load(ctx.settings)
    if stored is None:
        source_state.refresh(ctx)
        return dg.SkipReason("no stored source state yet: refreshed it")
    found = source_state.drift(ctx.settings, stored, live)
    if found.action == "none":
        return dg.SkipReason("the source schema matches the stored state")
    listed = "; ".join(str(c) for c in found.changes)
    if found.action == "wait":
        return dg.SkipReason(
            f"waiting: {len(found.destructive)} destructive schema change(s): {listed}. Allow them with "
            "`data-pipeline refresh --allow-destructive` (or fix the source)"
        )
    source_state.refresh(ctx)
    context.log.info(f"schema change -> new release: {listed}")
    from assets.assets import all_partitions_tags, partitions_definition

    return dg.RunRequest(
        run_key=f"schema-{found.digest}",
        tags={"data_pipeline/schema_digest": found.digest}
        | all_partitions_tags(partitions_definition(stored.parts)),
    )
