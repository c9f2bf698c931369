"""Big tables are anonymized in parts: one Dagster partition per key range of the snapshot.

Real Dagster runs on the demo source, with DP_PARTITION_ROWS=300: orders and payments (400 rows)
and order_items (750) are partitioned into ceil(750 / 300) = 3 parts; the other tables are not.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import dagster as dg
import pytest
from dagster_support import defs_of
from support import dump_target, target_tables

from assets.assets import RANGE_END_TAG, RANGE_START_TAG, anonymized_key, part_ref, snapshot_key
from assets.runner import prepare_dagster_home
from assets.schedules import ANONYMIZED_COPY_JOB
from data_pipeline.config import Settings
from data_pipeline.context import Context
from data_pipeline.ledger import Ledger
from data_pipeline.stages import anonymize as anonymize_stage

BIG = ("order_items", "orders", "payments")
PARTS = ["rows-000", "rows-001", "rows-002"]


@pytest.fixture
def parted(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DP_PARTITION_ROWS", "300")
    prepare_dagster_home(settings)
    return replace(settings, partition_rows=300)


@pytest.fixture
def reference(settings: Settings, tmp_path: Path) -> Settings:
    """The same source and key in another DP_HOME, never partitioned."""
    home = tmp_path / "reference_home"
    home.mkdir()
    shutil.copy(settings.key_file, home / "anon.key")
    return replace(settings, home=home, target_url=f"sqlite:///{home / 'target.db'}", partition_rows=0)


def run(defs: dg.Definitions, instance: dg.DagsterInstance, keys, partition: str | None = None):
    job = defs.resolve_job_def(ANONYMIZED_COPY_JOB)
    return job.execute_in_process(
        instance=instance, asset_selection=list(keys), partition_key=partition, raise_on_error=False
    )


def big_keys() -> list[dg.AssetKey]:
    return [anonymized_key(t) for t in BIG]


def other_keys(defs: dg.Definitions) -> list[dg.AssetKey]:
    """The snapshot and the unpartitioned anonymized tables: one run, no partition."""
    graph = defs.resolve_asset_graph()
    return [
        k
        for k in graph.get_all_asset_keys()
        if k not in big_keys() and k.path[0] in ("snapshot", "anonymized")
    ]


def published_keys(defs: dg.Definitions) -> list[dg.AssetKey]:
    """`published/<table>`: one step writes them all."""
    return [k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] == "published"]


def published_release(settings: Settings, reference: Settings) -> None:
    """The reference publishes the same source unpartitioned: the targets must be equal."""
    prepare_dagster_home(reference)
    defs = defs_of(reference)
    with dg.DagsterInstance.from_config(str(reference.dagster_home)) as instance:
        assert defs.resolve_job_def(ANONYMIZED_COPY_JOB).execute_in_process(instance=instance).success
    assert dump_target(settings) == dump_target(reference)


def crashing_part(key: str):  # noqa: ANN201 - a stand-in for stages.anonymize.anonymize
    """The anonymize stage, except that part `key` fails the way a lost worker does."""
    anonymize = anonymize_stage.anonymize

    def crash(ctx, snapshot, run_id=None, batch=None, part=None):  # noqa: ANN001, ANN202
        if part is not None and part.key == key:
            raise RuntimeError("worker lost")
        return anonymize(ctx, snapshot, run_id, batch, part)

    return crash


def part_checkpoints(settings: Settings, instance: dg.DagsterInstance) -> dict[tuple[str, str], tuple]:
    store = Context(settings).anonymized
    out = {}
    for table in BIG:
        for key in PARTS:
            ref = part_ref(instance, anonymized_key(table), key)
            if ref is not None:
                path = Path(ref.path)
                out[(table, key)] = (ref.id, ref.sha256, path.stat().st_mtime_ns, store.manifest(ref).extra)
    return out


def test_only_tables_above_the_threshold_are_partitioned(parted: Settings) -> None:
    defs = defs_of(parted)
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        partitions = graph.get(key).partitions_def
        if key in big_keys():
            assert partitions.get_partition_keys() == PARTS, key
            # a backfill of a range from the UI is one run whose step anonymizes the parts in turn
            assert graph.get(key).backfill_policy == dg.BackfillPolicy.single_run(), key
        else:
            assert partitions is None, key  # the snapshot stays one consistent read; published one release
    # the nightly run covers every partition: one run, each big table's parts in its own step
    schedule = defs.resolve_schedule_def("nightly_anonymized_copy")
    with dg.DagsterInstance.from_config(str(parted.dagster_home)) as instance:
        [request] = schedule.evaluate_tick(dg.build_schedule_context(instance)).run_requests
    assert request.tags[RANGE_START_TAG] == "rows-000" and request.tags[RANGE_END_TAG] == "rows-002"
    unpartitioned = defs_of(replace(parted, partition_rows=0)).resolve_asset_graph()
    assert all(unpartitioned.get(k).partitions_def is None for k in unpartitioned.get_all_asset_keys())


def test_each_partition_runs_on_its_own_and_the_release_equals_an_unpartitioned_one(
    parted: Settings, reference: Settings
) -> None:
    defs = defs_of(parted)
    with dg.DagsterInstance.from_config(str(parted.dagster_home)) as instance:
        assert run(defs, instance, other_keys(defs)).success
        for key in PARTS:
            result = run(defs, instance, big_keys(), partition=key)
            assert result.success
            done = {(e.asset_key, e.partition) for e in result.get_asset_materialization_events()}
            assert done == {(k, key) for k in big_keys()}  # this part of every big table, nothing else
        parts = part_checkpoints(parted, instance)
        rows = Context(parted).vault.manifest(latest_snapshot(instance, "order_items")).rows
        extras = [parts[("order_items", k)][3] for k in PARTS]
        ranges = [(extra["start"], extra["stop"]) for extra in extras]
        assert ranges == [(0, 250), (250, 500), (500, rows)] and rows == 750  # contiguous key ranges

        result = run(defs, instance, published_keys(defs))
        assert result.success
    [release] = Ledger(parted.ledger_url).events("published")
    assert release.release == 1
    published_release(parted, reference)


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The failed step's own error (and what it wraps)."""
    [failure] = [e for e in result.all_events if e.is_step_failure]
    error, messages = failure.step_failure_data.error, []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def latest_snapshot(instance: dg.DagsterInstance, table: str) -> str:
    event = instance.get_latest_materialization_event(snapshot_key(table))
    return event.asset_materialization.metadata["checkpoint_id"].value


