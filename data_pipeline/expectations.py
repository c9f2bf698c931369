"""Great Expectations suites: load and check the JSON, validate in the database, draft one from data.

Suites are GX 1.x suite JSON, one per table: files in the suites directory (`expectations/<table>.json`)
and, when there is one, the suites of a GX File Data Context (`gx/` at the repo root, or DP_GX_DIR),
exactly as GX writes them (`ExpectationSuite.to_json_dict()`). Each expectation has GX's own
`severity`: `critical` blocks publishing (the default), `warning` and `info` are reported only; the
older `meta.severity` of this project's suites is still read.

Validation runs in the database (`validate_table`, `validate_query`): GX's SQL datasource turns every
expectation into SQL over every row, so memory does not grow with rows. It runs as a GX Checkpoint
whose one action writes Data Docs from a scrubbed copy of the results into a File Data Context's sites
(the project's own, or `DP_HOME/gx`): where GX users look for them.

GE costs seconds to import, so it is imported inside the functions that need it: importing this
module (e.g. from `reports`) stays cheap. Results keep counts only, never data values, because the
validated rows are copies of production data; the Data Docs are scrubbed the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlparse

import yaml

from data_pipeline.imports import collector_paused

if TYPE_CHECKING:
    import pandas as pd
    import sqlalchemy as sa

    from data_pipeline.config import Settings

SEVERITIES = ("critical", "warning", "info")  # GX's FailureSeverity, most severe first
DEFAULT_SEVERITY = "critical"  # GX's default too

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
# `query`: a cross-table suite validates the rows of a SQL query over the release's tables (e.g. a
# join) instead of one table; the run (on the staged release) and the gate run it. GX's own suite
# files have no such key, so a GX project's suite keeps it in `meta.query`.
_SUITE_KEYS = frozenset({"name", "expectations", "meta", "notes", "id", "query", "suite_parameters"})
# What GX 1.x writes for an expectation; `id` and `rendered_content` (derived) are dropped on load.
_EXPECTATION_KEYS = frozenset(
    {
        "type",
        "kwargs",
        "meta",
        "id",
        "notes",
        "description",
        "severity",
        "rendered_content",
        "expectation_context",
    }
)
_DROPPED_KEYS = frozenset({"id", "rendered_content"})
_ERROR_MAX = 300
_VALUE_SET_MAX = 20
_WIDEN = 0.10
_DOCS_ACTION = "data_pipeline_scrubbed_data_docs"


def check_severity(severity: str) -> Literal["ERROR", "WARN"]:
    """Dagster's AssetCheckSeverity (by name) for a failed expectation of GX `severity`: critical blocks
    (ERROR), warning and info are reported (WARN). Named here because the core never imports Dagster;
    the asset layer looks it up: `dg.AssetCheckSeverity[check_severity(...)]`."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity!r} is not one of {list(SEVERITIES)}")
    return "ERROR" if severity == "critical" else "WARN"


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

    def _failed(self, severity: str) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.success and o.severity == severity)

    @property
    def failed_critical(self) -> tuple[ExpectationOutcome, ...]:
        return self._failed("critical")

    @property
    def failed_warning(self) -> tuple[ExpectationOutcome, ...]:
        return self._failed("warning")

    @property
    def failed_info(self) -> tuple[ExpectationOutcome, ...]:
        return self._failed("info")

    @property
    def passed_count(self) -> int:
        return sum(1 for o in self.outcomes if o.success)

    @property
    def failed_count(self) -> int:
        return len(self.outcomes) - self.passed_count

    @property
    def check_passed(self) -> bool:
        """The Dagster check's `passed`: no expectation failed, whatever its severity."""
        return self.failed_count == 0

    @property
    def check_severity(self) -> Literal["ERROR", "WARN"]:
        """The Dagster check's severity: that of its most severe failure (ERROR blocks), WARN if none."""
        failed = [o.severity for o in self.outcomes if not o.success]
        return "ERROR" if "critical" in failed else "WARN"


