"""`data-pipeline`: the command line. Exit codes: 0 ok, 1 a blocking check failed, 2 bad input,
3 refused because it would cross a forward-only step."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr
from functools import wraps
from pathlib import Path
from typing import Annotated, TextIO, TypeVar

import typer
from rich.table import Table as RichTable

from data_pipeline import supervise, terminal
from data_pipeline.config import Settings, load_settings, redact_url
from data_pipeline.errors import NO_SPACE, BadInput, PipelineError, PublishedUnrecorded, disk_full, reason
from data_pipeline.imports import collector_paused

app = typer.Typer(
    help="The third pipeline: anonymized, validated, forward-only releases of production data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = terminal.console()
err = terminal.console(stderr=True)
F = TypeVar("F", bound=Callable[..., object])

SourceOpt = Annotated[str | None, typer.Option("--source", help="Source SQLAlchemy URL [DP_SOURCE_URL]")]
TargetOpt = Annotated[str | None, typer.Option("--target", help="Target SQLAlchemy URL [DP_TARGET_URL]")]
PolicyOpt = Annotated[Path | None, typer.Option("--policy", help="Policy YAML [DP_POLICY]")]
HomeOpt = Annotated[Path | None, typer.Option("--home", help="State directory [DP_HOME]")]
SubsetOpt = Annotated[
    list[str] | None,
    typer.Option("--subset", help="Copy a slice: TABLE=N% (keyed) or 'TABLE:SQL condition'; repeatable"),
]
SubsetOtherOpt = Annotated[
    str | None, typer.Option("--subset-other", help="Tables the subset never reaches: copy (default), empty")
]


def fails_cleanly(fn: F) -> F:
    """Our errors become one red line and their exit code, never a traceback; so does a full disk,
    wherever it stops the command (exit 2)."""

    @wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return fn(*args, **kwargs)
        except PipelineError as exc:
            err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:
            try:
                home = load_settings(home=kwargs.get("home")).home  # type: ignore[arg-type]
            except Exception:  # noqa: BLE001 - the original error is the one to show
                raise exc from None
            if not disk_full(exc, home):
                raise
            err.print(
                f"[red]error:[/red] {NO_SPACE} ({type(exc).__name__}) under DP_HOME {home}: free space "
                "there, or point DP_HOME elsewhere, and run again",
                markup=True,
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


class _WithoutEventLogNoise:
    """stderr without Dagster's 'Exception while writing logger call to event log' dumps (SQL and
    event JSON, many lines): the run reports that failure itself, in one line."""

    NOISE = "Exception while writing logger call to event log"

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return len(text) if text.startswith(self.NOISE) else self.stream.write(text)

    def __getattr__(self, name: str) -> object:
        return getattr(self.stream, name)


def _held(settings: Settings) -> tuple[int, str] | None | str:
    """(release, published at) of the target's newest release; None: none; "unknown": unreadable."""
    from data_pipeline.context import Context

    try:
        history = Context(settings).target_history()
    except Exception:  # noqa: BLE001 - an unreachable target is the run's to report
        return "unknown"
    return (history[-1].release, history[-1].published_at) if history else None


@contextmanager
def accounted(settings: Settings) -> Iterator[None]:
    """A run whose own bookkeeping fails (Dagster's storage on a full disk) after the target took the
    release says so (exit 5): the target, not the failed run, tells whether it was published."""
    before = _held(settings)
    try:
        with redirect_stderr(_WithoutEventLogNoise(sys.stderr)):
            yield
    except PipelineError:
        raise
    except Exception as exc:
        after = _held(settings)
        if before != "unknown" and isinstance(after, tuple) and after != before:
            why = reason(exc, settings.home)
            target = redact_url(settings.target_url)
            raise PublishedUnrecorded(after[0], target, "Dagster's storage", why) from None
        raise


def _settings(
    source: str | None = None,
    target: str | None = None,
    policy: Path | None = None,
    home: Path | None = None,
    suites: Path | None = None,
) -> Settings:
    return load_settings(home=home, source_url=source, target_url=target, policy=policy, suites=suites)


def _with_subset(settings: Settings, subset: list[str] | None, other: str | None) -> Settings:
    from dataclasses import replace

    if not subset and not other:
        return settings
    chosen = tuple(subset or settings.subset)
    return replace(settings, subset=chosen, subset_other=other or settings.subset_other)


@app.command()
@fails_cleanly
def keygen(home: HomeOpt = None) -> None:
    """Create the anonymization key in DP_HOME (mode 0600) unless one exists. Never printed."""
    settings = _settings(home=home)
    from data_pipeline.keys import generate_key_file

    created = generate_key_file(settings.key_file)
    console.print(f"{'created' if created else 'kept existing'} key file {settings.key_file} (mode 0600)")


