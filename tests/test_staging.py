"""The staged release: validated in the target on every row before it is promoted, or dropped.

Specification (data_pipeline/staging.py, stages/publish.py):
- with suites, the release is loaded where the application does not look (`_dp_candidate`: a schema
  on PostgreSQL, a file beside a SQLite target), every suite runs over every row of it, and only then
  is it promoted in the one publish transaction;
- a critical failure anywhere, down to the last row, publishes nothing, names the suite and the
  expectation with counts (never a value), and leaves no candidate;
- a candidate left by a killed run is gone after the next run.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from data_pipeline import staging
from data_pipeline.cli import app
from data_pipeline.config import DEFAULT_SUITES, Settings
from data_pipeline.db import make_engine
from data_pipeline.schema import reflect

PLANTED = "teleported-3f9a"


def plant_bad_last_order(source_db: Path) -> int:
    """The last order gets a status outside the orders suite's value set; returns the order count."""
    with sqlite3.connect(source_db) as conn:
        conn.execute("UPDATE orders SET status = ? WHERE id = (SELECT max(id) FROM orders)", (PLANTED,))
        return conn.execute("SELECT count(*) FROM orders").fetchone()[0]


def test_a_bad_last_row_publishes_nothing_and_leaves_no_candidate(
    run_cli, settings: Settings, source_db: Path
) -> None:
    assert run_cli(suites=DEFAULT_SUITES).exit_code == 0  # release 1
    target = make_engine(settings.target_url)
    with target.connect() as conn:
        before = sorted(conn.exec_driver_sql("SELECT id, status FROM orders").all())
    orders = plant_bad_last_order(source_db)

    result = run_cli(suites=DEFAULT_SUITES)
    assert result.exit_code == 1, result.output
    assert "critical expectations failed on the staged release (every row checked)" in result.output
    assert f"orders (expect_column_values_to_be_in_set on status: 1 of {orders} rows)" in result.output
    assert "check failed published/orders:expectations" in result.output
    assert "nothing was published" in result.output
    with target.connect() as conn:  # release 1, untouched
        assert sorted(conn.exec_driver_sql("SELECT id, status FROM orders").all()) == before
    assert not staging.sqlite_file(target).exists()
    gx = settings.home / "gx"
    assert gx.is_dir()
    for path in [p for p in gx.rglob("*") if p.is_file()]:
        assert PLANTED.encode() not in path.read_bytes(), path
    assert PLANTED not in result.output


def test_a_candidate_left_by_a_killed_run_is_gone_after_the_next_run(
    run_cli, settings: Settings, source_db: Path
) -> None:
    target = make_engine(settings.target_url)
    schema = reflect(make_engine(settings.source_url))
    stale = staging.stage(target, schema, lambda table: iter(()))  # as if killed before promotion
    assert stale.path is not None and stale.path.exists()
    assert sa.inspect(target).get_table_names() == []  # the application sees nothing of it

    result = run_cli(suites=DEFAULT_SUITES)
    assert result.exit_code == 0, result.output
    assert not stale.path.exists()


def test_a_candidate_has_portable_columns_that_accept_any_row(settings: Settings) -> None:
    """NULLs where the release forbids them and no keys: the suites judge the rows, not the load."""
    target = make_engine(settings.target_url)
    schema = reflect(make_engine(settings.source_url))
    meta = staging.candidate_metadata(schema, "postgresql", staging.CANDIDATE)
    for table in meta.tables.values():
        assert table.schema == staging.CANDIDATE and "UNLOGGED" in table._prefixes
        assert all(c.nullable for c in table.columns) and not table.primary_key.columns
        assert not table.foreign_keys
    with pytest.raises(Exception, match="in-memory SQLite target"):
        staging.sqlite_file(make_engine("sqlite://"))
    staging.discard(target)  # nothing to drop is fine


def test_a_publisher_at_work_keeps_its_candidate(settings: Settings) -> None:
    """Only an unreserved candidate is stale: one publisher stages into a target at a time."""
    target = make_engine(settings.target_url)
    schema = reflect(make_engine(settings.source_url))
    with staging.reserved(target) as mine:
        assert mine
        staged = staging.stage(target, schema, lambda table: iter(()))
        with staging.reserved(target, wait=False) as other:
            assert other is False
        staging.discard_stale(target)  # what another run's start does meanwhile
        assert staged.path is not None and staged.path.exists()
    staging.discard_stale(target)
    assert not staged.path.exists()


def test_postgresql_stages_in_its_own_schema_and_drops_a_stale_one(settings: Settings, pg_url: str) -> None:
    """SQLite -> PostgreSQL with the demo's suites: a `_dp_candidate` schema left by a killed run is
    dropped, the release is staged there, validated and promoted; none is left."""
    target = make_engine(pg_url)
    with target.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA _dp_candidate")
        conn.exec_driver_sql("CREATE TABLE _dp_candidate.orders (id int)")
    os.environ["DP_SUITES"] = str(DEFAULT_SUITES)
    args = ["--home", str(settings.home), "--source", settings.source_url, "--target", pg_url]
    result = CliRunner().invoke(app, ["run", *args, "--policy", str(settings.policy_path)])
    assert result.exit_code == 0, result.output
    with target.connect() as conn:
        left = conn.exec_driver_sql("SELECT nspname FROM pg_namespace WHERE nspname = '_dp_candidate'")
        assert left.all() == []
        held = conn.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").scalar()
        assert held == 0  # the staging lock was released (a pooled session would keep it)
        assert conn.exec_driver_sql("SELECT count(*) FROM orders").scalar() > 0
    target.dispose()


