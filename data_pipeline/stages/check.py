"""Stage 3: the verdicts. Expectation suites over an anonymized table, foreign keys across tables,
and the ledger's record of what passed: nothing is published without a passing record."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from data_pipeline import __version__, checks
from data_pipeline.checkpoint import CheckpointRef
from data_pipeline.context import Context
from data_pipeline.ledger import AnonymizedRecord


@dataclass(frozen=True)
class TableResult:
    """An anonymized checkpoint and its verdicts (counts only, never values)."""

    ref: CheckpointRef
    outcomes: tuple[checks.CheckOutcome, ...]
    suite: object | None = None  # expectations.SuiteResult when the table has a suite
    same_as_original: dict[str, float] = field(default_factory=dict)
    reused_from: str | None = None  # the run that anonymized a part taken as it is

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes) and (self.suite is None or not self.suite.failed_critical)


class Sample:
    """The first rows of a table's output, kept for its GE suite (GE validates in memory)."""

    def __init__(self, table: str, limit: int) -> None:
        self.table, self.limit, self.rows = table, limit, 0
        self.frames: list[pd.DataFrame] = []

    def keep(self, frame: pd.DataFrame) -> None:
        if self.rows < self.limit:
            self.frames.append(frame.head(self.limit - self.rows))
            self.rows += len(self.frames[-1])

    def validate(self, ctx: Context):  # noqa: ANN201 - lazy GE types
        """The suite's result on the sample; None without a suite or rows."""
        if not self.frames:
            return None
        return run_suite(ctx, self.table, pd.concat(self.frames, ignore_index=True))


def sample(ctx: Context, table: str, wanted: bool = True) -> Sample:
    """Where the first rows of `table`'s output go for its GE suite (none without a suite)."""
    from data_pipeline.expectations import suite_paths

    has_suite = table in suite_paths(ctx.settings.suites_dir, ctx.settings.gx_dir)
    return Sample(table, ctx.settings.ge_max_rows if wanted and has_suite else 0)


def run_suite(ctx: Context, table: str, frame: pd.DataFrame):  # noqa: ANN201 - lazy GE types
    from data_pipeline.expectations import DataDocs, table_suite, validate_frame

    suite = table_suite(ctx.settings, table)  # cross-table suites run in the gate, on the target
    if suite is None:
        return None
    return validate_frame(frame, suite, docs=DataDocs.of(ctx.settings))


def foreign_keys(ctx: Context, table: str, refs: dict[str, CheckpointRef]) -> checks.CheckOutcome:
    """Streams only the key columns (Parquet projection) batch by batch; their hashes spill to disk,
    so memory does not grow with rows."""
    spec = ctx.schema.table(table)
    broken = {}
    for fk in spec.foreign_keys:
        missing = checks.dangling_references(
            ctx.anonymized.batches(refs[table], columns=list(fk.columns)),
            ctx.anonymized.batches(refs[fk.ref_table], columns=list(fk.ref_columns)),
            ctx.settings.spill_dir,
        )
        if missing:
            broken[f"{','.join(fk.columns)}->{fk.ref_table}"] = missing
    return checks.foreign_keys_outcome(spec, broken)


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
    suite = result.suite
    ctx.ledger.record(
        "checks",
        run_id=run_id,
        table=table,
        checkpoint=result.ref.id,
        **where,
        passed=result.passed,
        outcomes={o.name: o.metadata for o in result.outcomes},
        suite=None if suite is None else {"passed": suite.passed_count, "failed": suite.failed_count},
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
            suite_passed=None if suite is None else not suite.failed_critical,
        )
    )
