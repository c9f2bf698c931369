"""Stage 2 (FORWARD-ONLY): raw checkpoint -> anonymized checkpoint, with the checks its rows decide.

A table is anonymized whole, or in parts (contiguous row slices of its snapshot) that are combined
into one checkpoint afterwards. A part already anonymized from the same snapshot, engine, policy and
key, whose checks passed, is taken as it is, so a resumed run redoes only the parts that did not
finish.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from data_pipeline import __version__, checks, hashset, supervise
from data_pipeline.anonymize.engine import TableAnonymizer
from data_pipeline.anonymize.pools import Pools
from data_pipeline.anonymize.registry import RULES
from data_pipeline.check_names import COMBINED_CHECKS, PART_CHECKS, CheckName
from data_pipeline.checkpoint import (
    ANONYMIZE_ROWS,
    ANONYMIZE_TEXT_ROWS,
    CheckpointRef,
    Manifest,
    new_batch,
    release_memory,
    to_frame,
)
from data_pipeline.context import Context
from data_pipeline.errors import BadInput, ChecksFailed
from data_pipeline.locks import waited_for
from data_pipeline.partitions import Part
from data_pipeline.scrub import scrubbed
from data_pipeline.stages import check
from data_pipeline.stages.check import TableResult
from data_pipeline.streams import read_ahead


def anonymize(
    ctx: Context,
    snapshot: CheckpointRef,
    run_id: str | None = None,
    batch: str | None = None,
    part: Part | None = None,
) -> TableResult:
    """With `part`, only that slice of the snapshot and only the checks a slice can decide
    (PART_CHECKS); `combine_parts` runs the table-wide ones over all parts."""
    table = ctx.schema.table(snapshot.table)
    start, stop = (0, snapshot.rows) if part is None else part.bounds(snapshot.rows)
    part_extra = {} if part is None else part.manifest_extra(snapshot.rows)
    done = None if part is None else finished_part(ctx, snapshot, part)
    if done is not None:
        return done
    supervise.breadcrumb(f"anonymized/{table.name}" + ("" if part is None else f" [{part.key}]"))
    policy = ctx.policy.for_table(table.name)
    anonymizer = TableAnonymizer(table, policy, ctx.key, Pools(ctx.policy.locale))
    audit = checks.TableAudit(
        table,
        policy,
        ctx.policy.quasi_columns(table.name),
        lambda: source_fingerprints(ctx, snapshot),
        ctx.key,
        ctx.settings.k_anonymity,
        spill_dir=ctx.settings.spill_dir,
    )

    rows = ANONYMIZE_TEXT_ROWS if any(RULES[p.rule].scrubs_text for p in policy.values()) else ANONYMIZE_ROWS

    def anonymized_batches():
        for raw in read_ahead(
            ctx.vault.batches(snapshot, rows=rows)
            if part is None
            else ctx.vault.batches_between(snapshot, start, stop, rows=rows)
        ):
            with scrubbed("anonymize", table.name):
                out = anonymizer(raw)
            with scrubbed("check", table.name):
                audit.add(raw, out)
            yield out

    ref = ctx.anonymized.write(
        table,
        anonymized_batches(),
        batch=batch or new_batch("anonymized"),
        parents=(snapshot.id,),
        policy_digest=ctx.policy.digest,
        key_epoch=ctx.key.epoch,
        run_id=run_id,
        extra=part_extra,
    )
    outcomes = audit.outcomes(stop - start)
    if part is not None:
        outcomes = [o for o in outcomes if o.name in PART_CHECKS]
    same = audit.same_as_original
    audit = None  # its hash sets go before the next table's
    release_memory()
    result = TableResult(ref, tuple(outcomes), same)
    check.record(ctx, table.name, result, snapshot.id, run_id, part=None if part is None else part.key)
    return result


def is_current(ctx: Context, manifest: Manifest, snapshot_id: str) -> bool:
    """Whether an anonymized checkpoint was cut from this snapshot with the current policy and key."""
    return (
        manifest.parents == (snapshot_id,)
        and manifest.policy_digest == ctx.policy.digest
        and manifest.key_epoch == ctx.key.epoch
    )


def finished_part(ctx: Context, snapshot: CheckpointRef, part: Part) -> TableResult | None:
    """A part already anonymized from this very snapshot, by this version with this policy and key,
    that passed its checks (the output would be the same: the mapping is keyed and deterministic).
    The newest attempt at the part decides."""
    for record in reversed(ctx.ledger.anonymized()):
        if (record.table, record.part, record.parent) != (snapshot.table, part.key, snapshot.id):
            continue
        if record.engine != __version__ or not record.passed or not ctx.anonymized.has(record.checkpoint):
            return None
        try:
            ref, manifest = ctx.anonymized.ref(record.checkpoint)
        except BadInput:  # corrupt since: anonymized again
            return None
        same_part = manifest.extra == part.manifest_extra(snapshot.rows)
        if not (same_part and is_current(ctx, manifest, snapshot.id)):
            return None
        reused = f"passed when run {record.run_id} anonymized this part (checkpoint reused)"
        outcomes = tuple(checks.CheckOutcome(name, True, reused) for name in record.checks)
        return TableResult(ref, outcomes, reused_from=record.run_id)
    return None


def combine_parts(
    ctx: Context, snapshot: CheckpointRef, parts: list[CheckpointRef], run_id: str | None = None
) -> TableResult:
    """The parts of one table, verified and joined in order into ONE anonymized checkpoint (what
    publish, rollback and the FK checks read), with the checks only the whole table can decide.

    Refused unless every part exists, passed its own checks, was cut from this very snapshot
    with this policy and key, and the parts cover the snapshot's rows exactly, in order."""
    table = ctx.schema.table(snapshot.table)
    failed = check.unchecked_or_failed(ctx, {Part(i, len(parts)).key: r for i, r in enumerate(parts)})
    if failed:
        raise ChecksFailed(f"{table.name}: part(s) {', '.join(failed)} failed their checks")
    position = 0
    for index, ref in enumerate(parts):
        m = ctx.anonymized.manifest(ref)  # verifies sha256
        expected = Part(index, len(parts))
        if (
            not is_current(ctx, m, snapshot.id)
            or (m.extra.get("part"), m.extra.get("parts")) != (expected.key, expected.count)
            or (m.extra.get("start"), m.extra.get("stop")) != (position, position + m.rows)
        ):
            raise BadInput(
                f"{table.name}: part {expected.key} ({ref.id}) is not part {index + 1} of "
                f"{len(parts)} of snapshot {snapshot.id} with the current policy and key; "
                "re-materialize it"
            )
        position += m.rows
    # the table-wide properties only: each part's leak and classification checks passed above
    audit = checks.TableAudit(
        table,
        ctx.policy.for_table(table.name),
        ctx.policy.quasi_columns(table.name),
        list,  # no originals here: each part was leak-checked against them
        ctx.key,
        ctx.settings.k_anonymity,
        spill_dir=ctx.settings.spill_dir,
    )

    # the parts' Arrow batches go to the writer as they are; the audit sees only the columns it
    # checks (unique sets, quasi-identifiers), so no other column becomes Python objects
    audited = sorted({c for cols in audit.unique_sets for c in cols} | set(audit.quasi))

    def joined():
        for ref in parts:
            for batch in read_ahead(ctx.anonymized.arrow_batches(ref)):
                rows = pd.DataFrame(index=range(batch.num_rows))
                audit.add(None, to_frame(batch.select(audited)) if audited else rows, batch.column_names)
                yield batch

    ref = ctx.anonymized.write(
        table,
        joined(),
        batch=new_batch("anonymized"),
        parents=tuple(r.id for r in parts),
        policy_digest=ctx.policy.digest,
        key_epoch=ctx.key.epoch,
        run_id=run_id,
        extra={"snapshot": snapshot.id},
    )
    wide = {o.name: o for o in audit.outcomes(snapshot.rows)}
    wide[CheckName.PARTS_PASSED] = checks.CheckOutcome(
        CheckName.PARTS_PASSED, True, f"{len(parts)} parts passed {', '.join(PART_CHECKS)}"
    )
    result = TableResult(ref, tuple(wide[name] for name in COMBINED_CHECKS))
    check.record(ctx, table.name, result, snapshot.id, run_id, parts=tuple(r.id for r in parts))
    return result


