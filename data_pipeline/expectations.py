"""Great Expectations suites: load and check the JSON, run it on a frame, draft one from data.

Suites are GE 1.x suite JSON, one file per table (`expectations/<table>.json`). Each expectation's
`meta.severity` is `critical` (blocks publishing, the default) or `warning` (reported only).

GE costs seconds to import, so it is imported inside the functions that need it: importing this
module (e.g. from `reports`) stays cheap. Results keep counts only, never data values, because the
validated frames are copies of production data; the Data Docs we write are scrubbed the same way.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

SEVERITIES = ("critical", "warning")
DEFAULT_SEVERITY = "critical"

# BASIC gives counts; these keys keep GE from copying unexpected values into results or docs.
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "BASIC",
    "partial_unexpected_count": 0,
    "exclude_unexpected_values": True,
    "include_unexpected_rows": False,
}
# Result keys that are counts or percentages, safe to keep for any expectation.
_COUNT_KEYS = frozenset(
    {
        "element_count",
        "unexpected_count",
        "unexpected_percent",
        "missing_count",
        "missing_percent",
        "unexpected_percent_total",
        "unexpected_percent_nonmissing",
    }
)
# `query`: a cross-table suite validates the rows of a SQL query over the published target
# (e.g. a join) instead of one table; the gate runs it, the pipeline's per-table checks do not.
_SUITE_KEYS = frozenset({"name", "expectations", "meta", "notes", "id", "query"})
_EXPECTATION_KEYS = frozenset({"type", "kwargs", "meta", "id", "notes", "description"})
_ERROR_MAX = 300
_DOCS_SITE = "data_pipeline"
_DOCS_STATE = "_gx_state"  # scrubbed suites and results the shared site is built from
_VALUE_SET_MAX = 20
_WIDEN = 0.10


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict, with counts only (never values), safe for logs and reports."""

    expectation_type: str
    column: str | None
    severity: str
    success: bool
    unexpected_count: int | None
    element_count: int | None
    error: str | None


@dataclass(frozen=True)
class SuiteResult:
    """A suite's outcomes; `success` is GE's verdict (every expectation passed, warnings too)."""

    suite: str
    success: bool
    outcomes: tuple[ExpectationOutcome, ...]
    docs_index: Path | None

    @property
    def failed_critical(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.success and o.severity == "critical")

    @property
    def failed_warning(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.success and o.severity == "warning")

    @property
    def passed_count(self) -> int:
        return sum(1 for o in self.outcomes if o.success)

    @property
    def failed_count(self) -> int:
        return len(self.outcomes) - self.passed_count


# --- loading -------------------------------------------------------------------------------------


def load_suite(path: Path) -> dict:
    """Read and check one suite file; returns it normalised (every expectation has a severity).

    Checked up front because GE's ExpectationSuite silently drops invalid expectations.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return _check_suite(raw, str(path), default_name=path.stem)


def load_suites(directory: Path) -> dict[str, dict]:
    """Load every `*.json` suite in `directory`, keyed by suite (table) name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"expectations directory {directory} does not exist: create it, or draft suites "
            "with `data-pipeline expectations init`"
        )
    suites: dict[str, dict] = {}
    for path in sorted(directory.glob("*.json")):
        suite = load_suite(path)
        if suite["name"] in suites:
            raise ValueError(f"{path}: suite name {suite['name']!r} is used by another file")
        suites[suite["name"]] = suite
    return suites


def _check_suite(raw: Any, where: str, default_name: str) -> dict:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a suite must be a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _SUITE_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown top-level key(s) {unknown}")
    if "query" in raw and (not isinstance(raw["query"], str) or not raw["query"].strip()):
        raise ValueError(f"{where}: 'query' must be a non-empty SQL string")
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: 'name' must be a non-empty string")
    if name != default_name:
        raise ValueError(f"{where}: suite name {name!r} does not match the file name")
    if "expectations" not in raw:
        raise ValueError(f"{where}: missing 'expectations' (a list of expectations)")
    if not isinstance(raw["expectations"], list):
        raise ValueError(f"{where}: 'expectations' must be a list")
    meta = raw.get("meta", {})
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: 'meta' must be an object")
    expectations = [
        _check_expectation(item, f"{where}: expectation #{i + 1}")
        for i, item in enumerate(raw["expectations"])
    ]
    suite = {"name": name, "expectations": expectations, "meta": copy.deepcopy(meta)}
    if "query" in raw:
        suite["query"] = raw["query"]
    return suite


