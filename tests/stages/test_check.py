"""Stage 3: nothing passes without a passing record in the ledger."""

from __future__ import annotations

from data_pipeline.context import Context
from data_pipeline.stages import anonymize, check, snapshot


def test_a_checkpoint_without_a_passing_record_is_refused(ctx: Context) -> None:
    raw = snapshot.snapshot(ctx)
    refs = {t: anonymize.anonymize(ctx, r).ref for t, r in raw.items()}
    unrecorded = ctx.anonymized.write(
        ctx.schema.table("customers"), ctx.anonymized.batches(refs["customers"]), batch="manual"
    )
    assert check.unchecked_or_failed(ctx, {**refs, "customers": unrecorded}) == ["customers"]
