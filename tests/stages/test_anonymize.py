"""Stage 2 (forward-only): an anonymized checkpoint and its recorded verdicts."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from data_pipeline.check_names import TABLE_CHECKS
from data_pipeline.checkpoint import CheckpointRef
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


def test_a_table_comes_out_the_same_whatever_its_batches(ctx: Context, monkeypatch) -> None:
    """Text-scrubbing tables go in smaller batches than others (memory): the rules are per value and
    keyed, so where the batches end changes nothing."""
    raw = snapshot.snapshot(ctx)["support_tickets"]
    whole = ctx.anonymized.read(anonymize.anonymize(ctx, raw).ref)
    monkeypatch.setattr(anonymize, "ANONYMIZE_TEXT_ROWS", 7)
    sliced = anonymize.anonymize(ctx, raw)
    assert raw.rows > 7 * 3 and sliced.passed
    assert ctx.anonymized.read(sliced.ref).equals(whole)


def _fingerprints_in_child(ctx: Context, raw: CheckpointRef) -> None:
    for _ in anonymize.source_fingerprints(ctx, raw):
        pass


def test_steps_in_two_processes_compute_the_source_fingerprints_once(ctx: Context) -> None:
    """Dagster's multiprocess executor runs anonymize steps side by side: a step that finds another
    computing the snapshot's fingerprints waits for them, so one set is written, not one per step."""
    raw = snapshot.snapshot(ctx)["customers"]
    fork = multiprocessing.get_context("fork")
    children = [fork.Process(target=_fingerprints_in_child, args=(ctx, raw)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
    assert [child.exitcode for child in children] == [0, 0]
    sets = {p.name.split(".")[1] for p in Path(raw.path).parent.glob("_fingerprints-*.npy")}
    assert len(sets) == 1
    assert len(list(anonymize.source_fingerprints(ctx, raw))) >= 1