def _check_expectation(item: Any, where: str) -> dict:
    from great_expectations.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.registry import get_expectation_impl

    if not isinstance(item, dict):
        raise ValueError(f"{where}: must be an object")
    unknown = sorted(set(item) - _EXPECTATION_KEYS)
    if unknown:
        hint = " (GE 1.x calls it 'type')" if "expectation_type" in unknown else ""
        raise ValueError(f"{where}: unknown key(s) {unknown}{hint}")
    etype = item.get("type")
    if not isinstance(etype, str) or not etype:
        raise ValueError(f"{where}: missing 'type'")
    where = f"{where} ({etype})"
    try:
        impl = get_expectation_impl(etype)
    except ExpectationNotFoundError:
        raise ValueError(f"{where}: unknown expectation type {etype!r}") from None
    kwargs = item.get("kwargs", {})
    meta = item.get("meta", {})
    if not isinstance(kwargs, dict) or not isinstance(meta, dict):
        raise ValueError(f"{where}: 'kwargs' and 'meta' must be objects")
    for field in ("column", "column_list", "column_A", "column_B"):
        if field in impl.__fields__ and impl.__fields__[field].required and field not in kwargs:
            raise ValueError(f"{where}: missing {field!r} kwarg")
    severity = meta.get("severity", DEFAULT_SEVERITY)
    if severity not in SEVERITIES:
        raise ValueError(f"{where}: severity {severity!r} is not one of {list(SEVERITIES)}")
    try:
        impl(**kwargs)
    except Exception as exc:  # pydantic's error lists each bad kwarg; keep its first lines only
        detail = "; ".join(str(exc).splitlines()[:4])
        raise ValueError(f"{where}: bad kwargs: {detail}") from None
    out = {k: copy.deepcopy(v) for k, v in item.items() if k != "id"}
    out["kwargs"] = copy.deepcopy(kwargs)
    out["meta"] = {**copy.deepcopy(meta), "severity": severity}
    return out


# --- validating ----------------------------------------------------------------------------------


def validate_frame(df: pd.DataFrame, suite: Mapping[str, Any], docs_dir: Path | None = None) -> SuiteResult:
    """Run `suite` on `df` with GE in a throwaway in-memory context; optionally write Data Docs.

    A fresh ephemeral context per call keeps runs independent (no project directory, no state).
    Runs of several tables can share one `docs_dir`: its index lists them all.
    """
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.types.base import ProgressBarsConfig

    name = suite.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("suite has no 'name': load it with load_suite() or draft_suite()")
    checked = _check_suite(dict(suite), f"suite {name!r}", name)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    gx_suite = context.suites.add(
        ExpectationSuite(name=name, expectations=checked["expectations"], meta=checked["meta"])
    )
    if len(gx_suite.expectations) != len(checked["expectations"]):  # GE drops bad ones silently
        raise ValueError(f"suite {name!r}: GE rejected some expectations")
    order = {e.id: i for i, e in enumerate(gx_suite.expectations)}
    batch = (
        context.data_sources.add_pandas(name="pipeline")
        .add_dataframe_asset(name=name)
        .add_batch_definition_whole_dataframe("whole_frame")
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=gx_suite)
    )
    result = definition.run(batch_parameters={"dataframe": df}, result_format=RESULT_FORMAT)

    columns = {str(c) for c in df.columns} | _suite_columns(checked)
    results = sorted(result.results, key=lambda r: order.get(r.expectation_config.id, len(order)))
    outcomes = tuple(_outcome(r, columns) for r in results)
    docs_index = None
    if docs_dir is not None:
        docs_index = _write_docs(context, checked, result, Path(docs_dir), columns)
    return SuiteResult(suite=name, success=bool(result.success), outcomes=outcomes, docs_index=docs_index)


