"""Subsetting: a keyed, referentially complete slice, chosen in the source database.

The demo with `--subset customers=10%` gives about a tenth of the customers, exactly their orders,
items, payments and tickets, every product and employee they reference (with managers), and no
dangling reference; the same key picks the same customers, another key others. A schema of its own
with a self-reference, a cycle, a many-to-many table and a composite foreign key closes and ends.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from data_pipeline.config import Settings
from data_pipeline.errors import BadInput
from data_pipeline.keys import generate_key_file
from data_pipeline.schema import reflect
from data_pipeline.subset import Start, SubsetSpec


def rows(url: str, sql: str) -> list[tuple]:
    with sa.create_engine(url).connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def ids(url: str, table: str) -> set:
    return {r[0] for r in rows(url, f'SELECT id FROM "{table}"')}


def dangling(url: str) -> dict[str, int]:
    """Foreign-key values in the target that resolve nowhere."""
    engine = sa.create_engine(url)
    out = {}
    for table in reflect(engine).tables:
        for fk in table.foreign_keys:
            cond = " AND ".join(f'c."{a}" = p."{b}"' for a, b in zip(fk.columns, fk.ref_columns, strict=True))
            present = " AND ".join(f'c."{a}" IS NOT NULL' for a in fk.columns)
            sql = (
                f'SELECT count(*) FROM "{table.name}" c WHERE {present} AND NOT EXISTS '
                f'(SELECT 1 FROM "{fk.ref_table}" p WHERE {cond})'
            )
            out[f"{table.name}.{','.join(fk.columns)}"] = rows(url, sql)[0][0]
    return {k: v for k, v in out.items() if v}


def test_parse_reads_flags_over_the_policy_section() -> None:
    doc = {"subset": {"start": {"customers": "5%", "orders": "total > 10"}, "other": "empty"}}
    spec = SubsetSpec.parse(("customers=10%",), doc, None)
    assert spec.starts == (Start("customers", percent=10.0), Start("orders", where="total > 10"))
    assert spec.other == "empty"
    assert SubsetSpec.parse((), None, None) is None
    for bad in ("customers=0%", "customers=150%", "customers"):
        with pytest.raises(BadInput, match="--subset"):
            SubsetSpec.parse((bad,), None, None)


def test_demo_subset_is_a_tenth_of_customers_and_exactly_what_they_touch(
    run_cli, settings: Settings, source_db: Path
) -> None:
    planned = run_cli("plan", "--subset", "customers=10%")
    assert planned.exit_code == 0 and "subset: customers=10% (keyed)" in planned.output, planned.output
    small = {"DP_K_ANONYMITY": "1"}  # ~20 of 200 customers: k=5 on birth decades blocks it, as it should
    result = run_cli("run", "--subset", "customers=10%", env=small)
    assert result.exit_code == 0, result.output
    source, target = f"sqlite:///{source_db}", settings.target_url
    customers = ids(target, "customers")
    total = len(ids(source, "customers"))
    assert 0.04 * total <= len(customers) <= 0.2 * total
    assert customers <= ids(source, "customers")

    def source_ids(table: str, where: str) -> set:
        return {r[0] for r in rows(source, f'SELECT id FROM "{table}" WHERE {where}')}

    listed = ",".join(map(str, customers))
    orders = source_ids("orders", f"customer_id IN ({listed})")
    assert ids(target, "orders") == orders
    order_list = ",".join(map(str, orders)) or "NULL"
    items = f"SELECT order_id, line_no FROM order_items WHERE order_id IN ({order_list})"
    assert set(rows(target, "SELECT order_id, line_no FROM order_items")) == set(rows(source, items))
    assert ids(target, "payments") == source_ids("payments", f"order_id IN ({order_list})")
    assert ids(target, "support_tickets") == source_ids("support_tickets", f"customer_id IN ({listed})")
    referenced = {r[0] for r in rows(target, "SELECT product_id FROM order_items")}
    assert referenced <= ids(target, "products") < ids(source, "products") | {None}
    import dagster as dg

    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:  # sizes in the catalog
        event = instance.get_latest_materialization_event(dg.AssetKey(["snapshot", "customers"]))
        meta = event.asset_materialization.metadata
        assert meta["subset"].value == "start" and meta["dagster/row_count"].value == len(customers)
        orders_meta = instance.get_latest_materialization_event(dg.AssetKey(["snapshot", "orders"]))
        assert orders_meta.asset_materialization.metadata["subset"].value == "down"
    assert dangling(target) == {}


def test_the_same_key_picks_the_same_rows_and_another_key_others(
    run_cli, settings: Settings, tmp_path
) -> None:
    first = run_cli("run", "--subset", "customers=10%", env={"DP_K_ANONYMITY": "1"})
    assert first.exit_code == 0, first.output
    picked = ids(settings.target_url, "customers")

    again = replace(settings, home=tmp_path / "again", target_url=f"sqlite:///{tmp_path / 'again.db'}")
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "anon.key").write_bytes(settings.key_file.read_bytes())
    (tmp_path / "again" / "anon.key").chmod(0o600)
    other = replace(settings, home=tmp_path / "other", target_url=f"sqlite:///{tmp_path / 'other.db'}")
    generate_key_file(other.key_file)
    from typer.testing import CliRunner

    from data_pipeline.cli import app

    for s in (again, other):
        args = ["run", "--home", str(s.home), "--source", s.source_url, "--target", s.target_url]
        result = CliRunner().invoke(app, [*args, "--subset", "customers=10%"], env={"DP_K_ANONYMITY": "1"})
        assert result.exit_code == 0, result.output
    assert ids(again.target_url, "customers") == picked
    assert ids(other.target_url, "customers") != picked


GRAPH = """
CREATE TABLE teams (id INTEGER PRIMARY KEY, name TEXT, lead_id INTEGER REFERENCES people(id));
CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, team_id INTEGER REFERENCES teams(id),
                     mentor_id INTEGER REFERENCES people(id));
