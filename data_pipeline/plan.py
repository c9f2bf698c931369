"""The plan of a run: typed stages computed with no side effects, shown, then executed.

Like SQLMesh's plan/evaluator split: `compute_plan` only reads (the source schema, the policy and the
ledger); `run` executes the same plan. Schema changes against the last release are classified
additive or destructive; destructive ones stop the run unless explicitly allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

from data_pipeline.config import redact_url
from data_pipeline.schema import Schema

STEPS = (
    ("snapshot", False, "read every table in one transaction into raw checkpoints (vault)"),
    ("anonymize", True, "apply the policy's keyed rules; raw values are not carried forward"),
    ("check", False, "blocking checks + expectation suites; any failure publishes nothing"),
    ("publish", False, "replace the target's tables in one transaction as a new release"),
)


@dataclass(frozen=True)
class SchemaChange:
    kind: str  # table_added, table_removed, column_added, column_removed, column_retyped, ...
    table: str
    column: str | None
    detail: str
    destructive: bool

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        mark = "DESTRUCTIVE" if self.destructive else "additive"
        return f"{mark:<11} {self.kind:<16} {where}  {self.detail}"


@dataclass(frozen=True)
class Stage:
    name: str
    forward_only: bool
    tables: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class Plan:
    source: str
    target: str
    release: int
    previous_release: int | None
    stages: tuple[Stage, ...]
    changes: tuple[SchemaChange, ...]

    @property
    def destructive(self) -> tuple[SchemaChange, ...]:
        return tuple(c for c in self.changes if c.destructive)

    def render(self) -> str:
        lines = [
            f"plan: {self.source} -> {self.target}, release {self.release}"
            + (f" (after release {self.previous_release})" if self.previous_release else " (first)"),
            "stages:",
        ]
        for i, stage in enumerate(self.stages, 1):
            mark = "FORWARD-ONLY" if stage.forward_only else "reversible  "
            lines.append(f"  {i}. {stage.name:<10} {mark}  {len(stage.tables)} tables  {stage.description}")
        if self.previous_release is None:
            lines.append("schema changes: none (no earlier release)")
        elif not self.changes:
            lines.append(f"schema changes against release {self.previous_release}: none")
        else:
            lines.append(f"schema changes against release {self.previous_release}:")
            lines += [f"  {c}" for c in self.changes]
        return "\n".join(lines)


def diff_schemas(old: Schema, new: Schema) -> list[SchemaChange]:
    """Additive: new tables, new nullable columns, relaxed NOT NULL, longer VARCHAR.
    Destructive: anything that loses data or breaks a reader of the last release."""
    changes: list[SchemaChange] = []
    old_tables = {t.name: t for t in old.tables}
    new_tables = {t.name: t for t in new.tables}
    for name in sorted(new_tables.keys() - old_tables.keys()):
        changes.append(SchemaChange("table_added", name, None, "new table", False))
    for name in sorted(old_tables.keys() - new_tables.keys()):
        changes.append(SchemaChange("table_removed", name, None, "table dropped from the target", True))
    for name in sorted(new_tables.keys() & old_tables.keys()):
        before = {c.name: c for c in old_tables[name].columns}
        after = {c.name: c for c in new_tables[name].columns}
        for col in sorted(after.keys() - before.keys()):
            nullable = after[col].nullable
            changes.append(
                SchemaChange(
                    "column_added",
                    name,
                    col,
                    f"{after[col].type}{'' if nullable else ' NOT NULL'}",
                    destructive=not nullable,
                )
            )
        for col in sorted(before.keys() - after.keys()):
            changes.append(SchemaChange("column_removed", name, col, "column dropped", True))
        for col in sorted(after.keys() & before.keys()):
            a, b = after[col], before[col]
            if a.generic != b.generic:
                changes.append(SchemaChange("column_retyped", name, col, f"{b.type} -> {a.type}", True))
            elif (a.length or 0) != (b.length or 0) and b.length and (not a.length or a.length > b.length):
                changes.append(SchemaChange("column_widened", name, col, f"{b.type} -> {a.type}", False))
            elif a.length and b.length and a.length < b.length:
                changes.append(SchemaChange("column_narrowed", name, col, f"{b.type} -> {a.type}", True))
            if a.nullable != b.nullable:
                changes.append(
                    SchemaChange(
                        "nullability",
                        name,
                        col,
                        "NULL -> NOT NULL" if not a.nullable else "NOT NULL -> NULL",
                        destructive=not a.nullable,
                    )
                )
    return changes


def build_plan(
    source: str, target: str, schema: Schema, previous: tuple[int, Schema] | None, next_release: int
) -> Plan:
    """A pure function of what was read: the same inputs always give the same plan."""
    tables = schema.names
    return Plan(
        source=redact_url(source),
        target=redact_url(target),
        release=next_release,
        previous_release=previous[0] if previous else None,
        stages=tuple(Stage(name, forward_only, tables, text) for name, forward_only, text in STEPS),
        changes=tuple(diff_schemas(previous[1], schema)) if previous else (),
    )