def _outcome(res: Any, columns: set[str]) -> ExpectationOutcome:
    config = res.expectation_config
    body = res.result or {}
    unexpected = body.get("unexpected_count")
    element = body.get("element_count")
    if config.type.startswith("expect_table_row_count") and element is None:
        element = body.get("observed_value")  # the row count: a count, not a data value
    return ExpectationOutcome(
        expectation_type=config.type,
        column=_column_of(config.kwargs),
        severity=(config.meta or {}).get("severity", DEFAULT_SEVERITY),
        success=bool(res.success),
        unexpected_count=_as_count(unexpected),
        element_count=_as_count(element),
        error=_error_of(res.exception_info, columns),
    )


def _column_of(kwargs: Mapping[str, Any]) -> str | None:
    if kwargs.get("column") is not None:
        return str(kwargs["column"])
    if kwargs.get("column_list"):
        return ",".join(str(c) for c in kwargs["column_list"])
    if kwargs.get("column_A") is not None:
        return f"{kwargs['column_A']},{kwargs.get('column_B')}"
    return None


def _suite_columns(suite: Mapping[str, Any]) -> set[str]:
    """Column names the suite mentions: names, not data, so error messages may keep them."""
    names: set[str] = set()
    for exp in suite["expectations"]:
        names.update(c for c in (_column_of(exp["kwargs"]) or "").split(",") if c)
    return names


def _as_count(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _error_of(info: Any, columns: set[str]) -> str | None:
    """First exception message GE recorded, with quoted literals (possibly values) redacted."""
    if not isinstance(info, dict):
        return None
    infos = [info] if "raised_exception" in info else list(info.values())
    for item in infos:
        if isinstance(item, dict) and item.get("raised_exception"):
            return _redact(str(item.get("exception_message") or "exception"), columns)
    return None


def _redact(message: str, columns: set[str]) -> str:
    def keep_columns(match: re.Match[str]) -> str:
        return match.group(0) if match.group(2) in columns else f"{match.group(1)}…{match.group(1)}"

    text = re.sub(r"""(['"])(.*?)\1""", keep_columns, message.splitlines()[0] if message else "")
    return text[:_ERROR_MAX]


def _write_docs(context: Any, suite: dict, result: Any, docs_dir: Path, columns: set[str]) -> Path:
    """Add this run to the Data Docs site in `docs_dir`, from a scrubbed copy of the result.

    GE renders aggregate `observed_value`s (a column's max, its distinct values, ...) and
    exception messages into the pages, so those are replaced first. The site is built by a second
    context whose suite and result stores are files under `docs_dir/_gx_state`: GE's index
    builder deletes pages whose results its context does not hold, so one shared `docs_dir` keeps
    every table only if earlier runs' (scrubbed) results stay readable. Raw results never get there.
    """
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        FilesystemStoreBackendDefaults,
    )

    docs_dir.mkdir(parents=True, exist_ok=True)
    site = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(docs_dir),
        },
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    state = FilesystemStoreBackendDefaults(root_directory=str(docs_dir / _DOCS_STATE))
    config = DataContextConfig(store_backend_defaults=state, data_docs_sites={_DOCS_SITE: site})
    docs_context = gx.get_context(mode="ephemeral", project_config=config)
    docs_context.suites.add_or_update(
        ExpectationSuite(name=suite["name"], expectations=suite["expectations"], meta=suite["meta"])
    )

    scrubbed = copy.deepcopy(result)
    for res in scrubbed.results:
        if not res.expectation_config.type.startswith("expect_table_"):
            res.result = {k: v for k, v in (res.result or {}).items() if k in _COUNT_KEYS}
        error = _error_of(res.exception_info, columns)
        res.exception_info = {
            "raised_exception": error is not None,
            "exception_message": error,
            "exception_traceback": error or "",  # the renderer needs a string here
        }
    for key in context.validation_results_store.list_keys():  # the fresh context has one: ours
        docs_context.validation_results_store.set(key, scrubbed)
    docs_context.build_data_docs(site_names=[_DOCS_SITE])
    index = docs_dir / "index.html"
    if not index.is_file():
        raise RuntimeError(f"GE did not write Data Docs index {index}")
    return index