# --- loading -------------------------------------------------------------------------------------


def load_suite(path: Path, *, types: bool = True) -> dict:
    """Read and check one suite file; returns it normalised (every expectation has a `severity`).

    Checked up front because GE's ExpectationSuite silently drops invalid expectations. `types=False`:
    the file's shape only, without GX's registry of expectation types and their kwargs (importing
    GX costs seconds and more memory than a run's step: the run checks those where GX runs).
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return _check_suite(raw, str(path), default_name=path.stem, types=types)


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


def gx_suites_dir(gx_dir: Path) -> Path:
    """Where a GX File Data Context keeps its suites: its expectations store's directory, read from
    `great_expectations.yml` (GX's default `expectations/`). Read without importing GX."""
    config_path = Path(gx_dir) / "great_expectations.yml"
    if not config_path.is_file():
        raise FileNotFoundError(f"{gx_dir} is not a GX project: it has no great_expectations.yml")
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{config_path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    stores = config.get("stores") or {}
    store = stores.get(config.get("expectations_store_name") or "expectations_store") or {}
    base = (store.get("store_backend") or {}).get("base_directory") or "expectations/"
    return Path(gx_dir) / base


def suite_paths(suites_dir: Path, gx_dir: Path | None = None) -> dict[str, Path]:
    """Every suite file by suite (file) name, from the suites directory (if it exists) and the GX
    project's expectation store; a name found in both is refused (which one would be meant?)."""
    found: dict[str, Path] = {}
    for directory in (Path(suites_dir), None if gx_dir is None else gx_suites_dir(gx_dir)):
        if directory is None or not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.json")):
            if path.stem in found:
                raise ValueError(
                    f"suite {path.stem!r} is both {found[path.stem]} and {path}: keep one of them"
                )
            found[path.stem] = path
    return found


def suite_names(settings: Settings) -> frozenset[str]:
    """The names of the suites the settings point at, from file names alone (no GX, nothing parsed);
    none when they cannot be listed: the step that runs them reports why."""
    try:
        return frozenset(suite_paths(settings.suites_dir, settings.gx_dir))
    except (ValueError, FileNotFoundError):
        return frozenset()


def configured_suites(settings: Settings) -> dict[str, dict]:
    """Every suite the settings point at (suites directory and GX project), loaded and checked."""
    if not settings.suites_dir.is_dir() and settings.gx_dir is None:
        raise FileNotFoundError(f"suite directory {settings.suites_dir} not found: pass --suites DIR")
    return {
        name: load_suite(path) for name, path in suite_paths(settings.suites_dir, settings.gx_dir).items()
    }


def _check_suite(raw: Any, where: str, default_name: str, types: bool = True) -> dict:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a suite must be a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _SUITE_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown top-level key(s) {unknown}")
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: 'name' must be a non-empty string")
    if name != default_name:
        raise ValueError(f"{where}: suite name {name!r} does not match the file name")
    if "expectations" not in raw:
        raise ValueError(f"{where}: missing 'expectations' (a list of expectations)")
    if not isinstance(raw["expectations"], list):
        raise ValueError(f"{where}: 'expectations' must be a list")
    meta = raw.get("meta") or {}  # GX writes null for none
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: 'meta' must be an object")
    if "query" in raw and "query" in meta:
        raise ValueError(f"{where}: 'query' is both a top-level key and in 'meta': keep one")
    query = raw.get("query", meta.get("query"))
    if query is not None and (not isinstance(query, str) or not query.strip()):
        raise ValueError(f"{where}: 'query' must be a non-empty SQL string")
    expectations = [
        _check_expectation(item, f"{where}: expectation #{i + 1}", types)
        for i, item in enumerate(raw["expectations"])
    ]
    suite = {"name": name, "expectations": expectations, "meta": copy.deepcopy(meta)}
    if query is not None:  # normalised: top-level (so a loaded suite checks again unchanged)
        suite["meta"].pop("query", None)
        suite["query"] = query
    return suite


def _check_expectation(item: Any, where: str, types: bool = True) -> dict:
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
    kwargs = item.get("kwargs", {})
    meta = item.get("meta") or {}
    if not isinstance(kwargs, dict) or not isinstance(meta, dict):
        raise ValueError(f"{where}: 'kwargs' and 'meta' must be objects")
    severity = _severity_of(item, meta, where)
    if types:
        _check_type(etype, kwargs, where)
    out = {k: copy.deepcopy(v) for k, v in item.items() if k not in _DROPPED_KEYS}
    out["kwargs"] = copy.deepcopy(kwargs)
    out["meta"] = copy.deepcopy(meta)
    out["severity"] = severity
    return out


def _check_type(etype: str, kwargs: dict, where: str) -> None:
    """The expectation type is GX's and its kwargs are what that type takes."""
    with collector_paused():
        from great_expectations.exceptions import ExpectationNotFoundError
        from great_expectations.expectations.registry import get_expectation_impl

    try:
        impl = get_expectation_impl(etype)
    except ExpectationNotFoundError:
        raise ValueError(f"{where}: unknown expectation type {etype!r}") from None
    for field in ("column", "column_list", "column_A", "column_B"):
        if field in impl.__fields__ and impl.__fields__[field].required and field not in kwargs:
            raise ValueError(f"{where}: missing {field!r} kwarg")
    try:
        impl(**kwargs)
    except Exception as exc:  # pydantic's error lists each bad kwarg; keep its first lines only
        detail = "; ".join(str(exc).splitlines()[:4])
        raise ValueError(f"{where}: bad kwargs: {detail}") from None


def _severity_of(item: Mapping[str, Any], meta: Mapping[str, Any], where: str) -> str:
    """GX's own `severity`, else this project's older `meta.severity`, else critical (GX's default).
    Both given must agree: a suite that says two things blocks on neither silently."""
    native, legacy = item.get("severity"), meta.get("severity")
    for value in (native, legacy):
        if value is not None and value not in SEVERITIES:
            raise ValueError(f"{where}: severity {value!r} is not one of {list(SEVERITIES)}")
    if native is not None and legacy is not None and native != legacy:
        raise ValueError(f"{where}: severity {native!r} but meta.severity {legacy!r}: keep one")
    return native or legacy or DEFAULT_SEVERITY


# --- validating ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataDocs:
    """Where the scrubbed Data Docs go: the Data Docs sites of the GX File Data Context at `root` (a
    `gx/` directory holding great_expectations.yml; created with GX's defaults if missing). Results are
    kept, scrubbed, in its validation results store, which its sites are built from. `add_suites`:
    also keep each validated suite in its expectation store: for the pipeline's own context
    (DP_HOME/gx), never for a user's project, whose suites are its own."""

    root: Path
    add_suites: bool = True

    @classmethod
    def of(cls, settings: Settings) -> DataDocs:
        """The user's GX project (DP_GX_DIR or gx/ at the repo root) if there is one, else DP_HOME/gx."""
        if settings.gx_dir is not None:
            return cls(settings.gx_dir, add_suites=False)
        return cls(settings.home / "gx")

    def context(self) -> Any:
        with collector_paused():
            import great_expectations as gx

        if (self.root / "great_expectations.yml").is_file():
            return gx.get_context(mode="file", context_root_dir=str(self.root))
        self.root.parent.mkdir(parents=True, exist_ok=True)
        context = gx.get_context(mode="file", project_root_dir=str(self.root.parent))
        if Path(context.root_directory).resolve() != self.root.resolve():
            raise ValueError(f"Data Docs: a GX project must be a directory named gx, not {self.root}")
        return context


class QueryFailed(ValueError):
    """A cross-table suite's query cannot run (bad SQL, missing table): its reason, redacted."""


def validate_table(
    engine_or_url: sa.Engine | sa.URL | str,
    schema: str | None,
    table: str,
    suite: Mapping[str, Any],
    *,
    docs: DataDocs | None = None,
) -> SuiteResult:
    """Validate every row of `schema.table` (None: the default schema) in the database with `suite`.

    GX's SQL datasource runs each expectation as SQL (a table asset, its whole table as one batch), so
    memory does not grow with rows. Names are taken as the database holds them (mixed case, quoted).
    The table may have another name than the suite (e.g. a staged copy of a release): results and
    Data Docs are named after the suite. Runs as a GX Checkpoint whose action writes scrubbed Data
    Docs into `docs` (none if None). GX opens its own connections: the rows must be committed.
    """
    checked = _checked(suite)
    url = _url(engine_or_url)
    dialect = url.get_dialect()()
    options = _search_path(url, schema)
    if schema is not None and not options and dialect.identifier_preparer.quote(schema) != schema:
        raise ValueError(f"GX cannot address schema {schema!r} on {url.get_backend_name()}: rename it")

    def asset(datasource: Any) -> Any:
        # GX reads a name bracketed by quotes as written, any other in lower case
        quoted = dialect.identifier_preparer.quote(table) != table
        table_name = f'"{table}"' if quoted else table
        if schema is None or "kwargs" in options:
            return datasource.add_table_asset(name=checked["name"], table_name=table_name)
        with warnings.catch_warnings():  # GX would have the schema in the URL, which is not portable
            warnings.filterwarnings("ignore", "`schema_name` is deprecated", DeprecationWarning)
            return datasource.add_table_asset(name=checked["name"], table_name=table_name, schema_name=schema)

    names = {table} | ({schema} if schema else set())
    return _validate_sql(url, checked, asset, docs, names, options)


def _search_path(url: sa.URL, schema: str | None) -> dict[str, Any]:
    """GX lowercases a schema name (and keeps the quotes of a quoted one in it): PostgreSQL gets the
    schema as the connections' search_path instead, which GX itself recommends. Only that schema: a
    table missing from it is an error, never another schema's table."""
    if schema is None or url.get_backend_name() != "postgresql":
        return {}
    dialect = url.get_dialect()()
    path = dialect.identifier_preparer.quote_identifier(schema).replace("\\", "\\\\").replace(" ", "\\ ")
    return {"kwargs": {"connect_args": {"options": f"-c search_path={path}"}}}


def validate_query(
    engine_or_url: sa.Engine | sa.URL | str,
    query: str,
    suite: Mapping[str, Any],
    *,
    docs: DataDocs | None = None,
    schema: str | None = None,
) -> SuiteResult:
    """Validate the rows of a SELECT `query` (a cross-table suite: a join of the release) in the
    database, as a GX query asset read as a subquery (never copied into a table); otherwise as
    `validate_table`. A query that cannot run raises QueryFailed before GX starts. `schema`
    (PostgreSQL): where its unqualified table names resolve, e.g. a staged release."""
    checked = _checked(suite)
    url = _url(engine_or_url)
    options = _search_path(url, schema)
    _check_query(url, query, options, schema)

    def asset(datasource: Any) -> Any:
        return datasource.add_query_asset(name=checked["name"], query=query)

    return _validate_sql(url, checked, asset, docs, set(), options)


def validate_frame(df: pd.DataFrame, suite: Mapping[str, Any], docs: DataDocs | None = None) -> SuiteResult:
    """Run `suite` on an in-memory frame (GX's pandas datasource), as a Checkpoint like the SQL path.
    For small data and tests: the database paths above validate every row without holding them."""
    checked = _checked(suite)

    def asset(context: Any) -> Any:
        return context.data_sources.add_pandas(name="pipeline").add_dataframe_asset(name=checked["name"])

    columns = {str(c) for c in df.columns}
    batch = {"dataframe": df}
    return _run_checkpoint(
        checked,
        lambda context: asset(context).add_batch_definition_whole_dataframe("whole_frame"),
        batch,
        docs,
        columns,
    )


def _checked(suite: Mapping[str, Any]) -> dict:
    name = suite.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("suite has no 'name': load it with load_suite() or draft_suite()")
    return _check_suite(dict(suite), f"suite {name!r}", name)


def _url(engine_or_url: sa.Engine | sa.URL | str) -> sa.URL:
    import sqlalchemy as sa

    from data_pipeline.db import normalize_url

    if isinstance(engine_or_url, sa.Engine):
        return engine_or_url.url
    if isinstance(engine_or_url, sa.URL):
        return engine_or_url
    return sa.engine.make_url(normalize_url(engine_or_url))


def _check_query(url: sa.URL, query: str, options: dict[str, Any], schema: str | None = None) -> None:
    """The query runs, and with `schema` (a staged release on PostgreSQL) reads only that schema's
    tables: one naming a table with its schema (`billing.invoices`) would read the live release,
    not the one being validated. PostgreSQL's plan names every table a query scans, views expanded."""
    import sqlalchemy as sa

    from data_pipeline.db import error_reason

    if not query.lstrip()[:6].lower() == "select":
        raise QueryFailed("a cross-table suite's query must start with SELECT (as GX's query assets do)")
    engine = sa.create_engine(url, **options.get("kwargs", {}))
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f"SELECT * FROM ({query}) AS dp_query WHERE 1 = 0"))
            if options:  # a staged release on PostgreSQL, read by search_path `schema`
                plan = conn.execute(sa.text(f"EXPLAIN (VERBOSE, FORMAT JSON) {query}")).scalar()
                outside = sorted({f"{s}.{t}" for s, t in _scanned(plan) if s != schema})
                if outside:
                    raise QueryFailed(
                        f"it reads {', '.join(outside)}, not the staged release: name the release's "
                        "tables without their schema"
                    )
    except sa.exc.SQLAlchemyError as exc:
        raise QueryFailed(error_reason(exc)) from None
    finally:
        engine.dispose()


