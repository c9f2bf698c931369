"""Stage 1: every table read in one transaction into raw checkpoints in the vault."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from data_pipeline import staging
from data_pipeline.checkpoint import CheckpointRef
from data_pipeline.config import redact_url
from data_pipeline.context import Context
from data_pipeline.snapshot import take_snapshot

Progress = Callable[[str, int], None]


def snapshot(
    ctx: Context, run_id: str | None = None, progress: Progress | None = None
) -> dict[str, CheckpointRef]:
    """Refuses (exit 2) before reading a row if the policy, key or target are not usable. A
    staged release a killed run left in the target is dropped first."""
    ctx.preflight()
    staging.discard_stale(ctx.target)
    refs = take_snapshot(
        ctx.source,
        ctx.schema,
        ctx.vault,
        retention=timedelta(days=ctx.settings.raw_retention_days),
        run_id=run_id,
        progress=progress,
        subset=ctx.subset,
        salt=ctx.key.derive("subset").hex()[:32],
        connections=ctx.settings.snapshot_connections,
    )
    ctx.ledger.record(
        "snapshot_taken",
        run_id=run_id,
        source=redact_url(ctx.settings.source_url),
        checkpoints={t: r.id for t, r in refs.items()},
        rows={t: r.rows for t, r in refs.items()},
        subset=ctx.subset.describe() if ctx.subset else None,
    )
    return refs
