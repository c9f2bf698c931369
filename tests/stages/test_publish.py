"""Stage 4: a release is written whole after every foreign key resolves, or not at all."""

from __future__ import annotations

import sqlite3

import pytest

from data_pipeline.config import Settings
from data_pipeline.context import Context
from data_pipeline.errors import ChecksFailed
from data_pipeline.stages import anonymize, check, publish, snapshot


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
