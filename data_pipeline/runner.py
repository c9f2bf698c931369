"""Run the whole pipeline once through Dagster, in process, and turn the result into an exit code.

The same asset graph the UI and the nightly schedule use; only the executor differs (in process).
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from rich.console import Console

from data_pipeline.config import Settings
from data_pipeline.errors import BadInput, PipelineError
from data_pipeline.pipeline import Pipeline


class Busy(PipelineError):
    """Another run holds DP_HOME (exit 4): nothing was touched."""

    exit_code = 4


DAGSTER_YAML = """\
# Embedded default: Dagster's own storage is SQLite under DP_HOME/dagster.
telemetry:
  enabled: false
nux:
  enabled: false
"""


def prepare_dagster_home(settings: Settings) -> Path:
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return home


@contextmanager
def run_lock(home: Path) -> Iterator[None]:
    """One run per DP_HOME at a time: a second one fails at once with a clear message."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "run.lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise Busy(
                f"another data-pipeline run (pid {holder}) holds {path}; wait for it to finish"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


PROGRESS_PREFIXES = ("snapshot/", "anonymized/", "published ")


def progress_logger(console: Console) -> dg.LoggerDefinition:
    """The CLI's Dagster logger: one line per table as steps finish, nothing else (the steps' own
    messages carry ids and counts only, never values)."""

    class _Progress(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            meta = getattr(record, "dagster_meta", None) or {}
            message = str(meta.get("orig_message") or record.getMessage().rsplit(" - ", 1)[-1])
            if message.startswith(PROGRESS_PREFIXES):
                console.print(f"  {message}", markup=False, highlight=False)

    @dg.logger(description="Per-table progress lines for `data-pipeline run`.")
    def rich_progress(_init_context: dg.InitLoggerContext) -> logging.Logger:
        log = logging.Logger("data_pipeline.progress", level=logging.INFO)
        log.addHandler(_Progress())
        return log

    return rich_progress


def resumable(pipeline: Pipeline, instance: dg.DagsterInstance) -> list[dg.AssetKey] | None:
    """What is left to do when the newest snapshot is still valid: the assets after it, or only
    `published` when every table's anonymized checkpoint already matches policy, key and checks."""
    from assets.assets import anonymized_key, latest_ref, snapshot_key
    from data_pipeline.releases import newest_raw_snapshot

    snapshot = newest_raw_snapshot(pipeline)
    if snapshot is None:
        return None
    tables = pipeline.schema.names
    try:
        snaps = {t: latest_ref(instance, snapshot_key(t)) for t in tables}
    except dg.Failure:
        return None
    if any(not ref.id.startswith(snapshot.batch + "/") for ref in snaps.values()):
        return None
    for ref in snaps.values():
        pipeline.vault.manifest(ref)  # sha256 verified: a corrupt checkpoint is never resumed from
    downstream = [anonymized_key(t) for t in tables] + [dg.AssetKey("published")]
    try:
        anons = {t: latest_ref(instance, anonymized_key(t)) for t in tables}
    except dg.Failure:
        return downstream
    for table, ref in anons.items():
        manifest = pipeline.anonymized.manifest(ref) if pipeline.anonymized.has(ref.id) else None
        if manifest is None or not pipeline.is_current(manifest, snaps[table].id):
            return downstream
    if pipeline.unchecked_or_failed(anons):
        return downstream
    return [dg.AssetKey("published")]


def run_once(
    settings: Settings,
    console: Console,
    *,
    allow_destructive: bool = False,
    resume: bool = False,
    require_snapshot: bool = False,
) -> int:
    """0 published, 1 a blocking check failed (nothing published), 2 bad input."""
    from assets.assets import all_partitions_tags
    from assets.definitions import build_definitions
    from assets.schedules import ANONYMIZED_COPY_JOB

    pipeline = Pipeline(settings)
    with run_lock(settings.home):
        pipeline.preflight()  # bad URL, policy, key: exit 2 before anything is copied
        plan = pipeline.plan()
        console.print(plan.render(), markup=False, highlight=False)
        if plan.destructive and not allow_destructive:
            raise BadInput(
                f"{len(plan.destructive)} destructive schema change(s) against release "
                f"{plan.previous_release}; nothing was copied. Re-run with --allow-destructive to accept."
            )
        tables = pipeline.schema.names
        prepare_dagster_home(settings)
        defs = build_definitions(settings, loggers={"progress": progress_logger(console)})
        job = defs.resolve_job_def(ANONYMIZED_COPY_JOB)
        with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
            selection = resumable(pipeline, instance) if resume or require_snapshot else None
            if require_snapshot and selection is None:
                raise BadInput(
                    "no raw checkpoint within retention to roll forward from: run `data-pipeline run`"
                )
            if selection:
                console.print(f"resuming from the newest valid checkpoints: {len(selection)} asset(s) to run")
            console.print("running snapshot -> anonymize (forward-only) -> checks -> publish")
            result = job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                asset_selection=selection,
                run_config={"loggers": {"progress": {}}},  # instead of Dagster's verbose console
                tags=all_partitions_tags(job.partitions_def),  # partitioned tables: every part, one run
            )
            return report(result, tables, console)


def report(result: dg.ExecuteInProcessResult, tables: tuple[str, ...], console: Console) -> int:
    materialized = {
        tuple(e.asset_key.path): e.step_materialization_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    failed_checks = [e for e in result.get_asset_check_evaluations() if not e.passed]
    from assets.assets import key_part

    console.print("summary:")
    for table in tables:
        snap = materialized.get(("snapshot", key_part(table)))
        anon = materialized.get(("anonymized", key_part(table)))
        rows = lambda m: m["dagster/row_count"].value if m else "-"  # noqa: E731
        bad = [e.check_name for e in failed_checks if e.asset_key.path[-1] == key_part(table)]
        status = "[red]checks failed: " + ", ".join(bad) + "[/red]" if bad else "[green]ok[/green]"
        console.print(f"  {table:<20} snapshot {rows(snap):>9}  anonymized {rows(anon):>9}  {status}")
    published = materialized.get(("published",))
    if result.success and published:
        number = published["release"].value
        console.print(
            f"[bold green]release {number}[/bold green] published to "
            f"{published['target'].value} ({published['dagster/row_count'].value} rows)"
        )
        console.print("open the UI: dagster dev -m assets.definitions  (then http://127.0.0.1:3000)")
        return 0
    blocking = [e for e in failed_checks if e.severity == dg.AssetCheckSeverity.ERROR]
    for e in failed_checks:
        desc = e.description or ""
        console.print(f"[red]check failed[/red] {e.asset_key.to_user_string()}:{e.check_name} {desc}")
    failures = [
        e
        for e in result.all_events
        if e.is_step_failure and "AssetCheckFailed" not in (e.step_failure_data.error.cls_name or "")
    ]
    for event in failures:
        error = event.step_failure_data.error
        while (
            error is not None and error.cause is not None and "DagsterExecutionStep" in (error.cls_name or "")
        ):
            error = error.cause  # the user code's own error, not Dagster's wrapper
        message = f"{error.cls_name}: {error.message.strip().splitlines()[0]}" if error else "step failed"
        console.print(f"[red]step failed[/red] {event.step_key}: {message}")
    console.print("[red]nothing was published[/red]")
    if blocking or any(
        e.step_failure_data.error and "ChecksFailed" in (e.step_failure_data.error.cls_name or "")
        for e in failures
    ):
        return 1
    return (
        2
        if any(
            e.step_failure_data.error and "BadInput" in (e.step_failure_data.error.cls_name or "")
            for e in failures
        )
        else 1
    )
