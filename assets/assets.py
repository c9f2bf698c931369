"""Assets generated from the source schema: snapshot/<table>, anonymized/<table>, published.

Assets hand each other checkpoint ids through materialization metadata, never data: raw values stay
in the vault, and Dagster's storage only ever sees ids, hashes and counts.
"""

import re

import dagster as dg

from assets.resources import PipelineResource
from data_pipeline.checkpoint import CheckpointRef
from data_pipeline.checks import CheckOutcome
from data_pipeline.config import redact_url
from data_pipeline.errors import ChecksFailed
from data_pipeline.schema import Schema, Table

FORWARD_ONLY_TAG = "data_pipeline/forward_only"
IN_STEP_CHECKS = {
    "row_count_kept": "Every source row is in the output.",
    "columns_classified": "Every column is classified by the policy (fail closed).",
    "unique_columns": "Unique and primary-key columns stay unique.",
    "no_leaked_originals": "No original identifying value (keyed fingerprints) appears anywhere.",
    "k_anonymity": "Every combination of quasi-identifiers is shared by at least k rows.",
}
FORWARD_ONLY_DESCRIPTION = (
    "FORWARD-ONLY: anonymizes {table} with keyed, deterministic rules. This step cannot be rolled "
    "back: earlier anonymized releases can be re-published, but nothing restores raw data; to "
    "change the output, roll forward with a new policy."
)


def key_part(table: str) -> str:
    """Dagster names allow [A-Za-z0-9_]: quoted identifiers ("Customer Accounts") are folded."""
    return re.sub(r"[^A-Za-z0-9_]", "_", table)


def snapshot_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["snapshot", key_part(table)])


def anonymized_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["anonymized", key_part(table)])


def column_schema(table: Table) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                c.name,
                c.type,
                constraints=dg.TableColumnConstraints(
                    nullable=c.nullable, unique=c.name in table.unique_columns()
                ),
            )
            for c in table.columns
        ]
    )


def ref_metadata(ref: CheckpointRef, table: Table, forward_only: bool) -> dict:
    return {
        "dagster/row_count": ref.rows,
        "dagster/column_schema": column_schema(table),
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
    meta = event.asset_materialization.metadata
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
        check_name=outcome.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=outcome.description,
        metadata=outcome.metadata,
    )


def build_snapshot(schema: Schema, pool: str | None = None) -> dg.AssetsDefinition:
    """`pool`: the source database's concurrency pool (assets.execution.database_pool)."""

    @dg.multi_asset(
        name="snapshot",
        pool=pool,
        specs=[
            dg.AssetSpec(
                snapshot_key(t.name),
                group_name="snapshot",
                kinds={"sqlalchemy", "parquet"},
                tags={FORWARD_ONLY_TAG: "false"},
                description=f"Raw checkpoint of {t.name}: all tables read in one transaction; "
                "kept only in the vault and expired by retention.",
            )
            for t in schema.tables
        ],
        can_subset=False,
    )
    def snapshot(context: dg.AssetExecutionContext, pipeline: PipelineResource):
        p = pipeline.pipeline()
        refs = p.snapshot(
            run_id=context.run.run_id,
            progress=lambda table, rows: context.log.info(f"snapshot/{table}: {rows} rows"),
        )
        for table, ref in refs.items():
            yield dg.MaterializeResult(
                asset_key=snapshot_key(table),
                metadata=ref_metadata(ref, p.schema.table(table), forward_only=False),
                data_version=dg.DataVersion(ref.sha256),
            )

    return snapshot


