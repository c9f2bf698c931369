"""Schedules: the nightly anonymized production copy, and daily retention of raw checkpoints."""

import dagster as dg

from assets.resources import PipelineResource

ANONYMIZED_COPY_JOB = "anonymized_copy"


def anonymized_copy_job() -> "dg.UnresolvedAssetJobDefinition":
    return dg.define_asset_job(
        ANONYMIZED_COPY_JOB,
        selection=dg.AssetSelection.all(),
        description="Snapshot -> anonymize (forward-only) -> checks -> atomic publish.",
    )


def nightly_anonymized_copy(
    job: "dg.UnresolvedAssetJobDefinition", cron: str, tags: dict[str, str] | None = None
) -> dg.ScheduleDefinition:
    """`tags`: with partitioned tables, the range of all partitions (one run covers every part);
    Dagster's range tags are system tags, which only a run request may carry."""
    return dg.ScheduleDefinition(
        name="nightly_anonymized_copy",
        job=job,
        cron_schedule=cron,
        execution_fn=lambda _context: dg.RunRequest(tags=tags or {}),
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="An anonymized copy of production every night (DP_SCHEDULE_CRON).",
    )


@dg.op(description="Delete expired raw checkpoints (and anonymized ones beyond DP_KEEP_RELEASES), verify.")
def purge_expired_checkpoints(context: dg.OpExecutionContext, pipeline: PipelineResource) -> None:
    from data_pipeline.retention import purge

    report = purge(pipeline.context())
    context.log.info(
        f"purged {len(report.raw_removed)} raw and {len(report.anonymized_removed)} anonymized "
        f"checkpoint(s); kept {report.raw_kept} raw, {report.anonymized_kept} anonymized"
    )


@dg.job(description="Retention: raw checkpoints expire and are purged for good (ids recorded in the ledger).")
def enforce_retention() -> None:
    purge_expired_checkpoints()


def retention_schedule(cron: str) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="enforce_retention",
        job=enforce_retention,
        cron_schedule=cron,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Purges expired raw checkpoints every day (DP_RETENTION_CRON).",
    )
