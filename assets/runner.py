"""The evaluator of a run's plan through Dagster, and its result as an exit code.

The same asset graph the UI and the nightly schedule use. A run executes in process, or, with
`processes` > 1, on Dagster's multiprocess executor: steps side by side, each in its own process
(the default for a source of PARALLEL_ROWS rows or more, where the cores pay for the processes). It
selects exactly the assets and checks of the plan's stages, and `executed_steps` reads back which
plan steps ran, so a test can hold the two equal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path

import dagster as dg
from dagster_shared.error import SerializableErrorInfo
from rich.console import Console

from assets.execution import EXECUTOR_CONFIG_ENV, EXECUTOR_ENV, PROCESSES_ENV, start_forkserver
from assets.instance import run_instance
from assets.resources import PLANNED_ENV, export_settings, planned_with
from data_pipeline import source_state, supervise, terminal
from data_pipeline.config import Settings, load_settings
from data_pipeline.context import Context
from data_pipeline.errors import BadInput
from data_pipeline.locks import run_lock
from data_pipeline.partitions import Part, Partitioning
from data_pipeline.plan import Anonymize, Inventory, Plan, Snapshot, Step, build_plan
from data_pipeline.releases import newest_raw_snapshot
from data_pipeline.schema import Schema
from data_pipeline.stages.anonymize import finished_part, is_current
from data_pipeline.stages.check import unchecked_or_failed

DAGSTER_YAML = """\
# Embedded default: Dagster's own storage is SQLite under DP_HOME/dagster.
telemetry:
  enabled: false
nux:
  enabled: false
# Dagster's DEBUG lines (each step process says it started) stay off the terminal; every event is
# stored whatever its level, so the UI shows the runs in full
python_logs:
  python_log_level: INFO
"""


def prepare_dagster_home(settings: Settings) -> Path:
    """Private (0700): Dagster's storage holds run history, whose errors are scrubbed but are still
    nobody else's business."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    home.chmod(0o700)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return home


# estimated source rows from which `run` uses every core by default (measured: bench/README.md)
PARALLEL_ROWS = 5_000_000
Result = dg.ExecuteInProcessResult | dg.JobExecutionResult  # in process / multiprocess

BAD_INPUT = ("BadInput", "RawValueError", "DiskFull")  # step failures the user fixes: exit 2
BUSY = ("Busy", "TargetBusy")  # another session holds the target: exit 4, run again later
PROGRESS_PREFIXES = ("snapshot/", "anonymized/", "published ")


def progress_logger(console: Console) -> dg.LoggerDefinition:
    """The CLI's Dagster logger: one line per table as steps finish, nothing else (the steps' own
    messages carry ids and counts only, never values)."""

    class _Progress(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            meta = getattr(record, "dagster_meta", None) or {}
            event = meta.get("dagster_event")
            if event is not None and event.event_type_value == "STEP_START":
                supervise.breadcrumb(event.step_key)  # where a crash in compiled code happened
            message = str(meta.get("orig_message") or record.getMessage().rsplit(" - ", 1)[-1])
            if record.levelno >= logging.INFO and message.startswith(PROGRESS_PREFIXES):
                console.print(f"  {message}", markup=False, highlight=False)

    @dg.logger(description="Per-table progress lines for `data-pipeline run`.")
    def rich_progress(_init_context: dg.InitLoggerContext) -> logging.Logger:
        log = logging.Logger("data_pipeline.progress", level=logging.DEBUG)  # DEBUG: step starts
        log.addHandler(_Progress())
        return log

    return rich_progress


def inventory(ctx: Context, instance: dg.DagsterInstance, parts: Partitioning) -> Inventory:
    """What Dagster last materialized that a resumed run may start from: the newest snapshot within
    retention (every checkpoint verified: a corrupt one is never resumed from), and per table
    whether its anonymized checkpoint is current (that snapshot, policy and key) and passed; a table
    in parts, whether every part is."""
    from assets.assets import anonymized_key, latest_ref, snapshot_key

    snapshot = newest_raw_snapshot(ctx)
    if snapshot is None:
        return Inventory()
    tables = ctx.schema.names
    try:
        snaps = {t: latest_ref(instance, snapshot_key(t)) for t in tables}
    except dg.Failure:
        return Inventory()
    if any(not ref.id.startswith(snapshot.batch + "/") for ref in snaps.values()):
        return Inventory()
    for ref in snaps.values():
        ctx.vault.manifest(ref)  # sha256 verified
    anons = {}
    for table in tables:
        if table not in parts:
            with contextlib.suppress(dg.Failure):  # never materialized
                anons[table] = latest_ref(instance, anonymized_key(table))
    failed = set(unchecked_or_failed(ctx, anons))
    current = {
        table: table not in failed
        and ctx.anonymized.has(ref.id)
        and is_current(ctx, ctx.anonymized.manifest(ref), snaps[table].id)
        for table, ref in anons.items()
    }
    for table in parts.tables:  # current when every part is: a resumed run reuses them one by one
        current[table] = all(
            finished_part(ctx, snaps[table], Part.from_key(k, parts.count)) for k in parts.keys
        )
    return Inventory(snapshot.batch, snaps, current)


def selection(plan: Plan, steps: dict[str, Step], defs: dg.Definitions) -> list[dg.AssetKey] | None:
    """The asset keys of the plan's steps (None: the whole job), so Dagster runs exactly them."""
    wanted = set(plan.steps)
    if wanted == set(steps.values()):
        return None
    graph = defs.resolve_asset_graph()
    keys = []
    for key in graph.get_all_asset_keys():
        node = graph.get(key).assets_def.node_def.name
        if steps.get(node) in wanted:
            keys.append(key)
    return keys


def step_map(defs: dg.Definitions, schema: Schema) -> dict[str, Step]:
    """Dagster step key (node name) -> the plan step it runs."""
    from assets.assets import anonymized_key, key_part

    names = {key_part(t): t for t in schema.names}
    out: dict[str, Step] = {}
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key).assets_def.node_def.name
        if key.path[0] == "snapshot":
            out[node] = Step(Snapshot.name)
        elif key.path[0] == "anonymized":
            out[node] = Step(Anonymize.name, names[key.path[-1]])
        elif key.path[0] == "published":
            out[node] = Step("publish")
    for checks_def in defs.asset_checks or ():
        for check_key in checks_def.check_keys:
            table = names[check_key.asset_key.path[-1]]
            assert check_key.asset_key == anonymized_key(table)
            out[checks_def.node_def.name] = Step("check", table)
    return out