def test_a_missing_partition_blocks_publish(parted: Settings) -> None:
    defs = defs_of(parted)
    with dg.DagsterInstance.from_config(str(parted.dagster_home)) as instance:
        assert run(defs, instance, other_keys(defs)).success
        for key in PARTS[:2]:
            assert run(defs, instance, big_keys(), partition=key).success
        result = run(defs, instance, published_keys(defs))
    assert not result.success
    message = failure_message(result)
    assert "never materialized" in message and "anonymized/order_items[rows-002]" in message
    assert target_tables(parted) == []
    assert Ledger(parted.ledger_url).events("published") == []


def test_a_failed_partition_blocks_publish_and_rerunning_it_leaves_the_others_untouched(
    parted: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    defs = defs_of(parted)
    with dg.DagsterInstance.from_config(str(parted.dagster_home)) as instance:
        assert run(defs, instance, other_keys(defs)).success
        for key in PARTS:
            assert run(defs, instance, big_keys(), partition=key).success
        before = part_checkpoints(parted, instance)

        # a new snapshot, and part rows-001 of it fails: the old rows-001 is from another snapshot
        assert run(defs, instance, other_keys(defs)).success
        for key in ("rows-000", "rows-002"):
            assert run(defs, instance, big_keys(), partition=key).success
        anonymize = anonymize_stage.anonymize
        monkeypatch.setattr(anonymize_stage, "anonymize", crashing_part("rows-001"))
        assert not run(defs, instance, big_keys(), partition="rows-001").success
        failed = run(defs, instance, published_keys(defs))
        assert not failed.success
        assert "is not part 2 of 3 of snapshot" in failure_message(failed)
        assert target_tables(parted) == []

        # re-run only rows-001: the other parts' checkpoints stay exactly as they were
        monkeypatch.setattr(anonymize_stage, "anonymize", anonymize)
        middle = part_checkpoints(parted, instance)
        assert run(defs, instance, big_keys(), partition="rows-001").success
        after = part_checkpoints(parted, instance)
        for table in BIG:
            assert after[(table, "rows-001")] != middle[(table, "rows-001")]
            assert after[(table, "rows-001")][0] != before[(table, "rows-001")][0]
            for key in ("rows-000", "rows-002"):
                assert after[(table, key)] == middle[(table, key)]
        assert run(defs, instance, published_keys(defs)).success
    assert Ledger(parted.ledger_url).current(parted.target_url).number == 1


def test_data_pipeline_run_publishes_partitioned_tables_in_one_run(
    run_cli, parted: Settings, reference: Settings
) -> None:
    """The CLI runs every part of every big table in one run (a partition range), then publishes."""
    result = run_cli()
    assert result.exit_code == 0, result.output
    assert "release 1" in result.output
    for table in BIG:
        for key in PARTS:
            assert f"anonymized/{table} {key}" in result.output
    published_release(parted, reference)


def test_run_resume_anonymizes_only_the_parts_that_did_not_finish(
    run_cli, parted: Settings, reference: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run whose part rows-001 crashed publishes nothing. `run --resume` takes no new snapshot,
    takes each part that finished as it is (same checkpoint, no second ledger record) and anonymizes
    only the others; the release equals an unpartitioned one."""
    anonymize = anonymize_stage.anonymize
    monkeypatch.setattr(anonymize_stage, "anonymize", crashing_part("rows-001"))
    failed = run_cli()
    assert failed.exit_code == 1 and "nothing was published" in failed.output
    monkeypatch.setattr(anonymize_stage, "anonymize", anonymize)
    ledger = Ledger(parted.ledger_url)
    finished = {(e.details["table"], e.details.get("part")): e for e in ledger.events("anonymized")}
    assert {p for t, p in finished if t in BIG} == {"rows-000"}

    result = run_cli("run", "--resume")
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # the console wraps long lines
    assert len(ledger.events("snapshot_taken")) == 1
    records = [
        e.details for e in ledger.events("anonymized") if e.details["table"] in BIG and "part" in e.details
    ]
    for table in BIG:
        run_id = finished[(table, "rows-000")].run_id
        assert f"anonymized/{table} rows-000: " in said and f"forward-only, reused from run {run_id})" in said
        first = [d["checkpoint"] for d in records if (d["table"], d["part"]) == (table, "rows-000")]
        assert first == [finished[(table, "rows-000")].details["checkpoint"]]  # recorded once: reused
        for key in ("rows-001", "rows-002"):
            assert len([d for d in records if (d["table"], d["part"]) == (table, key)]) == 1
    published_release(parted, reference)


def test_a_finished_part_whose_checkpoint_was_corrupted_since_is_anonymized_again(
    parted: Settings,
) -> None:
    """Reuse verifies the checkpoint's sha256 first: a corrupt part is done again, the others are
    taken as they are."""
    defs = defs_of(parted)
    with dg.DagsterInstance.from_config(str(parted.dagster_home)) as instance:
        assert run(defs, instance, other_keys(defs)).success
        assert run(defs, instance, big_keys(), partition="rows-000").success
        before = {t: part_ref(instance, anonymized_key(t), "rows-000") for t in BIG}
        with open(before["orders"].path, "r+b") as handle:
            handle.seek(100)
            handle.write(b"\x00corrupt\x00")
        assert run(defs, instance, big_keys(), partition="rows-000").success
        after = {t: part_ref(instance, anonymized_key(t), "rows-000") for t in BIG}
    assert after["orders"].id != before["orders"].id
    assert Context(parted).anonymized.manifest(after["orders"]).rows == before["orders"].rows
    assert after["order_items"] == before["order_items"] and after["payments"] == before["payments"]


def test_run_resume_after_a_whole_partitioned_run_anonymizes_nothing_again(
    run_cli, parted: Settings, reference: Settings
) -> None:
    """Every table is current, a partitioned one when each of its parts is: only publish runs."""
    assert run_cli().exit_code == 0
    result = run_cli("run", "--resume")
    assert result.exit_code == 0, result.output
    assert "1 step(s) to run" in result.output
    assert not re.search(r"anonymized/\S+( rows-\d+)?: .*forward-only", result.output)  # none anonymized
    published_release(parted, reference)