def _scanned(plan: Any) -> Iterator[tuple[str, str]]:
    """(schema, table) of every relation an EXPLAIN (VERBOSE, FORMAT JSON) plan scans."""
    if isinstance(plan, dict):
        if "Relation Name" in plan:
            yield plan.get("Schema", ""), plan["Relation Name"]
        for value in plan.values():
            yield from _scanned(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from _scanned(value)


def _validate_sql(
    url: sa.URL,
    suite: dict,
    add_asset: Callable[[Any], Any],
    docs: DataDocs | None,
    names: set[str],
    options: dict[str, Any],
) -> SuiteResult:
    """GX's SQL datasource for the backend (its own engine, from the URL with its password: GX keeps
    it in memory only, the context being ephemeral), one asset, its whole table as one batch."""
    datasources = {"sqlite": "add_sqlite", "postgresql": "add_postgres"}
    holder: dict[str, Any] = {}

    def batch_definition(context: Any) -> Any:
        add = getattr(context.data_sources, datasources.get(url.get_backend_name(), "add_sql"))
        holder["datasource"] = add(
            name="target",
            connection_string=url.render_as_string(hide_password=False),
            create_temp_table=False,  # a query asset is read as a subquery, never copied
            **options,
        )
        return add_asset(holder["datasource"]).add_batch_definition_whole_table("whole_table")

    try:
        return _run_checkpoint(suite, batch_definition, {}, docs, names)
    finally:
        if "datasource" in holder:  # GX's engine, its pool and (SQLite) file handles
            holder["datasource"].get_engine().dispose()


def _run_checkpoint(
    suite: dict,
    batch_definition: Callable[[Any], Any],
    batch_parameters: dict[str, Any],
    docs: DataDocs | None,
    names: set[str],
) -> SuiteResult:
    """`suite` over one batch as a GX Checkpoint, in a throwaway in-memory context (no state between
    runs; the raw results never reach a file). Its action writes Data Docs from scrubbed results."""
    with collector_paused():
        import great_expectations as gx
        from great_expectations.core.expectation_suite import ExpectationSuite
        from great_expectations.data_context.types.base import ProgressBarsConfig

    name = suite["name"]
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    gx_suite = context.suites.add(
        ExpectationSuite(name=name, expectations=suite["expectations"], meta=suite["meta"])
    )
    if len(gx_suite.expectations) != len(suite["expectations"]):  # GE drops bad ones silently
        raise ValueError(f"suite {name!r}: GE rejected some expectations")
    order = {e.id: i for i, e in enumerate(gx_suite.expectations)}
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch_definition(context), suite=gx_suite)
    )
    columns = names | _suite_columns(suite)
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"data_pipeline_{name}",
            validation_definitions=[definition],
            actions=[] if docs is None else [_docs_action()],
            result_format=RESULT_FORMAT,
        )
    )
    for action in checkpoint.actions:  # GX copies actions into the Checkpoint: configure its own
        action.configure(docs, suite, columns)
    checkpoint_result = checkpoint.run(batch_parameters=batch_parameters)
    (result,) = checkpoint_result.run_results.values()
    results = sorted(result.results, key=lambda r: order.get(r.expectation_config.id, len(order)))
    outcomes = tuple(_outcome(r, columns) for r in results)
    docs_index = next((a.index for a in checkpoint.actions), None)
    return SuiteResult(suite=name, success=bool(result.success), outcomes=outcomes, docs_index=docs_index)


