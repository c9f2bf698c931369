"""Assets generated from the source schema: snapshot/<table>, anonymized/<table>, published.

Assets hand each other checkpoint ids through materialization metadata, never data: raw values stay
in the vault, and Dagster's storage only ever sees ids, hashes and counts.
"""

import hashlib
import os
import re
import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import dagster as dg

from assets.catalog import Catalog, column_lineage
from assets.resources import PipelineResource
from data_pipeline.check_names import PART_CHECKS, TABLE_CHECKS, CheckName
from data_pipeline.checkpoint import CheckpointRef
from data_pipeline.checks import CheckOutcome
from data_pipeline.config import redact_url
from data_pipeline.context import Context
from data_pipeline.errors import ChecksFailed
from data_pipeline.partitions import Part, Partitioning
from data_pipeline.schema import Schema, Table
from data_pipeline.stages import anonymize, check, publish, snapshot
from data_pipeline.stages.check import TableResult

FORWARD_ONLY_TAG = "data_pipeline/forward_only"
FORWARD_ONLY_DESCRIPTION = (
    "FORWARD-ONLY: anonymizes {table} with keyed, deterministic rules. This step cannot be rolled "
    "back: earlier anonymized releases can be re-published, but nothing restores raw data; to "
    "change the output, roll forward with a new policy."
)
PARTS_DESCRIPTION = (
    " Partitioned: {count} parts, each a contiguous primary-key range of the snapshot (rows-...),"
    " materialized and re-run one by one; `published` combines them and runs the table-wide checks"
    " (unique_columns, k_anonymity, foreign keys) before anything is published."
)
# a run over a range of partitions (all of them: `data-pipeline run`, the nightly schedule)
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PRIORITY_TAG = "dagster/priority"  # the executors start ready steps with the highest first


def key_part(table: str) -> str:
    """Dagster names allow [A-Za-z0-9_]: quoted identifiers ("Customer Accounts") are folded."""
    return re.sub(r"[^A-Za-z0-9_]", "_", table)


def snapshot_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["snapshot", key_part(table)])


def anonymized_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["anonymized", key_part(table)])


def published_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["published", key_part(table)])


def table_metadata(table: Table, catalog: Catalog, upstream: dg.AssetKey | None) -> dict:
    """Definition metadata the catalog shows before anything runs: name, columns with their policy
    class and rule, and where each column comes from."""
    meta: dict = {
        "dagster/table_name": f"{table.schema}.{table.name}" if table.schema else table.name,
        "dagster/column_schema": catalog.column_schema(table),
    }
    if upstream is not None:
        meta["dagster/column_lineage"] = column_lineage(table, upstream)
    return meta


def ref_metadata(ref: CheckpointRef, table: Table, forward_only: bool) -> dict:
    return {
        "dagster/row_count": ref.rows,
        "table": table.name,
        "checkpoint_id": ref.id,
        "checkpoint_path": dg.MetadataValue.path(ref.path),
        "sha256": ref.sha256,
        "forward_only": forward_only,
    }


def latest_ref(instance: dg.DagsterInstance, key: dg.AssetKey) -> CheckpointRef:
    """The checkpoint behind the latest materialization of `key`."""
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        raise dg.Failure(f"{key.to_user_string()} has never been materialized: materialize it first")
    return _ref(key, event.asset_materialization.metadata)


def run_ref(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext, key: dg.AssetKey
) -> CheckpointRef:
    """The checkpoint this run materialized for `key`, so two runs at once never read each other's
    snapshot or tables; the latest one when this run did not make it (a resumed run, a single
    asset materialized from the UI)."""
    # the key's newest materialization, by index: this run's when no other run made one since
    latest = context.instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=1).records
    if latest and latest[0].run_id == context.run.run_id and latest[0].asset_materialization is not None:
        return _ref(key, latest[0].asset_materialization.metadata)
    records = context.instance.all_logs(context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    for record in reversed(records):
        materialization = record.asset_materialization
        if materialization is not None and materialization.asset_key == key:
            return _ref(key, materialization.metadata)
    return latest_ref(context.instance, key)


def _ref(key: dg.AssetKey, meta: Mapping[str, dg.MetadataValue]) -> CheckpointRef:
    if "parts" in meta:
        raise dg.Failure(f"{key.to_user_string()} is partitioned: its parts are combined by `published`")
    return CheckpointRef(
        id=meta["checkpoint_id"].value,
        step=key.path[0],
        table=meta["table"].value if "table" in meta else key.path[-1],
        path=meta["checkpoint_path"].value,
        sha256=meta["sha256"].value,
        rows=meta["dagster/row_count"].value,
    )


def check_result(outcome: CheckOutcome, key: dg.AssetKey) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=str(outcome.name),
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=outcome.description,
        metadata=outcome.metadata,
    )