@app.command("demo-source")
@fails_cleanly
def demo_source(
    rows: Annotated[int, typer.Option(help="Customers; other tables scale with it")] = 1000,
    out: Annotated[Path | None, typer.Option(help="SQLite file to write")] = None,
    home: HomeOpt = None,
) -> None:
    """Write the demo "production" shop database (SQLite, Faker-made)."""
    from data_pipeline.demo import build_demo_source

    if rows < 1:
        raise BadInput("--rows must be at least 1")
    path = out or _settings(home=home).demo_source_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with console.status(f"building demo source with {rows} customers"):
        counts = build_demo_source(path, rows=rows)
    console.print(f"wrote {path}: " + ", ".join(f"{t} {n}" for t, n in counts.items()))


@app.command()
@fails_cleanly
def scan(
    source: SourceOpt = None,
    out: Annotated[Path | None, typer.Option(help="Write the proposed policy here")] = None,
    home: HomeOpt = None,
) -> None:
    """Propose a policy that classifies every column (pii/quasi/key/safe/unknown)."""
    from data_pipeline.context import ensure_demo_source
    from data_pipeline.db import check_reachable, make_engine
    from data_pipeline.scan import policy_to_yaml, propose_policy

    settings = _settings(source=source, home=home)
    ensure_demo_source(settings)
    engine = make_engine(settings.source_url, role="source")
    check_reachable(engine, "source")
    draft = propose_policy(engine, k=settings.k_anonymity)
    text = policy_to_yaml(draft)
    flagged = f"; {len(draft.flags)} proposal(s) flagged `# CHECK:`" if draft.flags else ""
    if out:
        out.write_text(text)
        console.print(
            f"wrote proposed policy to {out}{flagged}: review it, then `data-pipeline run --policy {out}`"
        )
    else:
        sys.stdout.write(text)
        if flagged:
            err.print(flagged.removeprefix("; "), markup=False, highlight=False)


@app.command()
@fails_cleanly
def run(
    source: SourceOpt = None,
    target: TargetOpt = None,
    policy: PolicyOpt = None,
    home: HomeOpt = None,
    allow_destructive: Annotated[bool, typer.Option(help="Accept destructive schema changes")] = False,
    resume: Annotated[bool, typer.Option(help="Reuse the newest valid checkpoints (no re-extract)")] = False,
    subset: SubsetOpt = None,
    subset_other: SubsetOtherOpt = None,
    processes: Annotated[
        int | None,
        typer.Option(
            min=1,
            envvar="DP_PROCESSES",
            help="Steps at once, each in its own process (Dagster's multiprocess executor); "
            "default 1, or every core for a source of 5M rows or more [DP_PROCESSES]",
        ),
    ] = None,
) -> None:
    """Snapshot, anonymize, check and publish everything once, through Dagster."""
    with collector_paused():
        from assets.runner import run_once

    settings = _with_subset(_settings(source, target, policy, home), subset, subset_other)
    if supervise.wanted():  # a crash in compiled code gets one line from the parent (supervise.py)
        code = supervise.fork(settings.home, lambda *crash: _crashed(settings, *crash))
        if code is not None:
            supervise.exiting()
            raise typer.Exit(code)
    with accounted(settings):
        code = run_once(
            settings, console, allow_destructive=allow_destructive, resume=resume, processes=processes
        )
    if code == 0:
        _hint_suites(settings)
    supervise.exiting()
    raise typer.Exit(code)


def _crashed(settings: Settings, signum: int, where: str, details: Path) -> None:
    """The one line a run that died by a signal leaves, instead of a bare 'Segmentation fault'."""
    import signal

    from rich.markup import escape

    held = _held(settings)
    target = "the target could not be read"
    if held != "unknown":
        target = f"the target holds {f'release {held[0]}' if isinstance(held, tuple) else 'no release'}"
    if not where.startswith("published"):  # only the publish step writes the target, in one transaction
        target = "nothing was published: " + target.replace(" holds ", " still holds ")
    name = signal.Signals(signum).name
    line = f"the run crashed ({name}) in {where or 'its setup'}; {target}; details: {details}"
    err.print(f"[red]error:[/red] {escape(line)}", markup=True, highlight=False, soft_wrap=True)


def _hint_suites(settings: Settings) -> None:
    """A source of your own starts without expectation suites (the demo's are for the demo)."""
    if settings.suites_dir.is_dir() and any(settings.suites_dir.glob("*.json")):
        return
    console.print(
        f"no expectation suites in {settings.suites_dir}: draft them from this release with "
        "`data-pipeline expectations init`, review them, and later runs validate against them",
        markup=False,
        highlight=False,
    )