def test_a_target_user_who_may_not_create_the_staging_schema_gets_one_line(
    settings: Settings, pg_url: str
) -> None:
    admin = make_engine(pg_url)
    database = pg_url.rsplit("/", 1)[1]
    with admin.begin() as conn:
        conn.exec_driver_sql("DROP ROLE IF EXISTS dp_no_schemas")
        conn.exec_driver_sql("CREATE ROLE dp_no_schemas LOGIN")
        conn.exec_driver_sql("GRANT ALL ON SCHEMA public TO dp_no_schemas")
    url = sa.engine.make_url(pg_url).set(username="dp_no_schemas").render_as_string(hide_password=False)
    os.environ["DP_SUITES"] = str(DEFAULT_SUITES)
    args = ["--home", str(settings.home), "--source", settings.source_url, "--target", url]
    try:
        result = CliRunner().invoke(app, ["run", *args, "--policy", str(settings.policy_path)])
        assert result.exit_code == 2, result.output
        assert "may not create schema _dp_candidate" in result.output
        assert "Traceback" not in result.output
        with admin.connect() as conn:
            assert (
                conn.exec_driver_sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").scalar()
                == 0
            )
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'REVOKE ALL ON DATABASE "{database}" FROM dp_no_schemas')
            conn.exec_driver_sql("REVOKE ALL ON SCHEMA public FROM dp_no_schemas")
            conn.exec_driver_sql("DROP OWNED BY dp_no_schemas")
        with admin.begin() as conn:
            conn.exec_driver_sql("DROP ROLE dp_no_schemas")
        admin.dispose()


def test_a_suite_gx_does_not_know_fails_in_one_line_and_publishes_nothing(
    run_cli, settings: Settings, tmp_path: Path
) -> None:
    """The run checks a suite's shape before staging and GX checks its types where GX runs (not in
    the run's process): either way one line, exit 2, nothing published, no candidate."""
    import json
    import shutil

    suites = tmp_path / "suites"
    shutil.copytree(DEFAULT_SUITES, suites)
    orders = json.loads((suites / "orders.json").read_text())
    orders["expectations"].append(
        {"type": "expect_column_values_to_be_teleported", "kwargs": {"column": "id"}}
    )
    (suites / "orders.json").write_text(json.dumps(orders))
    result = run_cli(suites=suites)
    assert result.exit_code == 2, result.output
    assert "unknown expectation type 'expect_column_values_to_be_teleported'" in result.output
    assert "Traceback" not in result.output
    target = make_engine(settings.target_url)
    assert sa.inspect(target).get_table_names() == [] and not staging.sqlite_file(target).exists()


def test_a_target_whose_staging_area_is_held_fails_in_one_line_with_exit_4(
    settings: Settings, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another publisher staging into the same target: the run waits DP_LOCK_TIMEOUT, then says so."""
    monkeypatch.setenv("DP_LOCK_TIMEOUT", "1s")
    monkeypatch.setenv("DP_SUITES", str(DEFAULT_SUITES))
    target = make_engine(pg_url)
    args = ["--home", str(settings.home), "--source", settings.source_url, "--target", pg_url]
    with staging.reserved(target):
        result = CliRunner().invoke(app, ["run", *args, "--policy", str(settings.policy_path)])
    assert result.exit_code == 4, result.output
    assert (
        "target busy: another run has been staging a release there for longer than lock_timeout 1s"
        in result.output
    )
    assert "nothing was published" in result.output
    target.dispose()


def test_a_cross_table_query_naming_a_schema_is_refused_as_it_would_read_the_live_release(
    settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    """`public.orders` on the second run is release 1, not the staged release 2 being validated:
    one line, exit 2, release 1 stays; unqualified, the same query validates release 2."""
    import json
    import shutil

    suites = tmp_path / "suites"
    shutil.copytree(DEFAULT_SUITES, suites)
    os.environ["DP_SUITES"] = str(suites)
    args = ["run", "--home", str(settings.home), "--source", settings.source_url, "--target", pg_url]
    args += ["--policy", str(settings.policy_path)]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    joined = json.loads((suites / "orders_with_customers.json").read_text())
    joined["query"] = joined["query"].replace("FROM orders", "FROM public.orders")
    (suites / "orders_with_customers.json").write_text(json.dumps(joined))
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 2, second.output
    assert "cross-table suite orders_with_customers" in second.output
    assert "reads public.orders, not the staged release" in second.output
    assert "Traceback" not in second.output
    target = make_engine(pg_url)
    with target.connect() as conn:
        assert conn.exec_driver_sql("SELECT max(release) FROM _dp_release").scalar() == 1
        assert (
            conn.exec_driver_sql("SELECT count(*) FROM pg_namespace WHERE nspname = '_dp_candidate'").scalar()
            == 0
        )
    target.dispose()
