"""Stage 1: every table read in one transaction into the vault, recorded in the ledger."""

from __future__ import annotations

from pathlib import Path

from data_pipeline.context import Context
from data_pipeline.stages import snapshot


def test_snapshot_writes_one_raw_checkpoint_per_table_in_the_vault(ctx: Context) -> None:
    refs = snapshot.snapshot(ctx, run_id="r1")
    assert set(refs) == set(ctx.schema.names)
    assert all(ctx.settings.vault in Path(r.path).parents for r in refs.values())
    assert len({r.id.split("/")[0] for r in refs.values()}) == 1  # one batch: one transaction
    taken = ctx.ledger.events("snapshot_taken")
    assert taken[-1].details["rows"] == {t: r.rows for t, r in refs.items()}
