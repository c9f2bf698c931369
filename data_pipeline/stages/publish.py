"""Stage 4: a release written to the target in ONE transaction, and recorded in the ledger.

`publish` verifies the whole release first (fail closed: every foreign key resolves). When expectation
suites apply, the release is staged in the target first (staging.py), every suite runs over every row
of it in the database, and only a candidate whose critical expectations pass is promoted; a failed one
is dropped and nothing is published. Without suites the release goes from its checkpoints straight
into the publish transaction. `republish` writes an earlier release's anonymized checkpoints again
(rollback), which crosses no forward-only step.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from data_pipeline import source_state, staging
from data_pipeline.checkpoint import CheckpointRef, Manifest
from data_pipeline.config import redact_url
from data_pipeline.context import Context
from data_pipeline.errors import BadInput, ChecksFailed, PublishedUnrecorded, reason
from data_pipeline.ledger import Release
from data_pipeline.plan import diff_schemas
from data_pipeline.publish import Source
from data_pipeline.publish import publish as write_release
from data_pipeline.schema import Schema, Table
from data_pipeline.source_state import schema_digest
from data_pipeline.stages import check

Progress = Callable[[str, int], None]
Validated = Callable[[list], None]  # receives the suites' results (expectations.SuiteResult)


def publish(
    ctx: Context,
    refs: dict[str, CheckpointRef],
    run_id: str | None = None,
    progress: Progress | None = None,
    validated: Validated | None = None,
) -> Release:
    """Verify the whole release (fail closed), validate it staged when suites apply (`validated`
    gets their results, failed or not), then write it to the target atomically.

    The foreign keys not yet checked (those of partitioned tables, whose parts are joined only here)
    are checked inside the publish transaction, before it commits: a PostgreSQL publish checks them
    while the server builds the release's keys and indexes, where the client would wait."""
    missing = [t for t in ctx.schema.names if t not in refs]
    if missing:
        raise BadInput(f"no anonymized checkpoint for table(s): {', '.join(missing)}")
    refuse_unallowed_destructive(ctx)
    suites = release_suites(ctx)

    def keys_resolve() -> None:
        if problems := _unresolved_keys(ctx, refs):
            raise ChecksFailed("release refused, nothing published: " + "; ".join(problems))

    manifests = _verified(ctx, refs)
    if not suites:
        policy, epoch = ctx.policy.digest, ctx.key.epoch
        return _write(ctx, manifests, ctx.schema, policy, epoch, run_id, progress, "published", keys_resolve)
    keys_resolve()  # before anything is staged: a broken key is the first thing to say
    with staging.reserved(ctx.target):
        try:
            return _staged(ctx, manifests, suites, run_id, progress, validated)
        finally:
            staging.discard(ctx.target)


def _unresolved_keys(ctx: Context, refs: dict[str, CheckpointRef]) -> list[str]:
    """'table: what is broken' for each table whose foreign keys do not all resolve."""
    return [
        f"{t}: {o.description}"
        for t in ctx.schema.names
        if not (o := check.foreign_keys(ctx, t, refs)).passed
    ]


def _staged(
    ctx: Context,
    manifests: dict[str, Manifest],
    suites: dict[str, Path],
    run_id: str | None,
    progress: Progress | None,
    validated: Validated | None,
) -> Release:
    candidate = staging.stage(ctx.target, ctx.schema, _checkpoint_data(ctx, manifests))
    results = _validate(ctx, candidate, suites, run_id)
    if validated is not None:
        validated(results)
    failed = [r for r in results if r.failed_critical]
    if failed:
        listed = "; ".join(f"{r.suite} ({_failures(r)})" for r in failed)
        raise ChecksFailed(
            "release refused, nothing published: critical expectations failed on the staged release "
            f"(every row checked): {listed}"
        )
    policy, epoch = ctx.policy.digest, ctx.key.epoch
    return _write(
        ctx, manifests, ctx.schema, policy, epoch, run_id, progress, "published", candidate=candidate
    )


def release_suites(ctx: Context) -> dict[str, Path]:
    """The suite files this run validates: per table of the release, and cross-table (a query).
    Their shape is checked here, before anything is staged; GX checks their types where it runs."""
    from data_pipeline.expectations import load_suite, suite_paths

    try:
        paths = suite_paths(ctx.settings.suites_dir, ctx.settings.gx_dir)
        suites = {n: load_suite(p, types=False) for n, p in paths.items()}
    except (ValueError, FileNotFoundError) as exc:
        raise BadInput(str(exc)) from None
    unknown = sorted(n for n, s in suites.items() if "query" not in s and n not in ctx.schema.names)
    if unknown:
        raise BadInput(
            f"suite(s) for tables the release lacks: {', '.join(unknown)} (in {ctx.settings.suites_dir}); "
            "rename or remove them"
        )
    return paths