def build_anonymized(table: Table, has_suite: bool) -> dg.AssetsDefinition:
    key = anonymized_key(table.name)
    specs = [
        dg.AssetCheckSpec(name, asset=key, blocking=True, description=text)
        for name, text in IN_STEP_CHECKS.items()
    ]
    if has_suite:
        specs.append(
            dg.AssetCheckSpec(
                "expectations",
                asset=key,
                blocking=True,
                description=f"Great Expectations suite expectations/{table.name}.json",
            )
        )

    @dg.asset(
        key=key,
        deps=[snapshot_key(table.name)],
        group_name="anonymized",
        kinds={"pandas", "parquet"},
        tags={FORWARD_ONLY_TAG: "true"},
        description=FORWARD_ONLY_DESCRIPTION.format(table=table.name),
        check_specs=specs,
        metadata={"forward_only": True},
    )
    def anonymized(context: dg.AssetExecutionContext, pipeline: PipelineResource):
        p = pipeline.pipeline()
        snapshot = latest_ref(context.instance, snapshot_key(table.name))
        result = p.anonymize(snapshot, run_id=context.run.run_id)
        context.log.info(f"anonymized/{table.name}: {result.ref.rows} rows (forward-only)")
        checks = [check_result(o, key) for o in result.outcomes]
        if has_suite and result.suite is not None:
            suite = result.suite
            checks.append(
                dg.AssetCheckResult(
                    asset_key=key,
                    check_name="expectations",
                    passed=not suite.failed_critical and not suite.failed_warning,
                    severity=dg.AssetCheckSeverity.ERROR
                    if suite.failed_critical
                    else dg.AssetCheckSeverity.WARN,
                    metadata={
                        "passed": suite.passed_count,
                        "failed": suite.failed_count,
                        "failed_critical": len(suite.failed_critical),
                        "failed_warning": len(suite.failed_warning),
                        "unexpected_total": sum(o.unexpected_count or 0 for o in suite.outcomes),
                        **(
                            {"data_docs": dg.MetadataValue.path(str(suite.docs_index))}
                            if suite.docs_index
                            else {}
                        ),
                    },
                )
            )
        metadata = ref_metadata(result.ref, table, forward_only=True)
        metadata.update({f"same_as_original/{c}": share for c, share in result.same_as_original.items()})
        return dg.MaterializeResult(
            metadata=metadata, data_version=dg.DataVersion(result.ref.sha256), check_results=checks
        )

    return anonymized


def build_foreign_key_check(table: Table) -> dg.AssetChecksDefinition:
    parents = sorted({fk.ref_table for fk in table.foreign_keys} - {table.name})

    @dg.asset_check(
        asset=anonymized_key(table.name),
        name="foreign_keys_resolve",
        additional_deps=[anonymized_key(p) for p in parents],
        blocking=True,
        description="Every foreign key of the anonymized table resolves in its anonymized parent.",
    )
    def foreign_keys_resolve(context: dg.AssetCheckExecutionContext, pipeline: PipelineResource):
        refs = {t: latest_ref(context.instance, anonymized_key(t)) for t in [table.name, *parents]}
        outcome = pipeline.pipeline().check_foreign_keys(table.name, refs)
        return dg.AssetCheckResult(
            passed=outcome.passed,
            description=outcome.description,
            metadata=outcome.metadata,
            severity=dg.AssetCheckSeverity.ERROR,
        )

    return foreign_keys_resolve


def build_published(schema: Schema, pool: str | None = None) -> dg.AssetsDefinition:
    """`pool`: the target database's concurrency pool (assets.execution.database_pool)."""

    @dg.asset(
        key="published",
        pool=pool,
        deps=[anonymized_key(t.name) for t in schema.tables],
        group_name="release",
        kinds={"sqlalchemy"},
        tags={FORWARD_ONLY_TAG: "false"},
        description="Publishes all anonymized tables to the target atomically as one numbered "
        "release, recorded in the ledger. Reversible: `data-pipeline rollback --to N`.",
    )
    def published(context: dg.AssetExecutionContext, pipeline: PipelineResource) -> dg.MaterializeResult:
        p = pipeline.pipeline()
        refs = {t.name: latest_ref(context.instance, anonymized_key(t.name)) for t in schema.tables}
        failed = p.unchecked_or_failed(refs)
        if failed:
            raise ChecksFailed(f"release refused, nothing published: checks failed for {', '.join(failed)}")
        release = p.publish(
            refs,
            run_id=context.run.run_id,
            progress=lambda table, rows: context.log.info(f"published {table}: {rows} rows"),
        )
        return dg.MaterializeResult(
            metadata={
                "release": release.number,
                "target": redact_url(p.settings.target_url),
                "dagster/row_count": sum(release.rows.values()),
                "tables": len(release.rows),
                "policy_digest": release.policy_digest,
                "key_epoch": release.key_epoch,
            }
        )

    return published