def executed_steps(result: Result, steps: dict[str, Step]) -> tuple[Step, ...]:
    """The plan steps Dagster started, in the order it started them."""
    started = [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]
    return tuple(steps[key.split("[")[0]] for key in started)


def run_once(
    settings: Settings,
    console: Console,
    *,
    allow_destructive: bool = False,
    resume: bool = False,
    require_snapshot: bool = False,
    processes: int | None = None,
) -> int:
    """0 published, 1 a blocking check failed (nothing published), 2 bad input."""
    return execute(
        settings,
        console,
        allow_destructive=allow_destructive,
        resume=resume,
        require_snapshot=require_snapshot,
        processes=processes,
    )[0]


def execute(
    settings: Settings,
    console: Console,
    *,
    allow_destructive: bool = False,
    resume: bool = False,
    require_snapshot: bool = False,
    processes: int | None = None,
) -> tuple[int, Plan, tuple[Step, ...]]:
    """Plan, show, then run exactly the plan: (exit code, the plan, the plan steps executed).
    `processes`: how many steps run at once (None: `default_processes` of the source)."""
    from assets.assets import all_partitions_tags
    from assets.definitions import build_definitions
    from assets.schedules import ANONYMIZED_COPY_JOB

    ctx = Context(settings)
    with run_lock(settings.home):
        ctx.preflight()  # bad URL, policy, key: exit 2 before anything is copied
        state = source_state.current(ctx)
        prepare_dagster_home(settings)
        processes = processes or default_processes(state.estimates)
        if processes > 1:  # the executor the step processes build: multiprocess, this wide
            if os.environ.get(EXECUTOR_ENV, "multiprocess") != "multiprocess":
                os.environ.pop(EXECUTOR_CONFIG_ENV, None)  # another executor's config
            os.environ.update({EXECUTOR_ENV: "multiprocess", PROCESSES_ENV: str(processes)})
            os.environ[PLANNED_ENV] = state.digest  # the steps work on the schema planned on
            export_settings(settings)
            start_forkserver()  # its imports overlap the planning below
        with run_instance(settings.dagster_home) as instance:
            known = inventory(ctx, instance, state.parts) if resume or require_snapshot else None
            plan = build_plan(ctx, state.parts, known)
            console.print(plan.render(), markup=False, highlight=False)
            if plan.destructive and not allow_destructive:
                raise BadInput(
                    f"{len(plan.destructive)} destructive schema change(s) against release "
                    f"{plan.previous_release}; nothing was copied. Re-run with --allow-destructive to accept."
                )
            if plan.destructive:
                source_state.allow(settings, state.digest)  # the publish step checks it too
            if require_snapshot and plan.stage(Snapshot) is not None:
                raise BadInput(
                    "no raw checkpoint within retention to roll forward from: run `data-pipeline run`"
                )
            defs = build_definitions(settings, loggers={"progress": progress_logger(console)}, state=state)
            job = defs.resolve_job_def(ANONYMIZED_COPY_JOB)
            steps = step_map(defs, ctx.schema)
            keys = selection(plan, steps, defs)
            if keys is not None:
                console.print(f"resuming from the newest valid checkpoints: {len(plan.steps)} step(s) to run")
            console.print("running snapshot -> anonymize (forward-only) -> checks -> publish")
            tags = all_partitions_tags(job.partitions_def)  # partitioned tables: every part, one run
            run_config = {"loggers": {"progress": {}}}  # instead of Dagster's verbose console

            def finished(result: Result) -> tuple[int, Plan, tuple[Step, ...]]:
                return report(result, ctx.schema.names, console, steps), plan, executed_steps(result, steps)

            if processes > 1:
                with dg.execute_job(
                    dg.reconstructable(run_job),
                    instance=instance,
                    run_config=run_config,
                    tags=tags,
                    asset_selection=keys,
                ) as result:
                    return finished(result)
            with planned_with(ctx):
                result = job.execute_in_process(
                    instance=instance,
                    raise_on_error=False,
                    asset_selection=keys,
                    run_config=run_config,
                    tags=tags,
                )
            return finished(result)


