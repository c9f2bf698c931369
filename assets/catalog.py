"""What the asset catalog says about each table, from the stored source state and the policy file
alone (no connection): column schemas tagged with their policy class and rule, column lineage, and
the code version of the anonymized assets.

The code version is a digest of the policy, the engine version and the key epoch (never the key):
editing the policy, upgrading the engine or rotating the key shows every anonymized asset as stale
in the UI. A policy that does not load leaves the catalog without tags and says why, so the code
location still loads (runs then refuse with the policy's own message).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import dagster as dg

from data_pipeline import __version__
from data_pipeline.config import Settings
from data_pipeline.errors import PipelineError
from data_pipeline.schema import Schema, Table

PII_CLASSES = ("pii", "quasi")


@dataclass(frozen=True)
class Catalog:
    # table -> column -> (class, rule)
    rules: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    code_version: str | None = None
    problem: str | None = None  # why the policy did not load
    owners: dict[str, list[str]] = field(default_factory=dict)  # table -> Dagster owners
    note: str | None = None  # what the catalog left out, and why

    def owners_of(self, table: Table) -> list[str]:
        return self.owners.get(table.name, [])

    def column_schema(self, table: Table) -> dg.TableSchema:
        classes = self.rules.get(table.name, {})
        return dg.TableSchema(
            columns=[
                dg.TableColumn(
                    c.name,
                    c.type,
                    constraints=dg.TableColumnConstraints(
                        nullable=c.nullable, unique=c.name in table.unique_columns()
                    ),
                    tags=_tags(*classes[c.name]) if c.name in classes else None,
                )
                for c in table.columns
            ]
        )

    def table_tags(self, table: Table) -> dict[str, str]:
        """`pii` on a table holding a pii or quasi column, so the catalog can filter on it."""
        classes = {cls for cls, _ in self.rules.get(table.name, {}).values()}
        return {cls: "" for cls in PII_CLASSES if cls in classes}


def _tags(cls: str, rule: str) -> dict[str, str]:
    return {cls: "", "rule": rule}


def build_catalog(settings: Settings, schema: Schema) -> Catalog:
    from data_pipeline.keys import load_key
    from data_pipeline.policy import load_policy, load_policy_document

    try:
        policy = load_policy(settings.policy_path, schema)
    except PipelineError as exc:
        return Catalog(problem=str(exc))
    owners, bad = policy_owners(load_policy_document(settings.policy_path), schema)
    try:
        epoch = load_key(settings.key_file).epoch
    except PipelineError:
        epoch = "no-key"
    rules = {
        table: {column: (p.cls, p.rule) for column, p in columns.items()}
        for table, columns in policy.columns.items()
    }
    version = hashlib.sha256(f"{policy.digest}:{__version__}:{epoch}".encode()).hexdigest()[:16]
    note = f"Owners left out (write an e-mail or team:<name>): {', '.join(bad)}." if bad else None
    return Catalog(rules, version, None, owners, note)


OWNER = re.compile(r"^(team:[A-Za-z0-9_-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$")


def policy_owners(doc: dict, schema: Schema) -> tuple[dict[str, list[str]], list[str]]:
    """The policy's `owners:` (every table) and each table's own `owners:` (instead), as Dagster
    takes them: e-mails or team:<name>. Others are left out and named, so the location still loads."""

    def valid(values: object) -> list[str]:
        listed = [str(v) for v in values] if isinstance(values, list) else []
        bad.extend(v for v in listed if not OWNER.match(v))
        return [v for v in listed if OWNER.match(v)]

    bad: list[str] = []
    default = valid(doc.get("owners"))
    tables = doc.get("tables") or {}
    owners = {}
    for table in schema.tables:
        entry = tables.get(table.name)
        own = entry.get("owners") if isinstance(entry, dict) else None
        owners[table.name] = valid(own) if own is not None else default
    return owners, sorted(set(bad))


def column_lineage(table: Table, upstream: dg.AssetKey) -> dg.TableColumnLineage:
    """Each column comes from the same column upstream (anonymized in place, never renamed)."""
    deps = {c.name: [dg.TableColumnDep(asset_key=upstream, column_name=c.name)] for c in table.columns}
    return dg.TableColumnLineage(deps_by_column=deps)
