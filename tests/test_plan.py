"""`plan` computes stages and schema changes with no side effects; `run` refuses destructive ones."""

from __future__ import annotations

import sqlite3

from data_pipeline.config import Settings
from data_pipeline.plan import diff_schemas
from data_pipeline.schema import Column, Schema, Table


def table(name: str, *columns: Column) -> Table:
    return Table(name, columns, ("id",), (), ())


ID = Column("id", "INTEGER", "integer", False, primary_key=True)


def test_diff_classifies_additive_and_destructive_changes() -> None:
    old = Schema(
        (
            table(
                "a",
                ID,
                Column("name", "VARCHAR(20)", "string", True, 20),
                Column("gone", "TEXT", "string", True),
            ),
            table("dropped", ID),
        )
    )
    new = Schema(
        (
            table(
                "a",
                ID,
                Column("name", "VARCHAR(40)", "string", False, 40),
                Column("note", "TEXT", "string", True),
                Column("must", "INTEGER", "integer", False),
            ),
            table("fresh", ID),
        )
    )
    changes = {(c.kind, c.table, c.column): c.destructive for c in diff_schemas(old, new)}
    assert changes == {
        ("table_added", "fresh", None): False,
        ("table_removed", "dropped", None): True,
        ("column_added", "a", "note"): False,
        ("column_added", "a", "must"): True,
        ("column_removed", "a", "gone"): True,
        ("column_widened", "a", "name"): False,
        ("nullability", "a", "name"): True,
    }


def test_plan_has_no_side_effects(run_cli, settings: Settings) -> None:
    result = run_cli("plan")
    assert result.exit_code == 0, result.output
    assert "anonymize" in result.output and "FORWARD-ONLY" in result.output
    assert "release 1" in result.output
    assert not (settings.home / "ledger.db").exists()
    assert not (settings.home / "vault").exists()
    assert not (settings.home / "target.db").exists()


def test_plan_on_a_migrated_source_lists_changes_and_run_refuses_destructive(
    run_cli, settings: Settings, tmp_path
) -> None:
    import yaml

    from data_pipeline.config import DEFAULT_POLICY

    assert run_cli().exit_code == 0
    with sqlite3.connect(settings.source_url.removeprefix("sqlite:///")) as conn:
        conn.execute("ALTER TABLE products ADD COLUMN colour VARCHAR(20)")  # additive
        conn.execute("ALTER TABLE support_tickets DROP COLUMN status")  # destructive
    policy = yaml.safe_load(DEFAULT_POLICY.read_text())
    policy["tables"]["products"]["columns"]["colour"] = {"class": "safe", "rule": "keep"}
    del policy["tables"]["support_tickets"]["columns"]["status"]
    path = tmp_path / "migrated.yaml"
    path.write_text(yaml.safe_dump(policy))

    planned = run_cli("plan", "--policy", str(path))
    assert planned.exit_code == 0, planned.output
    assert "additive    column_added     products.colour" in planned.output
    assert "DESTRUCTIVE column_removed   support_tickets.status" in planned.output

    refused = run_cli("run", "--policy", str(path))
    assert refused.exit_code == 2 and "--allow-destructive" in refused.output
    allowed = run_cli("run", "--policy", str(path), "--allow-destructive")
    assert allowed.exit_code == 0, allowed.output
    assert "release 2 published" in allowed.output