def default_processes(estimates: dict[str, int]) -> int:
    """One process for a source that a run copies in seconds; every core for a big one."""
    if sum(estimates.values()) < PARALLEL_ROWS:
        return 1
    return max(1, len(os.sched_getaffinity(0)))


def run_job() -> dg.JobDefinition:
    """The job `execute` hands the multiprocess executor, rebuilt in each step process from what the
    run exported (settings, DP_PROCESSES) and stored (the source state), printing the same progress."""
    from assets.definitions import build_definitions
    from assets.schedules import ANONYMIZED_COPY_JOB

    defs = build_definitions(load_settings(), loggers={"progress": progress_logger(terminal.console())})
    return defs.resolve_job_def(ANONYMIZED_COPY_JOB)


def report(
    result: Result,
    tables: tuple[str, ...],
    console: Console,
    steps: dict[str, Step] | None = None,
) -> int:
    materialized = {
        tuple(e.asset_key.path): e.step_materialization_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    failed_checks = [e for e in result.get_asset_check_evaluations() if not e.passed]
    from assets.assets import key_part

    steps = steps or {}
    failed_steps = [steps.get(e.step_key.split("[")[0]) for e in result.all_events if e.is_step_failure]
    console.print("summary:")
    for table in tables:
        snap = materialized.get(("snapshot", key_part(table)))
        anon = materialized.get(("anonymized", key_part(table)))
        rows = lambda m: m["dagster/row_count"].value if m else "-"  # noqa: E731
        bad = [e.check_name for e in failed_checks if e.asset_key.path[-1] == key_part(table)]
        status = table_status(table, failed_steps, bad, done=anon is not None or result.success)
        console.print(f"  {table:<20} snapshot {rows(snap):>9}  anonymized {rows(anon):>9}  {status}")
    published = next((m for path, m in materialized.items() if path[0] == "published"), None)
    if result.success and published:
        number = published["release"].value
        console.print(
            f"[bold green]release {number}[/bold green] published to "
            f"{published['target'].value} ({published['release_rows'].value} rows)"
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
    errors = [user_error(event.step_failure_data.error) for event in failures]
    for event, error in zip(failures, errors, strict=True):
        console.print(f"[red]step failed[/red] {event.step_key}: {failure_line(error)}", highlight=False)
    names = {error.cls_name for error in errors if error is not None}
    if "PublishedUnrecorded" in names:  # the target took the release; only its record failed
        return 5
    console.print("[red]nothing was published[/red]")
    if blocking or "ChecksFailed" in names:
        return 1
    if names & set(BUSY):
        return 4
    return 2 if names & set(BAD_INPUT) else 1


def table_status(table: str, failed: list[Step | None], bad_checks: list[str], *, done: bool) -> str:
    """`ok` only for a table whose steps all ran and passed in this run (or were reused by it)."""
    mine = [s.stage for s in failed if s is not None and s.table in (None, table) and s.stage != "publish"]
    if mine:
        return f"[red]failed: {', '.join(dict.fromkeys(mine))}[/red]"
    if bad_checks:
        return "[red]checks failed: " + ", ".join(bad_checks) + "[/red]"
    return "[green]ok[/green]" if done else "[yellow]not run[/yellow]"


def failure_line(error: SerializableErrorInfo | None) -> str:
    """`Class: first line`, once (Dagster's message already starts with the qualified class name)."""
    if error is None:
        return "step failed"
    first = error.message.strip().splitlines()[0] if error.message.strip() else ""
    first = re.sub(rf"^[\w.]*\b{re.escape(error.cls_name or '')}:\s*", "", first)
    return f"{error.cls_name}: {first}"


def user_error(error: SerializableErrorInfo | None) -> SerializableErrorInfo | None:
    """The user code's own error, not Dagster's wrapper around it."""
    while error is not None and error.cause is not None and "DagsterExecutionStep" in (error.cls_name or ""):
        error = error.cause
    return error
