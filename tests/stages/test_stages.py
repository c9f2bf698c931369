"""Each stage is a function of one Context, runnable alone against a temporary DP_HOME: snapshot,
anonymize (with its checks recorded in the ledger), the cross-table checks, publish and republish."""

from __future__ import annotations

import sqlite3

import pytest

from data_pipeline.check_names import TABLE_CHECKS
from data_pipeline.config import Settings
from data_pipeline.context import Context
from data_pipeline.errors import ChecksFailed
from data_pipeline.stages import anonymize, check, publish, snapshot


@pytest.fixture
def ctx(settings: Settings) -> Context:
    return Context(settings)


def test_snapshot_writes_one_raw_checkpoint_per_table_in_the_vault(ctx: Context) -> None:
    refs = snapshot.snapshot(ctx, run_id="r1")
    assert set(refs) == set(ctx.schema.names)
    assert all(ctx.settings.vault in __import__("pathlib").Path(r.path).parents for r in refs.values())
    assert len({r.id.split("/")[0] for r in refs.values()}) == 1  # one batch: one transaction
    taken = ctx.ledger.events("snapshot_taken")
    assert taken[-1].details["rows"] == {t: r.rows for t, r in refs.items()}


def test_anonymize_records_one_passing_verdict_per_table(ctx: Context) -> None:
    raw = snapshot.snapshot(ctx)["customers"]
    result = anonymize.anonymize(ctx, raw, run_id="r1")
    assert result.passed and result.ref.rows == raw.rows
    assert [o.name for o in result.outcomes] == list(TABLE_CHECKS)
    record = ctx.ledger.anonymized()[-1]
    assert (record.checkpoint, record.parent, record.passed) == (result.ref.id, raw.id, True)
    assert anonymize.is_current(ctx, ctx.anonymized.manifest(result.ref), raw.id)
    assert check.unchecked_or_failed(ctx, {"customers": result.ref}) == []


def test_a_checkpoint_without_a_passing_record_is_refused(ctx: Context) -> None:
    raw = snapshot.snapshot(ctx)
    refs = {t: anonymize.anonymize(ctx, r).ref for t, r in raw.items()}
    unrecorded = ctx.anonymized.write(
        ctx.schema.table("customers"), ctx.anonymized.batches(refs["customers"]), batch="manual"
    )
    assert check.unchecked_or_failed(ctx, {**refs, "customers": unrecorded}) == ["customers"]


def test_publish_checks_foreign_keys_then_writes_release_1(ctx: Context) -> None:
    raw = snapshot.snapshot(ctx)
    refs = {t: anonymize.anonymize(ctx, r).ref for t, r in raw.items()}
    assert all(check.foreign_keys(ctx, t, refs).passed for t in ctx.schema.names)
    release = publish.publish(ctx, refs)
    assert release.number == 1 and release.rows == {t: r.rows for t, r in refs.items()}
    again = publish.republish(ctx, release)
    assert (again.number, again.kind, again.checkpoints) == (1, "rolled_back", release.checkpoints)


def test_publish_refuses_a_dangling_foreign_key_and_writes_nothing(ctx: Context, settings: Settings) -> None:
    raw = snapshot.snapshot(ctx)
    refs = {t: anonymize.anonymize(ctx, r).ref for t, r in raw.items()}
    fewer = ctx.anonymized.write(
        ctx.schema.table("customers"),
        (frame.iloc[1:] for frame in ctx.anonymized.batches(refs["customers"])),
        batch="fewer",
    )
    with pytest.raises(ChecksFailed, match="dangling references"):
        publish.publish(ctx, {**refs, "customers": fewer})
    target = settings.home / "target.db"
    if target.exists():
        with sqlite3.connect(target) as conn:
            assert conn.execute("select count(*) from sqlite_master where type='table'").fetchone()[0] == 0