def _outcome(res: Any, columns: set[str]) -> ExpectationOutcome:
    config = res.expectation_config
    body = res.result or {}
    unexpected = body.get("unexpected_count")
    element = body.get("element_count")
    if config.type.startswith("expect_table_row_count") and element is None:
        element = body.get("observed_value")  # the row count: a count, not a data value
    severity = getattr(config, "severity", None)
    return ExpectationOutcome(
        expectation_type=config.type,
        column=_column_of(config.kwargs),
        severity=str(getattr(severity, "value", severity) or DEFAULT_SEVERITY),
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


def scrubbed_result(result: Any, columns: set[str]) -> Any:
    """A copy of a GX suite validation result fit for Data Docs: GX renders aggregate `observed_value`s
    (a column's max, its distinct values, ...) and exception messages into the pages, so column
    expectations keep only counts, and exception messages are redacted to their first line without
    quoted literals. Table expectations keep their result (row counts, column names)."""
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
    return scrubbed


_ACTION_CLASS: Any = None


def _docs_action() -> Any:
    """The Checkpoint's action: GX's UpdateDataDocsAction, run on a scrubbed copy of each result in
    the Data Docs context instead of on the raw result in the validating one."""
    global _ACTION_CLASS
    if _ACTION_CLASS is None:
        _ACTION_CLASS = _define_docs_action()
    return _ACTION_CLASS(name="scrubbed_data_docs")


def _define_docs_action() -> Any:
    """Defined on first use (GX is imported lazily); GX registers an action class by its `type`, once."""
    with collector_paused():
        from great_expectations.checkpoint import UpdateDataDocsAction
        from great_expectations.compatibility.pydantic import PrivateAttr
        from great_expectations.core.expectation_suite import ExpectationSuite
        from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    class ScrubbedDataDocsAction(UpdateDataDocsAction):
        """Stores a scrubbed copy of each result in the Data Docs context and builds its sites (an
        UpdateDataDocsAction, so a Checkpoint runs it first)."""

        type: Literal["data_pipeline_scrubbed_data_docs"] = _DOCS_ACTION  # type: ignore[assignment]
        _docs: Any = PrivateAttr(None)
        _suite: Any = PrivateAttr(None)
        _columns: Any = PrivateAttr(None)
        _index: Any = PrivateAttr(None)

        def configure(self, docs: DataDocs, suite: dict, columns: set[str]) -> None:
            self._docs, self._suite, self._columns = docs, suite, columns

        @property
        def index(self) -> Path | None:
            return self._index

        def run(self, checkpoint_result: Any, action_context: Any = None) -> dict:
            context = self._docs.context()
            pages: dict = {}
            for key, result in checkpoint_result.run_results.items():
                suite_key = ExpectationSuiteIdentifier(name=result.suite_name)
                if self._docs.add_suites:
                    context.suites.add_or_update(
                        ExpectationSuite(
                            name=self._suite["name"],
                            expectations=self._suite["expectations"],
                            meta=self._suite["meta"],
                        )
                    )
                context.validation_results_store.set(key, scrubbed_result(result, self._columns))
                sites = self.site_names or None
                context.build_data_docs(site_names=sites, resource_identifiers=[key, suite_key])
                urls = context.get_docs_sites_urls(site_names=sites, only_if_exists=True)
                pages[key] = {site["site_name"]: site["site_url"] for site in urls}
                self._index = next(filter(None, map(_local_path, pages[key].values())), None)
            return pages

    return ScrubbedDataDocsAction


def _local_path(url: str | None) -> Path | None:
    """The file a `file://` Data Docs URL names; None for a remote site (S3, GCS, ...)."""
    if not url or not url.startswith("file://"):
        return None
    return Path(unquote(urlparse(url).path))


# --- drafting ------------------------------------------------------------------------------------


def draft_suite(df: pd.DataFrame, table: str, unique_columns: Iterable[str] = frozenset()) -> dict:
    """Draft a suite from (anonymized) data for `data-pipeline expectations init`.

    Value sets copy values from `df`, which is acceptable only because the caller passes
    anonymized data; ranges are widened so that the next release's normal drift still passes.
    """
    draft = SuiteDraft(table, unique_columns)
    draft.add(df)
    return draft.suite()


@dataclass
class _ColumnDraft:
    """What one column's chunks have shown so far: a few numbers and at most _VALUE_SET_MAX + 1
    distinct values, never the column."""

    values: int = 0  # non-NULL
    numeric: bool = True  # every value a number (a numeric dtype, or Decimals/ints)
    integral: bool = True  # every chunk an integer dtype (a NULL anywhere makes pandas' ints floats)
    text: bool = True  # every value a str
    lo: float | None = None
    hi: float | None = None
    shortest: int | None = None
    longest: int | None = None
    distinct: set[str] | None = dataclasses.field(default_factory=set)  # None: more than a value set holds

    def add(self, series: pd.Series) -> None:
        from pandas.api import types as ptypes

        self.integral &= ptypes.is_integer_dtype(series)
        values = series.dropna()
        if values.empty:
            return
        self.values += len(values)
        booleans = series.dtype == object and any(isinstance(v, bool) for v in values)
        if ptypes.is_bool_dtype(series) or booleans:
            self.numeric = self.text = False  # booleans get no range and no value set
        span = _span(series, values) if self.numeric else None
        if span is None:
            self.numeric = False
        else:
            self.lo = span[0] if self.lo is None else min(self.lo, span[0])
            self.hi = span[1] if self.hi is None else max(self.hi, span[1])
        if self.text and all(isinstance(v, str) for v in values):
            lengths = values.map(len)
            short, long = int(lengths.min()), int(lengths.max())
            self.shortest = short if self.shortest is None else min(self.shortest, short)
            self.longest = long if self.longest is None else max(self.longest, long)
            if self.distinct is not None:
                self.distinct.update(str(v) for v in values.unique())
                if len(self.distinct) > _VALUE_SET_MAX:
                    self.distinct = None
        else:
            self.text = False


class SuiteDraft:
    """`draft_suite` one chunk at a time, so that drafting from a production-size release holds one
    chunk and each column's few numbers, whatever the number of rows.

    >>> import pandas as pd
    >>> draft = SuiteDraft("t")
    >>> for chunk in (pd.DataFrame({"n": [1, 2]}), pd.DataFrame({"n": [3]})):
    ...     draft.add(chunk)
    >>> draft.suite()["expectations"][0]["kwargs"]
    {'min_value': 1, 'max_value': 6}
    """

    def __init__(self, table: str, unique_columns: Iterable[str] = frozenset()) -> None:
        self.table, self.unique = table, set(unique_columns)
        self.rows = 0
        self._drafts: dict[str, _ColumnDraft] = {}  # by column, in the table's order

    def add(self, chunk: pd.DataFrame) -> None:
        """The next chunk: the first sets the columns (an empty table still gives one, empty)."""
        columns = [str(c) for c in chunk.columns]
        if not self._drafts:
            missing = sorted(self.unique - set(columns))
            if missing:
                raise ValueError(f"draft_suite({self.table!r}): unique column(s) {missing} not in the frame")
            self._drafts = {c: _ColumnDraft() for c in columns}
        self.rows += len(chunk)
        for column, (_, series) in zip(columns, chunk.items(), strict=True):
            self._drafts[column].add(series)

    def suite(self) -> dict:
        rows = self.rows
        exps: list[dict] = [
            _exp(
                "expect_table_row_count_to_be_between",
                {"min_value": math.floor(rows * 0.5), "max_value": math.ceil(rows * 2)},
                "critical",
            ),
            _exp(
                "expect_table_columns_to_match_ordered_list", {"column_list": list(self._drafts)}, "critical"
            ),
        ]
        for name, draft in self._drafts.items():
            if rows and draft.values == rows:
                exps.append(_exp("expect_column_values_to_not_be_null", {"column": name}, "critical"))
            if name in self.unique:
                exps.append(_exp("expect_column_values_to_be_unique", {"column": name}, "critical"))
            if not draft.values:
                continue
            if draft.numeric:
                exps.append(_range(name, draft.lo, draft.hi, integral=draft.integral))
            elif draft.text:
                exps.extend(_string_checks(name, draft, name in self.unique))
        return {
            "name": self.table,
            "expectations": exps,
            "meta": {"drafted_by": "data_pipeline.expectations.draft_suite", "row_count": rows},
        }


def _exp(etype: str, kwargs: dict[str, Any], severity: str) -> dict:
    return {"type": etype, "kwargs": kwargs, "severity": severity}  # GX's own key


def _span(series: pd.Series, values: pd.Series) -> tuple[float, float] | None:
    """(smallest, largest) of a chunk's non-NULL values if they are all numbers, else None."""
    from pandas.api import types as ptypes

    if ptypes.is_numeric_dtype(series):
        return float(values.min()), float(values.max())
    if _all_numbers(values):
        return float(min(values)), float(max(values))
    return None


def _all_numbers(values: pd.Series) -> bool:
    """Object columns of Decimals/ints (e.g. NUMERIC read through a DB driver) count as numeric."""
    return all(isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in values)


def _range(column: str, lo: float, hi: float, integral: bool) -> dict:
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


def _string_checks(column: str, draft: _ColumnDraft, is_unique: bool) -> list[dict]:
    out = [
        _exp(
            "expect_column_value_lengths_to_be_between",
            {
                "column": column,
                "min_value": 1 if draft.shortest >= 1 else 0,
                "max_value": math.ceil(draft.longest * (1 + _WIDEN)),
            },
            "warning",
        )
    ]
    distinct = sorted(draft.distinct) if draft.distinct is not None else None
    # A set only where values repeat: a near-unique column (streets of a small table) is no enum.
    if not is_unique and distinct is not None and len(distinct) <= min(_VALUE_SET_MAX, draft.values / 2):
        out.append(
            _exp(
                "expect_column_values_to_be_in_set",
                {"column": column, "value_set": distinct},
                "warning",
            )
        )
    return out
