"""The plan: typed stages computed with no side effects, shown, then executed exactly.

As in SQLMesh's plan/evaluator split, a builder (`plan_run`, `plan_rollback`) only reads (schema,
policy, ledger, checkpoints); an evaluator visits exactly the plan's stages (assets/runner.py through
Dagster, `releases.execute` for a rollback); `Plan.render` prints the same objects. `Plan.steps` are
the units that run, which a test holds equal to the steps Dagster executed.

    >>> Plan("src", "tgt", 2, 1, (Publish(2, ("a",)),), ()).steps
    (Step(stage='publish', table=None),)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from data_pipeline.check_names import PART_CHECKS, TABLE_CHECKS, CheckName
from data_pipeline.checkpoint import CheckpointRef
from data_pipeline.config import redact_url
from data_pipeline.context import Context
from data_pipeline.expectations import suite_names
from data_pipeline.ledger import Ledger
from data_pipeline.partitions import Partitioning
from data_pipeline.schema import Schema, Table


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


@dataclass(frozen=True)
class Step:
    """One unit that runs: a stage over one table, or over all of them (table None)."""

    stage: str
    table: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """Read every table in one transaction into raw checkpoints (vault)."""

    tables: tuple[str, ...]
    subset: str | None = None  # SubsetSpec.describe(): what to copy when not everything
    name = "snapshot"
    forward_only = False

    @property
    def steps(self) -> tuple[Step, ...]:
        return (Step(self.name),)

    def describe(self) -> str:
        what = f"; subset: {self.subset}" if self.subset else ""
        return f"{len(self.tables)} tables read in one transaction into raw checkpoints (vault){what}"


@dataclass(frozen=True)
class Anonymize:
    """Apply the policy's keyed rules per table (in parts for big tables); raw values are not carried
    forward. Each step runs the checks its rows decide."""

    tables: tuple[str, ...]
    parts: Partitioning = field(default_factory=Partitioning)
    from_snapshot: str | None = None  # an existing snapshot batch (resume, roll-forward); None: new
    name = "anonymize"
    forward_only = True

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(Step(self.name, t) for t in self.tables)

    def checks(self, table: str) -> tuple[CheckName, ...]:
        return PART_CHECKS if table in self.parts else TABLE_CHECKS

    def describe(self) -> str:
        source = f"snapshot {self.from_snapshot}" if self.from_snapshot else "the new snapshot"
        parted = [t for t in self.tables if t in self.parts]
        inparts = f"; in {self.parts.count} parts: {', '.join(parted)}" if parted else ""
        return (
            f"{len(self.tables)} tables from {source}, keyed rules; checks {', '.join(TABLE_CHECKS)}{inparts}"
        )


@dataclass(frozen=True)
class Check:
    """Checks across tables: every foreign key resolves in its anonymized parent. (Tables in parts
    are checked by `publish`, once their parts are combined.)"""

    tables: tuple[str, ...]
    name = "check"
    forward_only = False

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(Step(self.name, t) for t in self.tables)

    def describe(self) -> str:
        return f"{CheckName.FOREIGN_KEYS_RESOLVE} on {len(self.tables)} tables; any failure publishes nothing"


@dataclass(frozen=True)
class Publish:
    """Replace the target's tables in one transaction as release N (parts combined first). With
    suites, the release is staged in the target first and validated there on every row."""

    release: int
    tables: tuple[str, ...]
    suites: tuple[str, ...] = ()
    name = "publish"
    forward_only = False

    @property
    def steps(self) -> tuple[Step, ...]:
        return (Step(self.name),)

    def describe(self) -> str:
        staged = (
            f"staged in the target, {len(self.suites)} expectation suite(s) over every row, then promoted "
            if self.suites
            else ""
        )
        tables = f"{len(self.tables)} tables as release {self.release}"
        return f"{tables}, {staged}in one transaction, after every check"


@dataclass(frozen=True)
class Republish:
    """Publish an earlier release's anonymized checkpoints again (crosses no forward-only step)."""

    release: int
    tables: tuple[str, ...]
    name = "republish"
    forward_only = False

    @property
    def steps(self) -> tuple[Step, ...]:
        return (Step(self.name),)

    def describe(self) -> str:
        return f"release {self.release}'s {len(self.tables)} anonymized checkpoints, in one transaction"


Stage = Snapshot | Anonymize | Check | Publish | Republish


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

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(step for stage in self.stages for step in stage.steps)

    def stage(self, kind: type[Stage]) -> Stage | None:
        return next((s for s in self.stages if isinstance(s, kind)), None)

    def render(self) -> str:
        lines = [
            f"plan: {self.source} -> {self.target}, release {self.release}"
            + (f" (after release {self.previous_release})" if self.previous_release else " (first)"),
            "stages:",
        ]
        for i, stage in enumerate(self.stages, 1):
            mark = "FORWARD-ONLY" if stage.forward_only else "reversible  "
            lines.append(f"  {i}. {stage.name:<10} {mark}  {stage.describe()}")
        if self.previous_release is None:
            lines.append("schema changes: none (no earlier release)")
        elif not self.changes:
            lines.append(f"schema changes against release {self.previous_release}: none")
        else:
            lines.append(f"schema changes against release {self.previous_release}:")
            lines += [f"  {c}" for c in self.changes]
        return "\n".join(lines)


