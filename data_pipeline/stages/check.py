"""Stage 3: the verdicts on anonymized checkpoints: the built-in checks' record in the ledger and
foreign keys across tables; nothing is published without a passing record. (Expectation suites run
on every row of the staged release in the target: see stages/publish.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pandas as pd

from data_pipeline import __version__, checks, decimals
from data_pipeline.checkpoint import CheckpointRef
from data_pipeline.context import Context
from data_pipeline.ledger import AnonymizedRecord


@dataclass(frozen=True)
class TableResult:
    """An anonymized checkpoint and its verdicts (counts only, never values)."""

    ref: CheckpointRef
    outcomes: tuple[checks.CheckOutcome, ...]
    same_as_original: dict[str, float] = field(default_factory=dict)
    reused_from: str | None = None  # the run that anonymized a part taken as it is

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)


def foreign_keys(
    ctx: Context, table: str, refs: dict[str, CheckpointRef], run_id: str | None = None
) -> checks.CheckOutcome:
    """Streams only the key columns (Parquet projection) batch by batch; their hashes spill to disk,
    so memory does not grow with rows. A pass is recorded against the exact checkpoints it read (the
    table's and its parents'), so the publish step's own verification does not read them again."""
    spec = ctx.schema.table(table)
    read = {t: refs[t].id for t in sorted({table, *(fk.ref_table for fk in spec.foreign_keys)})}
    if spec.foreign_keys and ctx.ledger.has("foreign_keys", table=table, checkpoints=read):
        return checks.foreign_keys_outcome(spec, {})
    broken = {}
    for fk in spec.foreign_keys:
        parent = ctx.schema.table(fk.ref_table)
        numbers = [  # NUMERIC keys are decimal text, at their column's scale
            i
            for i, (c, p) in enumerate(zip(fk.columns, fk.ref_columns, strict=True))
            if "numeric" in (spec.column(c).generic, parent.column(p).generic)
        ]
        missing = checks.dangling_references(
            _comparable(ctx.anonymized.batches(refs[table], columns=list(fk.columns)), numbers),
            _comparable(ctx.anonymized.batches(refs[fk.ref_table], columns=list(fk.ref_columns)), numbers),
            ctx.settings.spill_dir,
        )
        if missing:
            broken[f"{','.join(fk.columns)}->{fk.ref_table}"] = missing
    outcome = checks.foreign_keys_outcome(spec, broken)
    if spec.foreign_keys and outcome.passed:
        ctx.ledger.record("foreign_keys", run_id=run_id, table=table, checkpoints=read)
    return outcome


def _comparable(frames: Iterator[pd.DataFrame], numbers: list[int]) -> Iterator[pd.DataFrame]:
    """Key batches whose columns at positions `numbers` hold canonical decimal text: '5.00' in a
    NUMERIC(12, 2) key is the 5 an integer or NUMERIC(12, 0) column references."""
    for frame in frames:
        for i in numbers:
            frame[frame.columns[i]] = decimals.canonical(frame.iloc[:, i])
        yield frame


def unchecked_or_failed(ctx: Context, refs: dict[str, CheckpointRef]) -> list[str]:
    """Tables whose anonymized checkpoint has no passing record of its blocking checks."""
    verdicts = {r.checkpoint: r for r in ctx.ledger.anonymized()}
    return [table for table, ref in refs.items() if ref.id not in verdicts or not verdicts[ref.id].passed]


def record(
    ctx: Context,
    table: str,
    result: TableResult,
    snapshot_id: str,
    run_id: str | None,
    *,
    part: str | None = None,
    parts: tuple[str, ...] = (),
) -> None:
    """The ledger's two events for an anonymized checkpoint: its checks, and the step itself
    (forward-only; which part, or which parts were combined)."""
    where = {"part": part} if part is not None else {"parts": list(parts)} if parts else {}
    ctx.ledger.record(
        "checks",
        run_id=run_id,
        table=table,
        checkpoint=result.ref.id,
        **where,
        passed=result.passed,
        outcomes={o.name: o.metadata for o in result.outcomes},
    )
    ctx.ledger.record_anonymized(
        AnonymizedRecord(
            checkpoint=result.ref.id,
            table=table,
            run_id=run_id,
            parent=snapshot_id,
            part=part,
            parts=parts,
            rows=result.ref.rows,
            policy_digest=ctx.policy.digest,
            key_epoch=ctx.key.epoch,
            engine=__version__,
            checks={o.name: o.passed for o in result.outcomes},
            suite_passed=None,  # suites run on the staged release (stages/publish.py)
        )
    )