def source_fingerprints(ctx: Context, snapshot: CheckpointRef) -> Iterator[np.ndarray]:
    """Keyed fingerprints of every identifying original in the snapshot batch, as sorted runs
    memory-mapped one at a time (a lookup reads only the pages it needs). Computed once per batch,
    policy and key, and kept in the vault beside the snapshot (0600 files, purged with it); only the
    columns that hold them are read. Steps in other processes (Dagster's multiprocess executor) wait
    for the one computing them instead of each computing them again."""
    batch_dir = Path(snapshot.path).parent
    done = batch_dir / f"_fingerprints-v3-{ctx.key.epoch}-{ctx.policy.digest[:12]}.done"
    if not done.exists():
        with waited_for(batch_dir / f"{done.stem}.lock"):
            if not done.exists():  # a killed writer leaves files under its own stem, never `done`
                _write_fingerprints(ctx, batch_dir, done)
    for path in sorted(batch_dir.glob(f"{done.read_text()}.*.npy")):
        yield np.load(path, mmap_mode="r")


def _write_fingerprints(ctx: Context, batch_dir: Path, done: Path) -> None:
    stem = f"{done.stem}.{uuid.uuid4().hex[:8]}"
    for number, run in enumerate(hashset.sorted_runs(_source_prints(ctx, batch_dir))):
        path = batch_dir / f"{stem}.{number:04d}.npy"
        np.save(path, run)
        path.chmod(0o600)
    tmp = batch_dir / f"{stem}.name"
    tmp.write_text(stem)
    tmp.chmod(0o600)
    tmp.replace(done)


def _source_prints(ctx: Context, batch_dir: Path) -> Iterator[np.ndarray]:
    for manifest_path in sorted(batch_dir.glob("*.json")):
        table = manifest_path.stem
        if table not in ctx.policy.columns:
            continue
        policy, spec = ctx.policy.for_table(table), ctx.schema.table(table)
        columns = sorted(set().union(*checks.columns_to_protect(spec, policy)))
        if not columns:
            continue
        for frame in ctx.vault.batches(f"{batch_dir.name}/{table}", columns=columns):
            for values in checks.source_values_to_protect(frame, spec, policy):
                yield checks.fingerprints(values, ctx.key)