def _validate(
    ctx: Context, candidate: staging.Candidate, suites: dict[str, Path], run_id: str | None
) -> list:
    from data_pipeline.expectations import DataDocs

    results = staging.validate(candidate, suites, DataDocs.of(ctx.settings))
    ctx.ledger.record(
        "expectations",
        run_id=run_id,
        rows=candidate.rows,
        suites={
            r.suite: {
                "passed": r.passed_count,
                "failed": r.failed_count,
                "failed_critical": len(r.failed_critical),
            }
            for r in results
        },
    )
    return results


def _failures(result) -> str:  # noqa: ANN001 - expectations.SuiteResult, imported lazily
    """Counts and names, never values: `expect_column_values_to_be_in_set on status: 1 of 9 rows`."""
    return ", ".join(
        f"{o.expectation_type}{' on ' + o.column if o.column else ''}"
        + (f": {o.unexpected_count} of {o.element_count} rows" if o.unexpected_count is not None else "")
        for o in result.failed_critical
    )


def _verified(ctx: Context, refs: dict[str, CheckpointRef] | dict[str, str]) -> dict[str, Manifest]:
    """Each table's checkpoint manifest, its data hashed once against it (fail closed)."""
    return {t: ctx.anonymized.manifest(r) for t, r in refs.items()}


def _checkpoint_data(ctx: Context, manifests: dict[str, Manifest]) -> Callable:
    def data(table: Table):
        return ctx.anonymized.arrow_batches(manifests[table.name].id)

    return data


def refuse_unallowed_destructive(ctx: Context) -> None:
    """A release that drops or narrows what the last one had waits until someone allows exactly
    this schema (`run --allow-destructive`, `refresh --allow-destructive`): the nightly schedule
    and the schema-change sensor cannot publish it by themselves."""
    current = ctx.ledger.current(ctx.settings.target_url)
    if current is None or not current.schema:
        return
    destructive = [c for c in diff_schemas(Schema.from_dict(current.schema), ctx.schema) if c.destructive]
    if destructive and not source_state.allowed(ctx.settings, schema_digest(ctx.schema)):
        listed = ", ".join(f"{c.kind} {c.table}{'.' + c.column if c.column else ''}" for c in destructive)
        raise BadInput(
            f"release refused, nothing published: destructive schema change(s) against release "
            f"{current.number} ({listed}); allow them with `data-pipeline refresh --allow-destructive`"
        )


def republish(ctx: Context, release: Release) -> Release:
    """Release N's checkpoints, schema, policy digest and key epoch, published again as release N."""
    schema = Schema.from_dict(release.schema) if release.schema else ctx.schema
    return _write(
        ctx,
        _verified(ctx, release.checkpoints),
        schema,
        release.policy_digest,
        release.key_epoch,
        None,
        None,
        "rolled_back",
        number=release.number,
        made_from={"source": release.source, "policy": release.policy},
    )


def _ddl_source(ctx: Context) -> Source | None:
    """A PostgreSQL source lends a PostgreSQL target its DDL (pg_dump); otherwise it is not touched."""
    if ctx.target.dialect.name != "postgresql" or not ctx.settings.source_url.startswith("postgres"):
        return None
    return Source(ctx.source, ctx.settings.source_schema)


def _write(
    ctx: Context,
    manifests: dict[str, Manifest],
    schema: Schema,
    policy_digest: str,
    key_epoch: str,
    run_id: str | None,
    progress: Progress | None,
    kind: str,
    checks: Callable[[], None] | None = None,
    number: int | None = None,
    made_from: dict[str, str | None] | None = None,
    candidate: staging.Candidate | None = None,
) -> Release:
    """`checks`: raise to roll the publish transaction back (`data_pipeline.publish.publish`)."""
    target_url = ctx.settings.target_url
    number = number or ctx.next_release()  # the target's own numbering, whoever published to it
    ctx.ledger.record("publish_started", target=target_url, release=number, run_id=run_id)
    rows = write_release(
        ctx.target,
        schema,
        _checkpoint_data(ctx, manifests),
        release=number,
        republish=kind == "rolled_back",
        policy_digest=policy_digest,
        target_schema=ctx.settings.target_schema,
        progress=progress,
        source=_ddl_source(ctx),
        candidate=candidate,
        checks=checks,
    )
    # what it was made from, for a roll-forward plan (the source's password redacted)
    settings = ctx.settings
    made_from = made_from or {"source": redact_url(settings.source_url), "policy": str(settings.policy_path)}
    try:
        ctx.ledger.record(
            kind,
            target=target_url,
            release=number,
            run_id=run_id,
            checkpoints={t: m.id for t, m in manifests.items()},
            rows=rows,
            policy_digest=policy_digest,
            key_epoch=key_epoch,
            schema=schema.to_dict(),
            **made_from,
        )
        release = ctx.ledger.current(target_url)
    except Exception as exc:  # noqa: BLE001 - the release is in the target whatever failed here
        why = reason(exc, settings.home)
        raise PublishedUnrecorded(number, redact_url(target_url), "the ledger", why) from None
    assert release is not None
    return release