@app.command()
@fails_cleanly
def plan(
    source: SourceOpt = None,
    target: TargetOpt = None,
    policy: PolicyOpt = None,
    home: HomeOpt = None,
    subset: SubsetOpt = None,
    subset_other: SubsetOtherOpt = None,
) -> None:
    """Show the next run's stages, forward-only marks and schema changes. Changes nothing."""
    from data_pipeline import source_state
    from data_pipeline.context import Context
    from data_pipeline.plan import build_plan

    ctx = Context(_with_subset(_settings(source, target, policy, home), subset, subset_other))
    _ = ctx.policy, ctx.subset  # an unclassified column or a bad subset is refused here too
    the_plan = build_plan(ctx, source_state.peek(ctx).parts)
    console.print(the_plan.render(), markup=False, highlight=False)
    if the_plan.destructive:
        console.print("destructive changes: `run` refuses them unless --allow-destructive")


@app.command()
@fails_cleanly
def refresh(
    source: SourceOpt = None,
    home: HomeOpt = None,
    allow_destructive: Annotated[
        bool, typer.Option(help="Accept the source's destructive schema changes for the next release")
    ] = False,
) -> None:
    """Store the source's schema, row estimates and partition layout for the code location."""
    from data_pipeline import source_state
    from data_pipeline.context import Context

    ctx = Context(_settings(source=source, home=home))
    stored = source_state.load(ctx.settings)
    if stored is not None:
        found = source_state.drift(ctx.settings, stored, ctx.schema)
        for change in found.changes:
            console.print(f"  {change}", markup=False, highlight=False)
        if allow_destructive and found.destructive:
            source_state.allow(ctx.settings, found.digest)
            console.print(f"allowed {len(found.destructive)} destructive change(s) for the next release")
            return  # the sensor (or the next run) refreshes the state and releases
    state = source_state.refresh(ctx)
    tables = ", ".join(state.parts.tables)
    parts = f"{state.parts.count} parts for {tables}" if tables else "no parts"
    count = len(state.schema.tables)
    console.print(f"source state refreshed: {count} tables, {parts}, digest {state.digest}")


@app.command()
@fails_cleanly
def rollback(
    to: Annotated[str, typer.Option("--to", help="Release number, or `raw` (always refused)")],
    target: TargetOpt = None,
    source: SourceOpt = None,
    policy: PolicyOpt = None,
    home: HomeOpt = None,
) -> None:
    """Re-publish release N's anonymized checkpoints atomically (exit 3 if that crosses anonymization)."""
    from data_pipeline.context import Context
    from data_pipeline.locks import run_lock
    from data_pipeline.releases import rollback as do_rollback

    settings = _settings(source, target, policy, home)
    with run_lock(settings.home):
        the_plan, release = do_rollback(Context(settings), to)
    console.print(the_plan.render(), markup=False, highlight=False)
    console.print(f"target {redact_url(settings.target_url)} now holds release {release.number} again")


@app.command()
@fails_cleanly
def revoke(
    release: Annotated[int, typer.Argument(help="Release whose policy leaked")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the ledger)")] = "policy leaks",
    target: TargetOpt = None,
    home: HomeOpt = None,
) -> None:
    """Mark a release's policy as leaking: its releases are never re-published again."""
    from data_pipeline.context import Context
    from data_pipeline.releases import revoke as do_revoke

    settings = _settings(target=target, home=home)
    revoked = do_revoke(Context(settings), release, reason)
    console.print(
        f"revoked policy {revoked.policy_digest[:12]} of release {release}; "
        "roll forward with a fixed policy: data-pipeline roll-forward --policy FILE"
    )


@app.command("roll-forward")
@fails_cleanly
def roll_forward(
    source: SourceOpt = None, target: TargetOpt = None, policy: PolicyOpt = None, home: HomeOpt = None
) -> None:
    """Re-anonymize the newest raw checkpoint within retention with the current policy; publish."""
    from assets.runner import run_once

    settings = _settings(source, target, policy, home)
    with accounted(settings):
        code = run_once(settings, console, require_snapshot=True)
    raise typer.Exit(code)


@app.command()
@fails_cleanly
def purge(home: HomeOpt = None, target: TargetOpt = None) -> None:
    """Delete expired raw checkpoints (and anonymized ones beyond DP_KEEP_RELEASES), then verify."""
    from data_pipeline.context import Context
    from data_pipeline.retention import purge as do_purge

    report = do_purge(Context(_settings(home=home, target=target)))
    console.print(
        f"purged {len(report.raw_removed)} raw and {len(report.anonymized_removed)} anonymized "
        f"checkpoint(s); kept {report.raw_kept} raw, {report.anonymized_kept} anonymized"
    )