def build_snapshot(schema: Schema, catalog: Catalog, pool: str | None = None) -> dg.AssetsDefinition:
    """`pool`: the source database's concurrency pool (assets.execution.database_pool)."""

    @dg.multi_asset(
        name="snapshot",
        pool=pool,
        specs=[
            dg.AssetSpec(
                snapshot_key(t.name),
                group_name="snapshot",
                kinds={"sqlalchemy", "parquet"},
                tags={FORWARD_ONLY_TAG: "false", **catalog.table_tags(t)},
                owners=catalog.owners_of(t),
                description=f"Raw checkpoint of {t.name}: all tables read in one transaction; "
                "kept only in the vault and expired by retention.",
                metadata=table_metadata(t, catalog, None),
            )
            for t in schema.tables
        ],
        can_subset=False,
    )
    def snapshot_asset(context: dg.AssetExecutionContext, pipeline: PipelineResource):
        p = pipeline.context()
        refs = snapshot.snapshot(
            p,
            run_id=context.run.run_id,
            progress=lambda table, rows: context.log.info(f"snapshot/{table}: {rows} rows"),
        )
        for table, ref in refs.items():
            metadata = ref_metadata(ref, p.schema.table(table), forward_only=False)
            if p.subset is not None:  # how the subset reached this table; its size is the row count
                metadata["subset"] = p.vault.manifest(ref).extra.get("subset", "")
            yield dg.MaterializeResult(
                asset_key=snapshot_key(table), metadata=metadata, data_version=dg.DataVersion(ref.sha256)
            )

    return snapshot_asset


def build_anonymized(table: Table, catalog: Catalog, priority: int = 0) -> dg.AssetsDefinition:
    """`priority`: the step's place among those ready at once, highest first (anonymize/cost.py)."""
    key = anonymized_key(table.name)
    specs = [
        dg.AssetCheckSpec(name.value, asset=key, blocking=True, description=name.description)
        for name in TABLE_CHECKS
    ]

    @dg.asset(
        key=key,
        deps=[snapshot_key(table.name)],
        group_name="anonymized",
        kinds={"pandas", "parquet"},
        tags={FORWARD_ONLY_TAG: "true", **catalog.table_tags(table)},
        owners=catalog.owners_of(table),
        description=FORWARD_ONLY_DESCRIPTION.format(table=table.name) + _policy_note(catalog),
        check_specs=specs,
        metadata={"forward_only": True, **table_metadata(table, catalog, snapshot_key(table.name))},
        code_version=catalog.code_version,
        op_tags={PRIORITY_TAG: str(priority)},
    )
    def anonymized(context: dg.AssetExecutionContext, pipeline: PipelineResource):
        p = pipeline.context()
        raw = run_ref(context, snapshot_key(table.name))
        result = anonymize.anonymize(p, raw, run_id=context.run.run_id)
        context.log.info(f"anonymized/{table.name}: {result.ref.rows} rows (forward-only)")
        checks = [check_result(o, key) for o in result.outcomes]
        metadata = ref_metadata(result.ref, table, forward_only=True)
        metadata.update({f"same_as_original/{c}": share for c, share in result.same_as_original.items()})
        return dg.MaterializeResult(
            metadata=metadata, data_version=dg.DataVersion(result.ref.sha256), check_results=checks
        )

    return anonymized


def partitions_definition(partitioning: Partitioning) -> dg.StaticPartitionsDefinition | None:
    """One definition for every partitioned table: Dagster runs one partitions definition per job."""
    return dg.StaticPartitionsDefinition(partitioning.keys) if partitioning.tables else None


