"""Issue 15: suites as GX writes them, GX's severity as Dagster's, and validation in the database.

Every row is validated where it lives (GX's SQL datasource: table and query assets), with memory that
does not grow with rows; runs are GX Checkpoints whose action writes scrubbed Data Docs into a GX File
Data Context, the project's own `gx/` when there is one.
"""

from __future__ import annotations

import json
import tracemalloc
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from data_pipeline.config import load_settings
from data_pipeline.expectations import (
    DataDocs,
    QueryFailed,
    SuiteResult,
    check_severity,
    configured_suites,
    load_suite,
    validate_frame,
    validate_query,
    validate_table,
)

PLANTED = f"planted-status-{uuid.uuid4().hex}"


def gx_exported(name: str) -> dict:
    """A suite made with GX's own API and exported as GX exports it, one expectation per severity."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.core.expectation_suite import ExpectationSuite

    context = gx.get_context(mode="ephemeral")
    suite = context.suites.add(
        ExpectationSuite(
            name=name,
            expectations=[
                gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["paid", "shipped"]),
                gxe.ExpectColumnValuesToBeUnique(column="id", severity="warning"),
                gxe.ExpectColumnValueLengthsToBeBetween(column="status", max_value=4, severity="info"),
            ],
        )
    )
    return suite.to_json_dict()


def orders_db(path: Path, rows: int, bad_last: bool = True) -> sa.Engine:
    """`orders` whose last row (only) has a status outside the value set, and a duplicate id column."""
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (id INTEGER NOT NULL, status TEXT NOT NULL, note TEXT)")
        conn.exec_driver_sql(
            "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < ?) "
            "INSERT INTO orders SELECT i, CASE WHEN i = ? THEN ? ELSE 'paid' END, printf('%0100d', i) FROM r",
            (rows, rows if bad_last else -1, PLANTED),
        )
        conn.exec_driver_sql("CREATE TABLE customers (id INTEGER PRIMARY KEY, country TEXT)")
        conn.exec_driver_sql("INSERT INTO customers VALUES (1, 'US'), (2, 'GB')")
    return engine


# every status is 'paid', every id unique: what the tests below plant one bad row against
PAID_AND_UNIQUE = [
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "status", "value_set": ["paid"]}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
]


def test_a_suite_exported_by_gx_loads_unchanged_with_gx_severities(tmp_path: Path) -> None:
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(gx_exported("orders")), encoding="utf-8")
    suite = load_suite(path)
    assert [e["severity"] for e in suite["expectations"]] == ["critical", "warning", "info"]
    assert all("id" not in e for e in suite["expectations"])  # GX's ids are its own, dropped

    result = validate_table(orders_db(tmp_path / "o.db", 50), None, "orders", suite)
    by_type = {o.expectation_type: o for o in result.outcomes}
    assert by_type["expect_column_values_to_be_in_set"].severity == "critical"
    assert [o.severity for o in result.failed_critical] == ["critical"]
    assert [o.severity for o in result.failed_info] == ["info"]  # PLANTED is longer than 4
    assert not result.failed_warning  # ids are unique


def test_the_older_meta_severity_still_loads_and_both_must_agree(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    expectation = {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}}
    path.write_text(json.dumps({"expectations": [{**expectation, "meta": {"severity": "warning"}}]}))
    assert load_suite(path)["expectations"][0]["severity"] == "warning"
    path.write_text(json.dumps({"expectations": [{**expectation, "severity": "info", "meta": {}}]}))
    assert load_suite(path)["expectations"][0]["severity"] == "info"
    path.write_text(
        json.dumps({"expectations": [{**expectation, "severity": "info", "meta": {"severity": "critical"}}]})
    )
    with pytest.raises(ValueError, match="severity 'info' but meta.severity 'critical'"):
        load_suite(path)


def test_gx_severity_maps_to_dagster_asset_check_severity() -> None:
    """critical blocks (ERROR); warning and info are reported (WARN). Names of dg.AssetCheckSeverity."""
    import dagster as dg  # only the test looks the names up: the core never imports Dagster

    assert {s: check_severity(s) for s in ("critical", "warning", "info")} == {
        "critical": "ERROR",
        "warning": "WARN",
        "info": "WARN",
    }
    assert {dg.AssetCheckSeverity[check_severity(s)] for s in ("warning", "info")} == {
        dg.AssetCheckSeverity.WARN
    }
    with pytest.raises(ValueError):
        check_severity("fatal")

    def suite_result(*failed: str) -> SuiteResult:
        from data_pipeline.expectations import ExpectationOutcome

        outcomes = [ExpectationOutcome("t", None, s, False, 1, 2, None) for s in failed]
        outcomes.append(ExpectationOutcome("t", None, "critical", True, 0, 2, None))
        return SuiteResult("s", not failed, tuple(outcomes), None)

    assert (suite_result().check_passed, suite_result().check_severity) == (True, "WARN")
    assert (suite_result("info").check_passed, suite_result("info").check_severity) == (False, "WARN")
    assert suite_result("warning", "info").check_severity == "WARN"
    assert suite_result("info", "critical").check_severity == "ERROR"


def test_validate_table_checks_every_row_in_the_database(tmp_path: Path) -> None:
    """The one bad row is the table's last, far past where an in-memory sample would stop."""
    suite = {
        "name": "orders",
        "expectations": [
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "status", "value_set": ["paid"]},
            },
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        ],
    }
    engine = orders_db(tmp_path / "o.db", 30_000)
    result = validate_table(engine, None, "orders", suite)
    status, rows = result.outcomes
    assert not result.success and result.failed_critical == (status,)
    assert (status.unexpected_count, status.element_count, rows.element_count) == (1, 30_000, 30_000)
    assert PLANTED not in repr(result)
    url = f"sqlite:///{tmp_path / 'o.db'}"  # a URL does as well as an engine
    assert validate_table(url, None, "orders", suite).outcomes[0].unexpected_count == 1


