"""Runs do not mix: with two runs at once, each run's steps read the checkpoints its own snapshot
step made, so each release is one consistent snapshot even when the other run snapshotted later."""

from __future__ import annotations

import sqlite3
import threading

import dagster as dg
import pytest
from dagster_support import defs_of

from assets.runner import prepare_dagster_home
from assets.schedules import ANONYMIZED_COPY_JOB
from data_pipeline.config import Settings
from data_pipeline.context import Context
from data_pipeline.ledger import Ledger
from data_pipeline.stages import anonymize as anonymize_stage


def test_two_overlapping_runs_each_publish_their_own_snapshot(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = defs_of(settings).resolve_job_def(ANONYMIZED_COPY_JOB)
    prepare_dagster_home(settings)
    first_snapshotted, go_on = threading.Event(), threading.Event()
    anonymize = anonymize_stage.anonymize

    def held(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - the stage, held in the first run
        if threading.current_thread().name == "first-run":
            first_snapshotted.set()
            go_on.wait(300)
        return anonymize(*args, **kwargs)

    monkeypatch.setattr(anonymize_stage, "anonymize", held)
    results: dict[str, dg.ExecuteInProcessResult] = {}
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:

        def first() -> None:
            results["first"] = job.execute_in_process(instance=instance, raise_on_error=False)

        thread = threading.Thread(target=first, name="first-run")
        thread.start()
        try:
            assert first_snapshotted.wait(300)
            with sqlite3.connect(settings.source_url.removeprefix("sqlite:///")) as conn:
                conn.execute("DELETE FROM payments WHERE id % 2 = 0")  # the second run sees other rows
            results["second"] = job.execute_in_process(instance=instance, raise_on_error=False)
        finally:
            go_on.set()
            thread.join(300)
    assert results["first"].success and results["second"].success

    ledger = Ledger(settings.ledger_url)
    snapshots = {e.run_id: e.details["checkpoints"] for e in ledger.events("snapshot_taken")}
    store = Context(settings).anonymized
    releases = ledger.events("published")
    assert [e.run_id for e in releases] == [results["second"].run_id, results["first"].run_id]
    for release in releases:
        parents = {t: store.manifest(cid).parents for t, cid in release.details["checkpoints"].items()}
        assert parents == {t: (cid,) for t, cid in snapshots[release.run_id].items()}, release.run_id
    rows = {e.run_id: e.details["rows"]["payments"] for e in releases}
    assert rows[results["first"].run_id] > rows[results["second"].run_id]
