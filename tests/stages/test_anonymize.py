"""Stage 2 (forward-only): an anonymized checkpoint and its recorded verdicts."""

from __future__ import annotations

from data_pipeline.check_names import TABLE_CHECKS
from data_pipeline.context import Context
from data_pipeline.stages import anonymize, check, snapshot


def test_anonymize_records_one_passing_verdict_per_table(ctx: Context) -> None:
    raw = snapshot.snapshot(ctx)["customers"]
    result = anonymize.anonymize(ctx, raw, run_id="r1")
    assert result.passed and result.ref.rows == raw.rows
    assert [o.name for o in result.outcomes] == list(TABLE_CHECKS)
    record = ctx.ledger.anonymized()[-1]
    assert (record.checkpoint, record.parent, record.passed) == (result.ref.id, raw.id, True)
    assert anonymize.is_current(ctx, ctx.anonymized.manifest(result.ref), raw.id)
    assert check.unchecked_or_failed(ctx, {"customers": result.ref}) == []
