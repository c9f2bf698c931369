"""Gate outputs: JUnit XML that CI can parse, a Markdown summary, and the blocking exit code."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from data_pipeline.expectations import ExpectationOutcome, SuiteResult, validate_frame
from data_pipeline.reports import gate_exit_code, junit_xml, markdown_summary


def outcome(
    etype: str,
    column: str | None,
    severity: str = "critical",
    success: bool = True,
    unexpected: int | None = 0,
    elements: int | None = 10,
    error: str | None = None,
) -> ExpectationOutcome:
    return ExpectationOutcome(etype, column, severity, success, unexpected, elements, error)


def suite(name: str, *outcomes: ExpectationOutcome) -> SuiteResult:
    return SuiteResult(name, all(o.success for o in outcomes), outcomes, None)


CLEAN = suite(
    "products",
    outcome("expect_column_values_to_be_unique", "sku"),
    outcome("expect_table_row_count_to_be_between", None, unexpected=None, elements=50),
)
WARNED = suite(
    "orders",
    outcome("expect_column_values_to_not_be_null", "status"),
    outcome("expect_column_values_to_be_between", "total", "warning", False, 3, 600),
)
BROKEN = suite(
    "customers",
    outcome("expect_column_values_to_match_regex", "email", success=False, unexpected=2),
    outcome("expect_column_values_to_be_between", "age", success=False, unexpected=None,
            elements=None, error='The column "age" in BatchData does not exist.'),
    outcome("expect_column_values_to_be_in_set", "country", "warning", False, 1, 10),
    outcome("expect_column_values_to_be_unique", "id"),
)  # fmt: skip


@pytest.mark.parametrize(
    ("results", "strict", "code"),
    [
        ([], False, 0),
        ([CLEAN], True, 0),
        ([CLEAN, WARNED], False, 0),
        ([CLEAN, WARNED], True, 1),
        ([CLEAN, BROKEN], False, 1),
    ],
)
def test_gate_exit_code(results: list[SuiteResult], strict: bool, code: int) -> None:
    assert gate_exit_code(results, strict) == code


def parse(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return root


def test_junit_xml_cases_failures_and_skipped_warnings(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "junit.xml"
    junit_xml([CLEAN, WARNED, BROKEN], path)
    root = parse(path)
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("8", "2", "2")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == ["products", "orders", "customers"]
    customers = suites["customers"]
    cases = customers.findall("testcase")
    assert len(cases) == 4 and customers.get("tests") == "4"
    assert {c.get("classname") for c in cases} == {"customers"}
    assert cases[0].get("name") == "expect_column_values_to_match_regex(email)"
    failures = customers.findall("testcase/failure")
    assert len(failures) == 2 and customers.get("failures") == "2"
    assert failures[0].get("message") == "2 of 10 rows unexpected"
    assert "does not exist" in failures[1].get("message")
    (skipped,) = customers.findall("testcase/skipped")
    assert skipped.get("message") == "warning: 1 of 10 rows unexpected"
    assert suites["products"].find("testcase/failure") is None
    names = [c.get("name") for c in suites["products"].iter("testcase")]
    assert names[1] == "expect_table_row_count_to_be_between()"


def test_junit_xml_strict_turns_warnings_into_failures(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    junit_xml([WARNED, BROKEN], path, strict=True)
    root = parse(path)
    assert (root.get("failures"), root.get("skipped")) == ("4", "0")
    assert [f.get("type") for f in root.iter("failure")] == [
        "warning",
        "critical",
        "critical",
        "warning",
    ]


def test_markdown_summary_table_and_failed_list() -> None:
    text = markdown_summary([CLEAN, WARNED, BROKEN], strict=False)
    lines = text.splitlines()
    assert lines[0] == "### Data validation FAILED"
    assert "| suite | passed | failed critical | failed warning |" in lines
    assert "| customers | 1 | 2 | 1 |" in lines
    assert "| orders | 1 | 0 | 1 |" in lines
    assert any(
        "❌ `customers`: `expect_column_values_to_match_regex(email)` (critical)" in line for line in lines
    )
    assert any("⚠️ `orders`: `expect_column_values_to_be_between(total)`" in line for line in lines)
    assert "expect_column_values_to_be_unique(sku)" not in text  # passed: not listed


def test_markdown_summary_passes_with_warnings_unless_strict() -> None:
    assert markdown_summary([CLEAN, WARNED], strict=False).startswith("### Data validation passed")
    strict = markdown_summary([CLEAN, WARNED], strict=True)
    assert strict.startswith("### Data validation FAILED (strict: warnings block)")
    assert "❌ `orders`: `expect_column_values_to_be_between(total)`" in strict
    assert "Failed expectations" not in markdown_summary([CLEAN], strict=True)


def test_reports_from_a_real_validation(tmp_path: Path) -> None:
    """End to end with GE: a planted value that fails an expectation reaches no report."""
    planted = "planted-report-value-5f1c"
    df = pd.DataFrame({"id": [1, 2, 3], "email": ["a@example.com", planted, "c@example.com"]})
    result = validate_frame(
        df,
        {
            "name": "customers",
            "expectations": [
                {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
                {
                    "type": "expect_column_values_to_match_regex",
                    "kwargs": {"column": "email", "regex": "@"},
                },
            ],
        },
    )
    path = tmp_path / "junit.xml"
    junit_xml([result], path)
    root = parse(path)
    assert (root.get("tests"), root.get("failures")) == ("2", "1")
    text = markdown_summary([result], strict=False)
    assert "expect_column_values_to_match_regex(email)" in text and "1 of 3 rows" in text
    assert planted not in text and planted not in path.read_text(encoding="utf-8")
    assert gate_exit_code([result], strict=False) == 1


def test_a_failed_info_expectation_never_blocks(tmp_path: Path) -> None:
    """GX's `info` severity: reported (skipped in JUnit, ℹ️ in Markdown), even with --strict."""
    noted = suite("orders", outcome("expect_column_values_to_be_between", "total", "info", False, 3, 600))
    assert gate_exit_code([noted], strict=True) == 0
    path = tmp_path / "junit.xml"
    junit_xml([noted], path, strict=True)
    root = parse(path)
    assert (root.get("failures"), root.get("skipped")) == ("0", "1")
    assert next(root.iter("skipped")).get("message") == "info: 3 of 600 rows unexpected"
    text = markdown_summary([noted], strict=True)
    assert text.startswith("### Data validation passed")
    assert "ℹ️ `orders`: `expect_column_values_to_be_between(total)` (info)" in text