def all_partitions_tags(partitions_def: dg.PartitionsDefinition | None) -> dict[str, str]:
    """Tags of a run over every partition (one step per table then anonymizes all its parts)."""
    if partitions_def is None:
        return {}
    keys = partitions_def.get_partition_keys()
    return {RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]}


def part_ref(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> CheckpointRef | None:
    """The checkpoint behind the latest materialization of one partition; None if it has none."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    meta = records[0].asset_materialization.metadata
    part = meta["parts"].value[partition]
    return CheckpointRef(
        id=part["checkpoint_id"],
        step="anonymized",
        table=meta["table"].value,
        path=part["checkpoint_path"],
        sha256=part["sha256"],
        rows=part["rows"],
    )


def _part_metadata(p: Context, table: Table, part: Part, snapshot: CheckpointRef, ref: CheckpointRef) -> dict:
    """Ids, row offsets and the first/last primary key of the part as published (anonymized)."""
    start, stop = part.bounds(snapshot.rows)
    meta = {"checkpoint_id": ref.id, "checkpoint_path": ref.path, "sha256": ref.sha256, "rows": ref.rows}
    meta.update({"row_start": start, "row_stop": stop})
    if table.primary_key and ref.rows:
        keys = p.anonymized.read(ref, columns=list(table.primary_key))
        first, last = keys.iloc[0].tolist(), keys.iloc[-1].tolist()
        meta.update({"key_first": ",".join(map(str, first)), "key_last": ",".join(map(str, last))})
    return meta


def _part_checks(key: dg.AssetKey, results: dict[str, TableResult]) -> list[dg.AssetCheckResult]:
    """One result per check over the parts of this run (usually one part)."""
    checks = []
    for name in PART_CHECKS:
        outcomes = {pk: next(o for o in r.outcomes if o.name == name) for pk, r in results.items()}
        if len(outcomes) == 1:
            checks.append(check_result(next(iter(outcomes.values())), key))
            continue
        failed = [pk for pk, o in outcomes.items() if not o.passed]
        checks.append(
            dg.AssetCheckResult(
                asset_key=key,
                check_name=name.value,
                passed=not failed,
                severity=dg.AssetCheckSeverity.ERROR,
                description=f"{len(outcomes) - len(failed)} of {len(outcomes)} parts passed"
                + (f"; failed: {', '.join(failed)}" if failed else ""),
                metadata={"parts": len(outcomes), "failed_parts": len(failed)},
            )
        )
    return checks


def build_anonymized_parts(
    table: Table, partitioning: Partitioning, catalog: Catalog, priority: int = 0
) -> dg.AssetsDefinition:
    """`anonymized/<table>` of a big table: one partition per key range of the snapshot. The snapshot
    stays one unpartitioned read; the table-wide checks run when `published` combines the parts.
    `priority` as in `build_anonymized`."""
    key = anonymized_key(table.name)
    count = partitioning.count

    with warnings.catch_warnings():  # backfill_policy is beta in Dagster 1.13: not the user's concern
        warnings.simplefilter("ignore", dg.BetaWarning)
        decorate = dg.asset(
            key=key,
            deps=[snapshot_key(table.name)],
            partitions_def=partitions_definition(partitioning),
            backfill_policy=dg.BackfillPolicy.single_run(),  # a UI backfill of a range: one run, one step
            group_name="anonymized",
            kinds={"pandas", "parquet"},
            tags={FORWARD_ONLY_TAG: "true", **catalog.table_tags(table)},
            owners=catalog.owners_of(table),
            description=FORWARD_ONLY_DESCRIPTION.format(table=table.name)
            + PARTS_DESCRIPTION.format(count=count)
            + _policy_note(catalog),
            check_specs=[
                dg.AssetCheckSpec(
                    name.value, asset=key, blocking=True, description=f"{name.description} (per part)"
                )
                for name in PART_CHECKS
            ],
            metadata={
                "forward_only": True,
                "parts": count,
                **table_metadata(table, catalog, snapshot_key(table.name)),
            },
            code_version=catalog.code_version,
            op_tags={PRIORITY_TAG: str(priority)},
        )

    @decorate
    def anonymized(context: dg.AssetExecutionContext, pipeline: PipelineResource) -> dg.MaterializeResult:
        p = pipeline.context()
        raw = run_ref(context, snapshot_key(table.name))
        results: dict[str, TableResult] = {}
        parts: dict[str, dict] = {}
        for partition in context.partition_keys:
            part = Part.from_key(partition, count)
            results[partition] = result = anonymize.anonymize(p, raw, run_id=context.run.run_id, part=part)
            parts[partition] = _part_metadata(p, table, part, raw, result.ref)
            done = f", reused from run {result.reused_from}" if result.reused_from else ""
            context.log.info(
                f"anonymized/{table.name} {partition}: rows {parts[partition]['row_start']}.."
                f"{parts[partition]['row_stop']} ({result.ref.rows} rows, forward-only{done})"
            )
        metadata = {
            "dagster/row_count": sum(r.ref.rows for r in results.values()),
            "table": table.name,
            "snapshot_checkpoint_id": raw.id,
            "parts": dg.MetadataValue.json(parts),
            "forward_only": True,
        }
        if len(parts) == 1:
            metadata.update({k: v for k, v in next(iter(parts.values())).items() if k != "checkpoint_path"})
        digest = hashlib.sha256("".join(r.ref.sha256 for r in results.values()).encode()).hexdigest()
        return dg.MaterializeResult(
            metadata=metadata,
            data_version=dg.DataVersion(digest),
            check_results=_part_checks(key, results),
        )

    return anonymized


def _policy_note(catalog: Catalog) -> str:
    if catalog.problem:
        return f" The policy does not load: {catalog.problem}"
    return f" {catalog.note}" if catalog.note else ""


def build_foreign_key_check(table: Table) -> dg.AssetChecksDefinition:
    parents = sorted({fk.ref_table for fk in table.foreign_keys} - {table.name})

    @dg.asset_check(
        asset=anonymized_key(table.name),
        name=CheckName.FOREIGN_KEYS_RESOLVE.value,
        additional_deps=[anonymized_key(p) for p in parents],
        blocking=True,
        description=CheckName.FOREIGN_KEYS_RESOLVE.description,
    )
    def foreign_keys_resolve(context: dg.AssetCheckExecutionContext, pipeline: PipelineResource):
        refs = {t: run_ref(context, anonymized_key(t)) for t in [table.name, *parents]}
        outcome = check.foreign_keys(pipeline.context(), table.name, refs, run_id=context.run.run_id)
        return dg.AssetCheckResult(
            passed=outcome.passed,
            description=outcome.description,
            metadata=outcome.metadata,
            severity=dg.AssetCheckSeverity.ERROR,
        )

    return foreign_keys_resolve


def build_published(
    schema: Schema,
    catalog: Catalog,
    pool: str | None = None,
    partitioning: Partitioning | None = None,
    suites: frozenset[str] = frozenset(),
) -> dg.AssetsDefinition:
    """`published/<table>` for every table, written by ONE step in one transaction (a release is
    whole or absent). `pool`: the target database's concurrency pool. Partitioned tables are
    combined here first: every part must exist and have passed, then the table-wide checks run over
    all of them (fail closed). `suites`: the tables with an expectation suite, which runs over every
    row of the staged release before it is promoted (its `expectations` check on published/<table>)."""
    partitioning = partitioning or Partitioning()
    with_suite = [t for t in schema.tables if t.name in suites]

    @dg.multi_asset(
        name="published",
        pool=pool,
        specs=[
            dg.AssetSpec(
                published_key(t.name),
                deps=[anonymized_key(t.name)],
                group_name="release",
                kinds={"sqlalchemy"},
                tags={FORWARD_ONLY_TAG: "false", **catalog.table_tags(t)},
                owners=catalog.owners_of(t),
                description=f"{t.name} as published to the target: all tables atomically as one numbered "
                "release, recorded in the ledger. Reversible: `data-pipeline rollback --to N`.",
                metadata=table_metadata(t, catalog, anonymized_key(t.name)),
            )
            for t in schema.tables
        ],
        check_specs=[
            dg.AssetCheckSpec(
                CheckName.EXPECTATIONS.value,
                asset=published_key(t.name),
                blocking=True,
                description=f"{CheckName.EXPECTATIONS.description} Every row of the staged release, "
                "in the database; critical expectations block the release.",
            )
            for t in with_suite
        ],
        can_subset=False,
    )
    def published(context: dg.AssetExecutionContext, pipeline: PipelineResource):
        p = pipeline.context()
        refs = {
            t.name: run_ref(context, anonymized_key(t.name))
            for t in schema.tables
            if t.name not in partitioning
        }
        combined = combine_parts(context, p, partitioning)
        refs.update({t: r.ref for t, r in combined.items()})
        failed = check.unchecked_or_failed(p, refs)
        if failed:
            why = {t: [o.name for o in r.outcomes if not o.passed] for t, r in combined.items()}
            named = [f"{t} ({', '.join(dict.fromkeys(why[t]))})" if why.get(t) else t for t in failed]
            raise ChecksFailed(f"release refused, nothing published: checks failed for {', '.join(named)}")
        validated: list = []
        keys = {t.name: published_key(t.name) for t in with_suite}

        def verdicts():  # the suites' verdicts are shown whether or not they let the release through
            for r in validated:
                if r.suite in keys:
                    yield expectations_check(keys[r.suite], r)
                else:
                    context.log.info(f"suite {r.suite}: {r.passed_count} passed, {r.failed_count} failed")

        try:
            release = publish.publish(
                p,
                refs,
                run_id=context.run.run_id,
                progress=lambda table, rows: context.log.info(f"published {table}: {rows} rows"),
                validated=validated.extend,
            )
        except ChecksFailed:
            yield from verdicts()
            raise
        yield from verdicts()
        for table in schema.tables:
            yield dg.MaterializeResult(
                asset_key=published_key(table.name),
                metadata={
                    "release": release.number,
                    "target": redact_url(p.settings.target_url),
                    "dagster/row_count": release.rows.get(table.name, 0),
                    "release_rows": sum(release.rows.values()),
                    "policy_digest": release.policy_digest,
                    "key_epoch": release.key_epoch,
                    "checkpoint_id": release.checkpoints.get(table.name, ""),
                    **({"combined_from_parts": True} if table.name in combined else {}),
                },
            )

    return published


def expectations_check(key: dg.AssetKey, suite) -> dg.AssetCheckResult:  # noqa: ANN001 - lazy GE types
    """A suite's verdict as a Dagster check: counts only; its severity that of its worst failure."""
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=CheckName.EXPECTATIONS.value,
        passed=suite.check_passed,
        severity=dg.AssetCheckSeverity(suite.check_severity),
        metadata={
            "passed": suite.passed_count,
            "failed": suite.failed_count,
            "failed_critical": len(suite.failed_critical),
            "failed_warning": len(suite.failed_warning),
            "unexpected_total": sum(o.unexpected_count or 0 for o in suite.outcomes),
            **({"data_docs": dg.MetadataValue.path(str(suite.docs_index))} if suite.docs_index else {}),
        },
    )


