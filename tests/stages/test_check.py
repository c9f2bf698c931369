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


def test_a_foreign_key_pass_holds_for_exactly_the_checkpoints_it_read(ctx: Context) -> None:
    """The publish step re-verifies every foreign key; a pass recorded for the same checkpoints
    (the table's and its parents') stands, any other checkpoint is read again."""
    raw = snapshot.snapshot(ctx)
    refs = {t: anonymize.anonymize(ctx, r).ref for t, r in raw.items()}
    assert check.foreign_keys(ctx, "orders", refs).passed
    recorded = [
        e.details["checkpoints"] for e in ctx.ledger.events("foreign_keys") if e.details["table"] == "orders"
    ]
    assert recorded == [{t: refs[t].id for t in ("customers", "employees", "orders")}]

    # the recorded pass is taken as it is (nothing read, nothing recorded again)
    assert check.foreign_keys(ctx, "orders", refs).passed
    assert [e.details["table"] for e in ctx.ledger.events("foreign_keys")].count("orders") == 1

    # another parent checkpoint, without its first customer: read again, and refused
    fewer = ctx.anonymized.write(
        ctx.schema.table("customers"),
        (frame.iloc[1:] for frame in ctx.anonymized.batches(refs["customers"])),
        batch="fewer",
    )
    assert not check.foreign_keys(ctx, "orders", {**refs, "customers": fewer}).passed
