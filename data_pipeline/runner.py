"""Run the whole pipeline once through Dagster, in process, and turn the result into an exit code.

The same asset graph the UI and the nightly schedule use; only the executor differs (in process).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from rich.console import Console

from data_pipeline.config import Settings, redact_url
from data_pipeline.pipeline import Pipeline

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


def run_once(settings: Settings, console: Console) -> int:
    """0 published, 1 a blocking check failed (nothing published), 2 bad input."""
    from assets.definitions import build_definitions
    from assets.schedules import ANONYMIZED_COPY_JOB

    pipeline = Pipeline(settings)
    pipeline.preflight()  # bad URL, policy, key: exit 2 before anything is copied
    tables = pipeline.schema.names
    console.print(
        f"source {redact_url(settings.source_url)}: {len(tables)} tables; "
        f"target {redact_url(settings.target_url)}"
    )
    prepare_dagster_home(settings)
    defs = build_definitions(settings)
    job = defs.resolve_job_def(ANONYMIZED_COPY_JOB)
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        with console.status("running snapshot -> anonymize -> checks -> publish"):
            result = job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            )
        return report(result, tables, console)


def report(result: dg.ExecuteInProcessResult, tables: tuple[str, ...], console: Console) -> int:
    materialized = {
        tuple(e.asset_key.path): e.step_materialization_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    failed_checks = [
        e for e in result.get_asset_check_evaluations() if not e.passed
    ]
    for table in tables:
        snap = materialized.get(("snapshot", table))
        anon = materialized.get(("anonymized", table))
        rows = lambda m: m["dagster/row_count"].value if m else "-"  # noqa: E731
        bad = [e.check_name for e in failed_checks if e.asset_key.path[-1] == table]
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
        e for e in result.all_events
        if e.is_step_failure and "AssetCheckFailed" not in (e.step_failure_data.error.cls_name or "")
    ]
    for event in failures:
        error = event.step_failure_data.error
        message = error.message.strip().splitlines()[0] if error else "step failed"
        console.print(f"[red]step failed[/red] {event.step_key}: {message}")
    console.print("[red]nothing was published[/red]")
    if blocking or any(
        e.step_failure_data.error and "ChecksFailed" in (e.step_failure_data.error.cls_name or "")
        for e in failures
    ):
        return 1
    return 2 if any(
        e.step_failure_data.error and "BadInput" in (e.step_failure_data.error.cls_name or "")
        for e in failures
    ) else 1