CREATE TABLE projects (id INTEGER PRIMARY KEY, title TEXT);
CREATE TABLE people_projects (person_id INTEGER NOT NULL REFERENCES people(id),
                              project_id INTEGER NOT NULL REFERENCES projects(id),
                              PRIMARY KEY (person_id, project_id));
CREATE TABLE shipments (order_no INTEGER, line_no INTEGER, weight INTEGER, PRIMARY KEY (order_no, line_no));
CREATE TABLE shipment_notes (id INTEGER PRIMARY KEY, order_no INTEGER, line_no INTEGER, note TEXT,
                             FOREIGN KEY (order_no, line_no) REFERENCES shipments(order_no, line_no));
CREATE TABLE reviews (id INTEGER PRIMARY KEY, person_id INTEGER REFERENCES people(id), score INTEGER);
"""


def graph_source(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(GRAPH)
        conn.executemany(
            "INSERT INTO teams VALUES (?, ?, ?)", [(t, f"team {t}", t * 10) for t in range(1, 5)]
        )
        people = [(p, f"p{p}", (p - 1) // 10 + 1, p - 1 if p % 10 != 1 else None) for p in range(1, 41)]
        conn.executemany("INSERT INTO people VALUES (?, ?, ?, ?)", people)
        conn.executemany("INSERT INTO projects VALUES (?, ?)", [(j, f"project {j}") for j in range(1, 9)])
        conn.executemany(
            "INSERT INTO people_projects VALUES (?, ?)", [(p, 1 + (p * 3) % 8) for p in range(1, 41)]
        )
        shipments = [(o, line, o * line) for o in range(1, 6) for line in range(1, 4)]
        conn.executemany("INSERT INTO shipments VALUES (?, ?, ?)", shipments)
        conn.executemany(
            "INSERT INTO shipment_notes VALUES (?, ?, ?, ?)",
            [(i, 1 + i % 5, 1 + i % 3, "n") for i in range(20)],
        )
        conn.executemany("INSERT INTO reviews VALUES (?, ?, ?)", [(i, 1 + i % 40, i % 5) for i in range(60)])


def graph_policy(path: Path, source: Path) -> None:
    schema = reflect(sa.create_engine(f"sqlite:///{source}"))
    tables = {
        t.name: {
            "columns": {
                c.name: {
                    "class": "key" if c.primary_key or c.name.endswith("_id") else "safe",
                    "rule": "keep",
                }
                for c in t.columns
            }
        }
        for t in schema.tables
    }
    path.write_text(yaml.safe_dump({"tables": tables}))


@pytest.mark.parametrize("other", ["copy", "empty"])
def test_closure_over_a_cycle_a_self_reference_many_to_many_and_a_composite_key(
    run_cli, settings: Settings, tmp_path: Path, other: str
) -> None:
    source = tmp_path / "graph.db"
    graph_source(source)
    policy = tmp_path / "graph.yaml"
    graph_policy(policy, source)
    url = f"sqlite:///{source}"
    result = run_cli(
        "run",
        "--source",
        url,
        "--policy",
        str(policy),
        "--subset",
        "people:id IN (12, 13)",
        "--subset-other",
        other,
    )
    assert result.exit_code == 0, result.output
    target = settings.target_url
    people = ids(target, "people")
    # the start rows, their mentors up the chain (self-reference), and each team's lead (the cycle)
    assert {12, 13, 11} <= people
    assert ids(target, "teams") == {2}
    assert 20 in people  # team 2's lead, reached upward through teams.lead_id
    # many-to-many: the people's project links (down) and those projects (up)
    links = set(rows(target, "SELECT person_id, project_id FROM people_projects"))
    assert links == set(
        rows(
            url,
            f"SELECT person_id, project_id FROM people_projects WHERE person_id IN "
            f"({','.join(map(str, people))})",
        )
    )
    assert {p for _, p in links} <= ids(target, "projects")
    # reviews of the people belong with them (down)
    assert {r[0] for r in rows(target, "SELECT person_id FROM reviews")} <= people
    # tables never reached: copied whole, or emptied
    shipped = rows(target, "SELECT count(*) FROM shipments")[0][0]
    notes = rows(target, "SELECT count(*) FROM shipment_notes")[0][0]
    assert (shipped, notes) == ((15, 20) if other == "copy" else (0, 0))
    assert dangling(target) == {}


def test_postgres_closure_runs_in_the_source_database(
    run_cli, settings: Settings, source_db: Path, pg_url: str
):
    """The same slice from PostgreSQL: the keyed share and the closure are SQL in the snapshot's
    transaction, and the same key picks the same customers as from SQLite."""
    from test_postgres import copy_demo_to

    copy_demo_to(source_db, pg_url)
    small = {"DP_K_ANONYMITY": "1"}
    from_pg = run_cli("run", "--source", pg_url, "--subset", "customers=10%", env=small)
    assert from_pg.exit_code == 0, from_pg.output
    picked = ids(settings.target_url, "customers")
    assert dangling(settings.target_url) == {}
    with sa.create_engine(pg_url).connect() as conn:  # no key table left behind in the source
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM pg_tables WHERE tablename LIKE '_dp_subset%'")
            ).scalar()
            == 0
        )

    sqlite_home = replace(settings, home=settings.home.parent / "from_sqlite")
    sqlite_home.home.mkdir()
    (sqlite_home.home / "anon.key").write_bytes(settings.key_file.read_bytes())
    (sqlite_home.home / "anon.key").chmod(0o600)
    target = f"sqlite:///{sqlite_home.home / 'target.db'}"
    from typer.testing import CliRunner

    from data_pipeline.cli import app

    args = ["run", "--home", str(sqlite_home.home), "--source", f"sqlite:///{source_db}", "--target", target]
    result = CliRunner().invoke(app, [*args, "--subset", "customers=10%"], env=small)
    assert result.exit_code == 0, result.output
    assert ids(target, "customers") == picked