# --- drafting ------------------------------------------------------------------------------------


def draft_suite(df: pd.DataFrame, table: str, unique_columns: Iterable[str] = frozenset()) -> dict:
    """Draft a suite from (anonymized) data for `data-pipeline expectations init`.

    Value sets copy values from `df`, which is acceptable only because the caller passes
    anonymized data; ranges are widened so that the next release's normal drift still passes.
    """
    from pandas.api import types as ptypes

    unique = set(unique_columns)
    missing = sorted(unique - {str(c) for c in df.columns})
    if missing:
        raise ValueError(f"draft_suite({table!r}): unique column(s) {missing} not in the frame")
    rows = len(df)
    exps: list[dict] = [
        _exp(
            "expect_table_row_count_to_be_between",
            {"min_value": math.floor(rows * 0.5), "max_value": math.ceil(rows * 2)},
            "critical",
        ),
        _exp(
            "expect_table_columns_to_match_ordered_list",
            {"column_list": [str(c) for c in df.columns]},
            "critical",
        ),
    ]
    for col in df.columns:
        name = str(col)
        series = df[col]
        values = series.dropna()
        if rows and len(values) == rows:
            exps.append(_exp("expect_column_values_to_not_be_null", {"column": name}, "critical"))
        if name in unique:
            exps.append(_exp("expect_column_values_to_be_unique", {"column": name}, "critical"))
        if values.empty or ptypes.is_bool_dtype(series):
            continue
        if ptypes.is_numeric_dtype(series) or _all_numbers(values):
            exps.append(_range(name, values, integral=ptypes.is_integer_dtype(series)))
        elif all(isinstance(v, str) for v in values):
            exps.extend(_string_checks(name, values, name in unique))
    return {
        "name": table,
        "expectations": exps,
        "meta": {"drafted_by": "data_pipeline.expectations.draft_suite", "row_count": rows},
    }


def _exp(etype: str, kwargs: dict[str, Any], severity: str) -> dict:
    return {"type": etype, "kwargs": kwargs, "meta": {"severity": severity}}


def _all_numbers(values: pd.Series) -> bool:
    """Object columns of Decimals/ints (e.g. NUMERIC read through a DB driver) count as numeric."""
    return all(isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in values)


def _range(column: str, values: pd.Series, integral: bool) -> dict:
    lo, hi = float(min(values)), float(max(values))
    lo, hi = lo - abs(lo) * _WIDEN, hi + abs(hi) * _WIDEN
    if lo == hi:  # all zero: allow a unit either side rather than a single point
        lo, hi = lo - 1, hi + 1
    lo, hi = math.floor(lo * 1e6) / 1e6, math.ceil(hi * 1e6) / 1e6  # outward, no 0.30000000004
    bounds: dict[str, Any] = (
        {"min_value": math.floor(lo), "max_value": math.ceil(hi)}
        if integral
        else {"min_value": lo, "max_value": hi}
    )
    return _exp("expect_column_values_to_be_between", {"column": column, **bounds}, "warning")


def _string_checks(column: str, values: pd.Series, is_unique: bool) -> list[dict]:
    lengths = values.map(len)
    short, long = int(lengths.min()), int(lengths.max())
    out = [
        _exp(
            "expect_column_value_lengths_to_be_between",
            {
                "column": column,
                "min_value": 1 if short >= 1 else 0,
                "max_value": math.ceil(long * (1 + _WIDEN)),
            },
            "warning",
        )
    ]
    distinct = sorted({str(v) for v in values})
    # A set only where values repeat: a near-unique column (streets of a small table) is no enum.
    if not is_unique and len(distinct) <= min(_VALUE_SET_MAX, len(values) / 2):
        out.append(
            _exp(
                "expect_column_values_to_be_in_set",
                {"column": column, "value_set": distinct},
                "warning",
            )
        )
    return out