def combine_parts(
    context: dg.AssetExecutionContext, p: Context, partitioning: Partitioning
) -> dict[str, TableResult]:
    """Every partitioned table's parts, combined into one checkpoint each; refused (nothing is
    published) while any partition is missing."""
    parts = {
        t: {k: part_ref(context.instance, anonymized_key(t), k) for k in partitioning.keys}
        for t in partitioning.tables
    }
    missing = [
        f"anonymized/{key_part(t)}[{k}]" for t, refs in parts.items() for k, r in refs.items() if r is None
    ]
    if missing:
        raise dg.Failure(
            f"release refused, nothing published: partition(s) never materialized: {', '.join(missing)}; "
            "materialize (backfill) them first"
        )
    raws = {t: run_ref(context, snapshot_key(t)) for t in parts}

    def combine(table: str) -> TableResult:
        refs = list(parts[table].values())
        result = anonymize.combine_parts(p, raws[table], refs, run_id=context.run.run_id)
        context.log.info(f"anonymized/{table}: {len(refs)} parts combined ({result.ref.rows} rows)")
        return result

    # side by side: each is one core's read, check and write, and nothing else runs yet in this step
    workers = max(1, min(len(parts), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="combine") as pool:
        return dict(zip(parts, pool.map(combine, parts), strict=True))
