"""Suites load strictly, run on real GE, keep no data values, and draft suites that pass."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from data_pipeline.config import DEFAULT_SUITES
from data_pipeline.expectations import (
    DataDocs,
    draft_suite,
    load_suite,
    load_suites,
    validate_frame,
)

# Unique markers: if GE copies a value anywhere (results, Data Docs), these strings show up there.
PLANTED_REGEX = f"planted-regex-{uuid.uuid4().hex}"
PLANTED_COMMON = f"planted-common-{uuid.uuid4().hex}"
PLANTED_DUP = f"planted-dup-{uuid.uuid4().hex}"


def exp(etype: str, severity: str | None = None, **kwargs: object) -> dict:
    out: dict = {"type": etype, "kwargs": kwargs}
    if severity:
        out["meta"] = {"severity": severity}
    return out


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "email": ["a@example.com", "b@example.com", PLANTED_REGEX, "d@example.com"],
            "tier": [PLANTED_COMMON, PLANTED_COMMON, PLANTED_COMMON, "gold"],
            "code": ["x1", PLANTED_DUP, PLANTED_DUP, "x4"],
            "price": [1.5, 2.0, None, 10.0],
        }
    )


FAILING = {
    "name": "customers",
    "expectations": [
        exp("expect_table_row_count_to_be_between", min_value=1, max_value=10),  # passes
        exp("expect_column_values_to_not_be_null", "critical", column="id"),  # passes
        exp("expect_column_values_to_match_regex", "critical", column="email", regex="@"),
        exp("expect_column_values_to_be_unique", column="code"),  # default severity: critical
        exp(
            "expect_column_most_common_value_to_be_in_set",
            "warning",
            column="tier",
            value_set=["gold"],
        ),
        exp("expect_column_values_to_not_be_null", "warning", column="price"),
        exp("expect_column_values_to_be_between", "critical", column="no_such", min_value=0),
    ],
    "meta": {},
}


SECOND = {
    "name": "orders",
    "expectations": [exp("expect_column_values_to_be_in_set", column="tier", value_set=["gold"])],
}


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory):
    """The failing suite's run, then a second table's run into the same Data Docs context."""
    root = tmp_path_factory.mktemp("home") / "gx"
    result = validate_frame(frame(), FAILING, docs=DataDocs(root))
    validate_frame(frame(), SECOND, docs=DataDocs(root))
    return result, root


def test_passing_suite_reports_counts_in_suite_order() -> None:
    suite = {
        "name": "products",
        "expectations": [
            exp("expect_column_values_to_be_between", "warning", column="price", min_value=0),
            exp("expect_column_values_to_be_unique", column="id"),
            exp("expect_table_row_count_to_be_between", min_value=2, max_value=8),
        ],
    }
    result = validate_frame(frame(), suite)
    assert result.success and result.docs_index is None
    assert (result.passed_count, result.failed_count) == (3, 0)
    assert [o.expectation_type for o in result.outcomes] == [
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_unique",
        "expect_table_row_count_to_be_between",
    ]
    between, unique, rows = result.outcomes
    assert (between.column, between.severity) == ("price", "warning")
    assert (unique.severity, unique.unexpected_count, unique.element_count) == ("critical", 0, 4)
    assert rows.element_count == 4  # the observed row count


def test_failing_suite_splits_failures_by_severity(failing) -> None:
    result, _ = failing
    assert result.suite == "customers" and not result.success
    assert (result.passed_count, result.failed_count) == (2, 5)
    critical = {(o.expectation_type, o.column) for o in result.failed_critical}
    assert critical == {
        ("expect_column_values_to_match_regex", "email"),
        ("expect_column_values_to_be_unique", "code"),
        ("expect_column_values_to_be_between", "no_such"),
    }
    warning = {(o.expectation_type, o.column) for o in result.failed_warning}
    assert warning == {
        ("expect_column_most_common_value_to_be_in_set", "tier"),
        ("expect_column_values_to_not_be_null", "price"),
    }
    by_column = {o.column: o for o in result.outcomes}
    assert (by_column["email"].unexpected_count, by_column["email"].element_count) == (1, 4)
    assert by_column["code"].unexpected_count == 2
    assert by_column["price"].unexpected_count == 1


def test_expectation_that_raises_is_a_failure_with_its_error(failing) -> None:
    result, _ = failing
    (broken,) = [o for o in result.outcomes if o.column == "no_such"]
    assert not broken.success and broken.unexpected_count is None
    assert broken.error and "no_such" in broken.error and "does not exist" in broken.error


def test_results_keep_no_data_values(failing) -> None:
    result, _ = failing
    text = repr(result)
    for planted in (PLANTED_REGEX, PLANTED_COMMON, PLANTED_DUP):
        assert planted not in text


def test_data_docs_are_built_and_hold_no_planted_value(failing) -> None:
    """Where GX users look: the local site of a File Data Context (created with GX's defaults), built
    from scrubbed results kept in its validation results store; no file of it holds a value."""
    result, root = failing
    assert (root / "great_expectations.yml").is_file()
    docs = root / "uncommitted" / "data_docs" / "local_site"
    assert result.docs_index == docs / "index.html" and result.docs_index.is_file()
    assert len(list((root / "uncommitted" / "validations").rglob("*.json"))) == 2
    for table in ("customers", "orders"):  # a shared directory keeps both tables' pages
        assert list((docs / "validations" / table).rglob("*.html")), table
        assert (docs / "expectations" / f"{table}.html").is_file()
        assert f"validations/{table}/" in result.docs_index.read_text(encoding="utf-8")
    for path in (p for p in root.rglob("*") if p.is_file()):
        content = path.read_bytes()
        for planted in (PLANTED_REGEX, PLANTED_COMMON, PLANTED_DUP):
            assert planted.encode() not in content, f"{planted} leaked into {path}"


def test_draft_suite_round_trips_on_its_own_frame(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "country": ["US", "GB", "US", "DE", "US", "GB"],
            "email": [f"user{i}@example.com" for i in range(6)],
            "price": [Decimal("9.99"), Decimal("0.50"), Decimal("12.00")] * 2,
            "score": [0.5, None, -2.0, 3.0, 1.0, 2.0],
            "qty": [0, 5, 7, 100, 1, 2],
            "at": pd.to_datetime(["2024-01-01"] * 6),
        }
    )
    suite = draft_suite(df, "orders", unique_columns={"id", "email"})
    assert json.loads(json.dumps(suite)) == suite
    kinds = {(e["type"], e["kwargs"].get("column")): e for e in suite["expectations"]}
    rows = kinds[("expect_table_row_count_to_be_between", None)]["kwargs"]
    assert (rows["min_value"], rows["max_value"]) == (3, 12)
    order = kinds[("expect_table_columns_to_match_ordered_list", None)]["kwargs"]
    assert order["column_list"] == list(df.columns)
    assert ("expect_column_values_to_not_be_null", "score") not in kinds  # it has a NULL
    assert kinds[("expect_column_values_to_be_unique", "email")]["severity"] == "critical"
    qty = kinds[("expect_column_values_to_be_between", "qty")]
    assert (qty["kwargs"]["min_value"], qty["kwargs"]["max_value"]) == (0, 110)
    assert qty["severity"] == "warning"
    price = kinds[("expect_column_values_to_be_between", "price")]["kwargs"]  # Decimals: numeric
    assert price["min_value"] == pytest.approx(0.45) and price["max_value"] == pytest.approx(13.2)
    assert kinds[("expect_column_values_to_be_in_set", "country")]["kwargs"]["value_set"] == [
        "DE",
        "GB",
        "US",
    ]
    assert ("expect_column_values_to_be_in_set", "email") not in kinds  # unique: no value set
    assert ("expect_column_value_lengths_to_be_between", "email") in kinds

    path = tmp_path / "orders.json"  # what `expectations init` writes must load back
    path.write_text(json.dumps(suite), encoding="utf-8")
    assert validate_frame(df, load_suite(path)).success
    drifted = df.assign(qty=[0, 5, 7, 500, 1, 2])
    failed = validate_frame(drifted, suite)
    assert [(o.column, o.severity) for o in failed.outcomes if not o.success] == [("qty", "warning")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "must be a JSON object"),
        ('{"name": "t"}', "missing 'expectations'"),
        ('{"name": "other", "expectations": []}', "does not match the file name"),
        (
            '{"expectations": [{"type": "expect_column_to_be_purple", "kwargs": {}}]}',
            "unknown expectation type 'expect_column_to_be_purple'",
        ),
        (
            '{"expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {}}]}',
            "missing 'column' kwarg",
        ),
        (
            '{"expectations": [{"type": "expect_column_values_to_not_be_null",'
            ' "kwargs": {"column": "a"}, "meta": {"severity": "fatal"}}]}',
            "severity 'fatal'",
        ),
        (
            '{"expectations": [{"expectation_type": "expect_column_values_to_not_be_null"}]}',
            "GE 1.x calls it 'type'",
        ),
        (
            '{"expectations": [{"type": "expect_column_values_to_be_between",'
            ' "kwargs": {"column": "a", "min_value": "low"}}]}',
            "bad kwargs",
        ),
    ],
)
def test_load_suite_rejects_bad_files_naming_file_and_fault(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "t.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as caught:
        load_suite(path)
    assert str(path) in str(caught.value)


def test_load_suite_fills_default_severity(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps({"expectations": [exp("expect_column_values_to_be_unique", column="id")]}),
        encoding="utf-8",
    )
    suite = load_suite(path)
    assert suite["name"] == "t"
    assert suite["expectations"][0]["severity"] == "critical"  # GX's default, in GX's own key
    assert suite["expectations"][0]["meta"] == {}


def test_load_suites_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_suites(tmp_path / "nowhere")


def test_every_shipped_suite_loads() -> None:
    paths = sorted(DEFAULT_SUITES.glob("*.json"))
    names = {p.stem for p in paths}
    assert {"products", "customers", "employees", "orders", "order_items", "payments"} <= names
    assert "support_tickets" in names
    for path in paths:
        suite = load_suite(path)
        assert suite["name"] == path.stem and suite["expectations"], path
    assert set(load_suites(DEFAULT_SUITES)) == names


def test_shipped_suites_pass_on_demo_data_and_catch_malformed_card_numbers(tmp_path: Path) -> None:
    """Demo-shaped data (the anonymizer keeps formats, spacing included) passes every shipped suite;
    a card number or IBAN that lost its shape fails exactly its regex."""
    import sqlalchemy as sa

    from data_pipeline.demo import build_demo_source

    db = tmp_path / "demo.db"
    build_demo_source(db, rows=60, seed=3)
    engine = sa.create_engine(f"sqlite:///{db}")
    suites = {n: s for n, s in load_suites(DEFAULT_SUITES).items() if "query" not in s}  # per-table only
    with engine.connect() as conn:
        frames = {name: pd.read_sql_table(name, conn) for name in suites}
    engine.dispose()
    for name, suite in suites.items():
        result = validate_frame(frames[name], suite)
        assert result.success, (name, [o for o in result.outcomes if not o.success])

    payments = frames["payments"].copy()
    cards, ibans = payments["card_number"].notna(), payments["iban"].notna()
    payments.loc[cards.idxmax(), "card_number"] = "4111-XXXX-1111-1111"
    payments.loc[ibans.idxmax(), "iban"] = "not an iban"
    broken = validate_frame(payments, suites["payments"])
    assert {(o.expectation_type, o.column) for o in broken.failed_critical} == {
        ("expect_column_values_to_match_regex", "card_number"),
        ("expect_column_values_to_match_regex", "iban"),
    }
