"""Gate outputs of a validation run: JUnit XML for CI, a Markdown summary for the pull request,
and the exit code that blocks publishing.

Everything here is built from `SuiteResult` counts, never data values, so the outputs can be
attached to CI runs and PR comments. Importing this module does not import Great Expectations.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from data_pipeline.expectations import ExpectationOutcome, SuiteResult

MAX_LISTED_FAILURES = 50  # a PR comment stays readable; the JUnit file has them all


def gate_exit_code(results: Sequence[SuiteResult], strict: bool) -> int:
    """1 when a critical expectation failed (or, with `strict`, a warning did), else 0. A failed
    `info` expectation never blocks."""
    blocking = any(r.failed_critical or (strict and r.failed_warning) for r in results)
    return 1 if blocking else 0


def blocks(outcome: ExpectationOutcome, strict: bool) -> bool:
    """Whether this failed expectation blocks: critical always, warning with `strict`, info never."""
    return outcome.severity == "critical" or (strict and outcome.severity == "warning")


def junit_xml(results: Sequence[SuiteResult], path: Path, strict: bool = False) -> None:
    """Write one <testsuite> per suite and one <testcase> per expectation to `path`.

    Failed warnings are <skipped> (visible, not red) unless `strict` makes them failures; failed
    info expectations are always <skipped>.
    """
    root = ET.Element("testsuites", name="data_pipeline expectations")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for result in results:
        suite_el = ET.SubElement(root, "testsuite", name=result.suite)
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for outcome in result.outcomes:
            case = ET.SubElement(suite_el, "testcase", classname=result.suite, name=_case_name(outcome))
            counts["tests"] += 1
            if outcome.success:
                continue
            message = _failure_text(outcome)
            if not blocks(outcome, strict):
                ET.SubElement(case, "skipped", message=f"{outcome.severity}: {message}")
                counts["skipped"] += 1
            else:
                failure = ET.SubElement(case, "failure", message=message, type=outcome.severity)
                failure.text = f"{outcome.severity} expectation failed: {message}"
                counts["failures"] += 1
        suite_el.set("errors", "0")
        for key, value in counts.items():
            suite_el.set(key, str(value))
            totals[key] += value
    root.set("errors", "0")
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def markdown_summary(results: Sequence[SuiteResult], strict: bool) -> str:
    """A short Markdown table plus the failed expectations, sized for a pull-request comment."""
    blocked = gate_exit_code(results, strict) != 0
    critical = sum(len(r.failed_critical) for r in results)
    warning = sum(len(r.failed_warning) for r in results)
    verdict = "FAILED" if blocked else "passed"
    mode = " (strict: warnings block)" if strict else ""
    lines = [
        f"### Data validation {verdict}{mode}",
        "",
        f"{len(results)} suite(s), {critical} critical and {warning} warning failure(s).",
        "",
        "| suite | passed | failed critical | failed warning |",
        "|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {_cell(r.suite)} | {r.passed_count} | {len(r.failed_critical)} | {len(r.failed_warning)} |"
        )
    failed = [(r.suite, o) for r in results for o in r.outcomes if not o.success]
    if failed:
        lines += ["", "**Failed expectations**", ""]
        for suite, outcome in failed[:MAX_LISTED_FAILURES]:
            mark = "❌" if blocks(outcome, strict) else "⚠️" if outcome.severity == "warning" else "ℹ️"
            lines.append(
                f"- {mark} `{suite}`: `{_case_name(outcome)}` ({outcome.severity}): "
                f"{_cell(_failure_text(outcome))}"
            )
        if len(failed) > MAX_LISTED_FAILURES:
            lines.append(f"- … and {len(failed) - MAX_LISTED_FAILURES} more (see the JUnit report)")
    return "\n".join(lines) + "\n"


def _case_name(outcome: ExpectationOutcome) -> str:
    return f"{outcome.expectation_type}({outcome.column or ''})"


def _failure_text(outcome: ExpectationOutcome) -> str:
    if outcome.error:
        return f"error: {outcome.error}"
    if outcome.unexpected_count is not None and outcome.element_count is not None:
        return f"{outcome.unexpected_count} of {outcome.element_count} rows unexpected"
    if outcome.unexpected_count is not None:
        return f"{outcome.unexpected_count} unexpected"
    if outcome.expectation_type.startswith("expect_table_row_count") and outcome.element_count is not None:
        return f"row count {outcome.element_count} out of range"
    return "expectation not met"


def _cell(text: str) -> str:
    """Keep a value from breaking the Markdown table it sits in."""
    return text.replace("|", "\\|").replace("\n", " ")