@app.command()
@fails_cleanly
def gate(
    target: TargetOpt = None,
    release: Annotated[int | None, typer.Option(help="Require the target to hold this release")] = None,
    suites: Annotated[Path | None, typer.Option(help="Suite directory [DP_SUITES]")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML here")] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write a Markdown summary here")] = None,
    strict: Annotated[bool, typer.Option(help="Failed warnings fail the gate too")] = False,
    home: HomeOpt = None,
    gx_dir: Annotated[
        Path | None,
        typer.Option(help="A GX File Data Context (its gx/ directory): its suites and Data Docs [DP_GX_DIR]"),
    ] = None,
) -> None:
    """Validate every row of the published target against the expectation suites, in the database
    (exit 0 pass, 1 fail, 2 error)."""
    import dataclasses

    from data_pipeline.config import gx_project
    from data_pipeline.gate import run_gate

    settings = _settings(target=target, home=home, suites=suites)
    if gx_dir is not None:
        settings = dataclasses.replace(settings, gx_dir=gx_project(gx_dir))
    code = run_gate(settings, release=release, junit=junit, markdown=markdown, strict=strict, console=console)
    raise typer.Exit(code)


@app.command()
@fails_cleanly
def releases(target: TargetOpt = None, home: HomeOpt = None) -> None:
    """List the releases published to the target, newest last: this DP_HOME's ledger, and what the
    target itself records (releases published from elsewhere)."""
    from data_pipeline.context import Context
    from data_pipeline.releases import UNRECORDED, history

    settings = _settings(target=target, home=home)
    table = RichTable(title=f"releases of {redact_url(settings.target_url)}")
    for column in ("release", "kind", "published at", "tables", "rows", "policy", "key epoch", "note"):
        table.add_column(column)
    for r in history(Context(settings)):
        elsewhere = r.kind == UNRECORDED
        table.add_row(
            str(r.number),
            r.kind,
            r.published_at[:19],
            str(len(r.checkpoints) if elsewhere else len(r.rows)),
            "?" if elsewhere else str(sum(r.rows.values())),
            r.policy_digest[:12],
            r.key_epoch or "?",
            "REVOKED" if r.revoked else "only the target records it" if elsewhere else "",
        )
    console.print(table)


@app.command()
@fails_cleanly
def verify(source: SourceOpt = None, target: TargetOpt = None, home: HomeOpt = None) -> None:
    """Compare the target's schema with the source's and its rows with the release (exit 0 equal, 1 not)."""
    from data_pipeline import verify as check
    from data_pipeline.context import Context
    from data_pipeline.publish import published_release
    from data_pipeline.schema import Schema

    ctx = Context(_settings(source=source, target=target, home=home))
    release = ctx.ledger.current(ctx.settings.target_url)
    held = published_release(ctx.target, ctx.settings.target_schema)
    if release is None or held is None:
        raise BadInput(f"target {redact_url(ctx.settings.target_url)} holds no release to verify")
    schema = Schema.from_dict(release.schema) if release.schema else ctx.schema
    differences, compared = check.published(
        ctx.source,
        ctx.target,
        schema,
        source_schema=ctx.settings.source_schema,
        target_schema=ctx.settings.target_schema,
        rows=release.rows if held == release.number else None,
    )
    if held != release.number:
        differences.insert(0, f"the target holds release {held}, the ledger's last is {release.number}")
    for line in differences:
        console.print(f"  {line}", markup=False, highlight=False)
    if differences:
        console.print(f"[red]verify failed[/red]: {len(differences)} difference(s) from the source")
        raise typer.Exit(1)
    console.print(f"verified release {held}: {compared} objects as in the source, rows as published")


expectations_app = typer.Typer(help="Great Expectations suites.", no_args_is_help=True)
app.add_typer(expectations_app, name="expectations")


@expectations_app.command("init")
@fails_cleanly
def expectations_init(
    release: Annotated[int | None, typer.Option(help="Require the target to hold this release")] = None,
    suites: Annotated[Path | None, typer.Option(help="Where to write the drafts [DP_SUITES]")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite existing suites")] = False,
    target: TargetOpt = None,
    home: HomeOpt = None,
) -> None:
    """Draft one suite per table from a published (anonymized) release, for you to edit."""
    from data_pipeline.gate import draft_suites

    settings = _settings(target=target, home=home, suites=suites)
    written = draft_suites(settings, release=release, force=force)
    for path in written:
        console.print(f"drafted {path}")
    console.print(f"{len(written)} suite(s) drafted; review them, then `data-pipeline gate`")


if __name__ == "__main__":  # python -m data_pipeline.cli
    app()
