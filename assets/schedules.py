"""Schedules: the nightly anonymized production copy."""

from __future__ import annotations

import dagster as dg

ANONYMIZED_COPY_JOB = "anonymized_copy"


def anonymized_copy_job() -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        ANONYMIZED_COPY_JOB,
        selection=dg.AssetSelection.all(),
        description="Snapshot -> anonymize (forward-only) -> checks -> atomic publish.",
    )


def nightly_anonymized_copy(job: dg.UnresolvedAssetJobDefinition, cron: str) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="nightly_anonymized_copy",
        job=job,
        cron_schedule=cron,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="An anonymized copy of production every night (DP_SCHEDULE_CRON).",
    )