def test_memory_does_not_grow_with_rows(tmp_path: Path) -> None:
    """Python's allocations while validating 5,000 and 100,000 rows: the same, and small (a frame of
    the same rows takes over 10 MB)."""
    suite = {
        "name": "orders",
        "expectations": [
            *PAID_AND_UNIQUE,
            {
                "type": "expect_column_value_lengths_to_be_between",
                "kwargs": {"column": "note", "max_value": 200},
            },
        ],
    }
    peaks = {}
    for rows in (5_000, 100_000):
        engine = orders_db(tmp_path / f"{rows}.db", rows)
        validate_table(engine, None, "orders", suite)  # GX's first-use imports and caches
        tracemalloc.start()
        try:
            assert validate_table(engine, None, "orders", suite).outcomes[0].unexpected_count == 1
            peaks[rows] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peaks[100_000] < peaks[5_000] + 1_000_000, peaks
    assert peaks[100_000] < 5_000_000, peaks


def test_a_cross_table_suite_is_a_query_asset(tmp_path: Path) -> None:
    engine = orders_db(tmp_path / "o.db", 10)
    suite = {
        "name": "orders_with_customers",
        "meta": {"query": "SELECT o.id, c.country FROM orders o JOIN customers c ON c.id = o.id"},
        "expectations": [
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "country", "value_set": ["US"]},
            },
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
        ],
    }
    path = tmp_path / "orders_with_customers.json"
    path.write_text(json.dumps(suite))
    loaded = load_suite(path)  # a GX project's suite keeps its query in meta (GX has no key for it)
    result = validate_query(engine, loaded["query"], loaded)
    country, unique = result.outcomes
    assert (country.unexpected_count, country.element_count, unique.success) == (1, 2, True)
    with pytest.raises(QueryFailed, match="nowhere"):
        validate_query(engine, "SELECT nope FROM nowhere", loaded)
    with pytest.raises(QueryFailed, match="start with SELECT"):
        validate_query(engine, "DELETE FROM orders", loaded)
    with engine.connect() as conn:  # nothing was copied into the database (no temp table)
        assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_temp_master").scalar() == 0
        assert conn.exec_driver_sql("SELECT count(*) FROM orders").scalar() == 10


def gx_project(root: Path) -> Path:
    """A GX File Data Context made by GX, holding one suite added through GX's API."""
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite

    context = gx.get_context(mode="file", project_root_dir=str(root))
    exported = gx_exported("orders")
    context.suites.add(ExpectationSuite(name="orders", expectations=exported["expectations"]))
    return Path(context.root_directory)


def test_a_gx_project_gives_the_suites_and_gets_the_scrubbed_data_docs(tmp_path: Path, monkeypatch) -> None:
    project = gx_project(tmp_path / "app")
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "customers.json").write_text(
        json.dumps(
            {"expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}]}
        )
    )
    monkeypatch.setenv("DP_GX_DIR", str(project))
    settings = load_settings(home=tmp_path / "home", suites=suites)
    assert settings.gx_dir == project
    found = configured_suites(settings)
    assert sorted(found) == ["customers", "orders"]
    assert [e["severity"] for e in found["orders"]["expectations"]] == ["critical", "warning", "info"]

    engine = orders_db(tmp_path / "o.db", 20)
    docs = DataDocs.of(settings)
    result = validate_table(engine, None, "orders", found["orders"], docs=docs)
    validate_table(engine, None, "customers", found["customers"], docs=docs)
    site = project / "uncommitted" / "data_docs" / "local_site"
    assert result.docs_index == site / "index.html"
    index = result.docs_index.read_text(encoding="utf-8")
    assert "validations/orders/" in index and "validations/customers/" in index
    assert not (tmp_path / "home" / "gx").exists()  # the project's sites, not the pipeline's own
    assert sorted(p.stem for p in (project / "expectations").glob("*.json")) == ["orders"]  # untouched
    for path in (p for p in project.rglob("*") if p.is_file()):
        assert PLANTED.encode() not in path.read_bytes(), path

    (suites / "orders.json").write_text(json.dumps(gx_exported("orders")))
    with pytest.raises(ValueError, match="suite 'orders' is both"):
        configured_suites(settings)


def test_without_a_project_the_docs_go_to_the_pipelines_own_gx_context(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home", suites=tmp_path)
    assert settings.gx_dir is None
    frame_result = validate_frame(
        __import__("pandas").DataFrame({"id": [1, 2]}),
        {
            "name": "t",
            "expectations": [{"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}}],
        },
        docs=DataDocs.of(settings),
    )
    root = tmp_path / "home" / "gx"
    assert frame_result.docs_index == root / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert (root / "expectations" / "t.json").is_file()  # its own store keeps the suites it shows


def test_validate_table_in_a_named_schema_on_postgresql(pg_url: str) -> None:
    """The staged-copy call: an engine, a schema and a table (mixed case, quoted), every row in SQL."""
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql('CREATE SCHEMA "Stage"')
        conn.exec_driver_sql('CREATE TABLE "Stage"."Orders" (id int NOT NULL, status text NOT NULL)')
        conn.exec_driver_sql(
            """INSERT INTO "Stage"."Orders" SELECT i, CASE WHEN i = 200000 THEN 'teleported' ELSE 'paid' END
               FROM generate_series(1, 200000) AS i"""
        )
    suite = {"name": "orders", "expectations": PAID_AND_UNIQUE}
    status, unique = validate_table(engine, "Stage", "Orders", suite).outcomes
    assert (status.unexpected_count, status.element_count, unique.success) == (1, 200_000, True)
    engine.dispose()