@dataclass(frozen=True)
class Inventory:
    """What a resumed run can start from: the newest snapshot batch within retention, and the latest
    checkpoints per table as the orchestrator knows them (only those that verify and are current)."""

    snapshot_batch: str | None = None
    snapshots: dict[str, CheckpointRef] = field(default_factory=dict)
    anonymized_current: dict[str, bool] = field(default_factory=dict)  # table -> current and passed


def foreign_key_tables(schema: Schema, parts: Partitioning) -> tuple[str, ...]:
    """Tables whose foreign keys are checked on their own; those touching a table in parts, and
    those in a cycle of tables referencing each other (each check would wait for the other's table),
    are checked by `publish`, which checks every foreign key of the release before writing."""
    cyclic = _in_cycles(schema)
    return tuple(
        t.name for t in schema.tables if t.foreign_keys and not _touches(t, parts) and t.name not in cyclic
    )


def _in_cycles(schema: Schema) -> set[str]:
    """Tables that reach themselves through other tables' foreign keys (a self-reference alone is
    no cycle here)."""
    parents = {t.name: {f.ref_table for f in t.foreign_keys if f.ref_table != t.name} for t in schema.tables}
    cyclic = set()
    for start in parents:
        seen, todo = set(), list(parents[start])
        while todo:
            node = todo.pop()
            if node == start:
                cyclic.add(start)
                break
            if node not in seen and node in parents:
                seen.add(node)
                todo.extend(parents[node])
    return cyclic


def _touches(table: Table, parts: Partitioning) -> bool:
    return table.name in parts or any(fk.ref_table in parts for fk in table.foreign_keys)


def plan_run(
    source: str,
    target: str,
    schema: Schema,
    previous: tuple[int, Schema] | None,
    next_release: int,
    parts: Partitioning,
    inventory: Inventory | None = None,
    subset: str | None = None,
    suites: tuple[str, ...] = (),
) -> Plan:
    """The stages of a run. Without an inventory (a fresh run): all of them. With one (resume,
    roll-forward): from the newest valid snapshot on, anonymizing (and checking) only the tables whose
    anonymized checkpoint is not current and passed; only `publish` when every one is. `publish`
    checks every foreign key of the release again. A pure function of what was read."""
    tables = schema.names
    stages: list[Stage] = []
    resumed = (
        inventory is not None and inventory.snapshot_batch is not None and _snapshot_whole(inventory, tables)
    )
    if not resumed:
        stages.append(Snapshot(tables, subset))
    stale = tables if not resumed else tuple(t for t in tables if not inventory.anonymized_current.get(t))  # type: ignore[union-attr]
    if stale:  # a resumed run keeps the tables whose anonymized checkpoint is current and passed
        stages.append(Anonymize(stale, parts, inventory.snapshot_batch if resumed else None))  # type: ignore[union-attr]
        fk_tables = tuple(t for t in foreign_key_tables(schema, parts) if t in stale)
        if fk_tables:
            stages.append(Check(fk_tables))
    stages.append(Publish(next_release, tables, suites))
    return Plan(
        source=redact_url(source),
        target=redact_url(target),
        release=next_release,
        previous_release=previous[0] if previous else None,
        stages=tuple(stages),
        changes=tuple(diff_schemas(previous[1], schema)) if previous else (),
    )


def _snapshot_whole(inventory: Inventory, tables: tuple[str, ...]) -> bool:
    """Every table's latest snapshot checkpoint belongs to the newest valid snapshot batch."""
    return all(
        t in inventory.snapshots and inventory.snapshots[t].id.startswith(f"{inventory.snapshot_batch}/")
        for t in tables
    )


def build_plan(ctx: Context, parts: Partitioning, inventory: Inventory | None = None) -> Plan:
    """The run's plan from the ledger's view of the target (read only: a missing ledger is empty) and
    the target's own release numbering."""
    settings = ctx.settings
    ledger = Ledger(settings.ledger_url, create=False)
    current = ledger.current(settings.target_url)
    previous = (current.number, Schema.from_dict(current.schema)) if current and current.schema else None
    return plan_run(
        settings.source_url,
        settings.target_url,
        ctx.schema,
        previous,
        ctx.next_release(ledger),
        parts,
        inventory,
        ctx.subset.describe() if ctx.subset else None,
        tuple(sorted(suite_names(ctx.settings))),
    )
