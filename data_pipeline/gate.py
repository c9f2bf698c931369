"""The release gate for code CI: the published target against the expectation suites.

Exit 0 all critical expectations pass (and warnings too with --strict), 1 one failed, 2 the gate could
not run (missing suites, unreachable target, wrong release). Reports carry counts, never values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from rich.console import Console

from data_pipeline.config import Settings, redact_url
from data_pipeline.db import check_reachable, make_engine
from data_pipeline.errors import BadInput
from data_pipeline.publish import published_release
from data_pipeline.schema import listed_tables


def _published_engine(settings: Settings, release: int | None) -> tuple[sa.Engine, int]:
    engine = make_engine(settings.target_url, role="target")
    if engine.dialect.name == "sqlite" and settings.target_schema:
        raise BadInput("SQLite targets have no schemas: unset DP_TARGET_SCHEMA")
    check_reachable(engine, "target")
    held = published_release(engine, settings.target_schema)
    where = redact_url(settings.target_url)
    if held is None:
        raise BadInput(f"target {where} holds no release: run `data-pipeline run` first")
    if release is not None and held != release:
        raise BadInput(f"target {where} holds release {held}, not {release}")
    return engine, held


def draft_suites(settings: Settings, *, release: int | None, force: bool) -> list[Path]:
    """Draft a suite per published table. The target holds anonymized data only, so drafting
    value sets and ranges from it never copies a raw value into a suite."""
    from data_pipeline.schema import reflect

    engine, _ = _published_engine(settings, release)
    settings.suites_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for table in reflect(engine, schema=settings.target_schema).tables:
        path = settings.suites_dir / f"{table.name}.json"
        if path.exists() and not force:
            continue
        suite = draft_table(engine, table.name, table.schema, table.unique_columns())
        path.write_text(json.dumps(suite, indent=2, default=str) + "\n")
        written.append(path)
    return written


DRAFT_ROWS = 50_000  # rows per chunk a suite is drafted from


def draft_table(engine: sa.Engine, name: str, schema: str | None, unique: Iterable[str]) -> dict:
    """A table's suite drafted chunk by chunk through a server-side cursor: memory holds one chunk,
    not the release."""
    from data_pipeline.expectations import SuiteDraft

    draft = SuiteDraft(name, unique)
    with engine.connect() as conn:
        streamed = conn.execution_options(stream_results=True)
        for chunk in pd.read_sql_table(name, streamed, schema=schema, chunksize=DRAFT_ROWS):
            draft.add(chunk)
    return draft.suite()


def run_gate(
    settings: Settings,
    *,
    release: int | None,
    junit: Path | None,
    markdown: Path | None,
    strict: bool,
    console: Console,
) -> int:
    """Every suite over every row of the published target, in the database (GX's SQL datasource):
    memory does not grow with the release. Cross-table suites validate their query's rows."""
    from data_pipeline.expectations import (
        DataDocs,
        QueryFailed,
        configured_suites,
        validate_query,
        validate_table,
    )
    from data_pipeline.reports import gate_exit_code, junit_xml, markdown_summary

    try:
        suites = configured_suites(settings)
    except (ValueError, FileNotFoundError) as exc:
        raise BadInput(str(exc)) from None
    if not suites:
        raise BadInput(f"no suites (*.json) in {settings.suites_dir}")
    engine, held = _published_engine(settings, release)
    where = redact_url(settings.target_url)
    schema_of = {name: nsp for nsp, name in listed_tables(engine, settings.target_schema)}  # every schema
    missing = sorted(name for name, suite in suites.items() if "query" not in suite and name not in schema_of)
    if missing:
        raise BadInput(f"suites for tables the target lacks: {', '.join(missing)}")
    docs = DataDocs.of(settings)
    results = []
    for name, suite in sorted(suites.items()):
        if "query" in suite:  # a cross-table suite: the rows of its query
            try:
                results.append(validate_query(engine, suite["query"], suite, docs=docs))
            except QueryFailed as exc:
                raise BadInput(f"cross-table suite {name}: its query failed: {exc}") from None
        else:
            results.append(validate_table(engine, schema_of[name], name, suite, docs=docs))
    code = gate_exit_code(results, strict)
    if junit:
        junit_xml(results, junit, strict=strict)
    summary = markdown_summary(results, strict)
    if markdown:
        markdown.write_text(summary)
    console.print(summary, markup=False, highlight=False)
    index = next((r.docs_index for r in results if r.docs_index), None)
    if index is not None:
        console.print(f"Data Docs: {index}", markup=False, highlight=False)
    console.print(f"gate on release {held} of {where}: {'PASS' if code == 0 else 'FAIL'}")
    return code
