"""The candidate release: loaded into the target where the application does not look, validated
there on every row, then promoted by the publish transaction or dropped.

PostgreSQL: schema `_dp_candidate` of UNLOGGED tables (a staging copy need not survive a crash; the
next run drops it). SQLite: a file beside the target (`<target>-dp_candidate`), attached to the
publish transaction as schema `_dp_candidate`. Columns take portable types, a native type its text
(an enum's label, an array's literal), so staging never depends on the target's DDL; promotion casts
each column to the type the release's table has (`INSERT ... SELECT CAST(...)`, inside the server).

One publisher stages into a target at a time (`reserved`: a session advisory lock, a file lock on a
SQLite target; both die with the process), so a run can drop a candidate it finds: it was left by a
run that was killed.

    >>> with reserved(target):
    ...     candidate = stage(target, schema, batches_of)     # committed, invisible to the application
    ...     results = validate(candidate, suites, docs)        # GX in SQL, every row
    ...     publish(target, schema, ..., candidate=candidate)  # one transaction: old release or new
    ...     discard(target)
"""

from __future__ import annotations

import fcntl
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa

from data_pipeline import load
from data_pipeline.db import make_engine
from data_pipeline.errors import BadInput, Busy, PipelineError
from data_pipeline.locks import bound_lock_waits
from data_pipeline.schema import INTERNAL_PREFIX, Schema, Table

if TYPE_CHECKING:
    from data_pipeline.expectations import DataDocs, SuiteResult

CANDIDATE = f"{INTERNAL_PREFIX}candidate"
STAGE_LOCK = "hashtext('data_pipeline.stage')"
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class Candidate:
    """A staged release: where GX connects to it (`url`, `schema`) and the rows of each table."""

    url: sa.URL
    schema: str | None  # PostgreSQL: CANDIDATE; SQLite: None (the candidate file's own tables)
    rows: dict[str, int]
    path: Path | None = None  # SQLite: the candidate file, attached by the publish transaction


def sqlite_file(engine: sa.Engine) -> Path:
    """Where a SQLite target's candidate lives: beside it, on the same file system."""
    database = engine.url.database
    if not database or database == ":memory:":
        raise BadInput("an in-memory SQLite target cannot stage a release: use a file (sqlite:///path)")
    return Path(database).with_name(Path(database).name + "-dp_candidate")


@contextmanager
def reserved(engine: sa.Engine, wait: bool = True) -> Iterator[bool]:
    """The target's staging area for this process until the block ends. `wait=False`: yields False
    at once when another publisher holds it. Waiting is bounded by DP_LOCK_TIMEOUT on PostgreSQL."""
    if engine.dialect.name == "sqlite":
        sqlite_file(engine)  # a file, not :memory:
        with open(str(engine.url.database), "a") as handle:  # flock: apart from SQLite's own locks
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as conn:
        timeout = bound_lock_waits(conn)  # the wait; the lock itself is the session's
        try:
            if wait:
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({STAGE_LOCK})")
                got = True
            else:
                got = bool(conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({STAGE_LOCK})").scalar())
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "pgcode", None) != "55P03":
                raise
            raise Busy(
                f"target busy: another run has been staging a release there for longer than lock_timeout "
                f"{timeout}; nothing published (run again later, or raise DP_LOCK_TIMEOUT)"
            ) from None
        conn.commit()  # no transaction stays open meanwhile
        try:
            yield got
        finally:
            if got:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({STAGE_LOCK})")
                conn.commit()


def discard_stale(engine: sa.Engine) -> None:
    """At the start of a run: drop a candidate a killed run left, unless a publisher is at work."""
    if engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
        return
    with reserved(engine, wait=False) as mine:
        if mine:
            discard(engine)


def discard(engine: sa.Engine) -> None:
    """Drop any candidate (after a promotion, a failed validation, or a run killed meanwhile)."""
    if engine.dialect.name == "sqlite":
        path = sqlite_file(engine)
        for leftover in (path, *(path.with_name(path.name + s) for s in ("-journal", "-wal", "-shm"))):
            leftover.unlink(missing_ok=True)
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            bound_lock_waits(conn)
        conn.execute(sa.schema.DropSchema(CANDIDATE, cascade=True, if_exists=True))


def stage(
    engine: sa.Engine,
    schema: Schema,
    data: Callable[[Table], Iterable[pa.Table]],
    progress: Progress | None = None,
) -> Candidate:
    """Load every table of the release into a fresh candidate, committed (GX opens its own
    connections). The live release is not touched."""
    discard(engine)
    dialect = engine.dialect.name
    if dialect == "sqlite":
        path = sqlite_file(engine)
        staged = make_engine(str(sa.URL.create("sqlite", database=str(path))), role="candidate")
        try:
            rows = _load(staged, schema, data, None, progress)
        finally:
            staged.dispose()
        return Candidate(staged.url, None, rows, path)
    rows = _load(engine, schema, data, CANDIDATE, progress)
    return Candidate(engine.url, CANDIDATE, rows)


def _load(
    engine: sa.Engine,
    schema: Schema,
    data: Callable[[Table], Iterable[pa.Table]],
    home: str | None,
    progress: Progress | None,
) -> dict[str, int]:
    dialect = engine.dialect.name
    meta = candidate_metadata(schema, dialect, home)
    rows: dict[str, int] = {}
    with engine.begin() as conn:
        if home is not None:
            try:
                with conn.begin_nested():
                    conn.execute(sa.schema.CreateSchema(home))
            except sa.exc.ProgrammingError as exc:
                if getattr(exc.orig, "pgcode", None) != "42501":  # insufficient_privilege
                    raise
                raise BadInput(
                    f"the target's user may not create schema {home}, where a release is staged and "
                    "validated before it is published: GRANT CREATE ON DATABASE <target> TO <user>; "
                    "nothing published"
                ) from None
        meta.create_all(conn)
        for table in schema.tables:
            sa_table = meta.tables[f"{home}.{table.name}" if home else table.name]
            # native arrays travel as their PostgreSQL literal, which the promotion's cast reads
            native = dialect == "postgresql" and table.dialect == "postgresql"
            rows[table.name] = load.into(conn, sa_table, table, data(table), native=native)
            if progress:
                progress(table.name, rows[table.name])
    return rows


def candidate_metadata(schema: Schema, dialect: str, home: str | None) -> sa.MetaData:
    """The release's columns with portable types, NULL allowed and no keys: a candidate's rows are
    judged by the suites and by the promotion into the release's real tables, never refused on load."""
    meta = sa.MetaData(schema=home)
    for table in schema.tables:
        sa.Table(
            table.name,
            meta,
            *[sa.Column(c.name, load.sa_type(c, native=False), nullable=True) for c in table.columns],
            prefixes=["UNLOGGED"] if dialect == "postgresql" else [],
        )
    return meta


def validate(candidate: Candidate, suites: dict[str, Path], docs: DataDocs | None) -> list[SuiteResult]:
    """Every suite (name -> its file) over every row of the candidate, in the database (GX's SQL
    datasource). A cross-table suite's query reads the candidate's tables by their plain names.
    Runs in a fresh interpreter: importing GX costs more memory than any step's working set, and a
    run's process would keep it (its heap does not shrink back) through every step after. The job
    and its results travel as pickles on the child's stdin/stdout (the URL's password never in argv)."""
    package_root = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(filter(None, (package_root, os.environ.get("PYTHONPATH"))))
    done = subprocess.run(
        [sys.executable, "-c", "from data_pipeline.staging import serve_validation; serve_validation()"],
        input=pickle.dumps((candidate, suites, docs)),
        capture_output=True,
        env={**os.environ, "PYTHONPATH": path},
        check=False,
    )
    if done.returncode != 0 or not done.stdout:
        how = (
            f"died by signal {-done.returncode}" if done.returncode < 0 else f"exited with {done.returncode}"
        )
        raise BadInput(
            f"the expectation suites' process {how} while validating the staged release; nothing published"
        )
    failed, payload = pickle.loads(done.stdout)
    if failed:
        raise payload
    return payload


def serve_validation() -> None:
    """The child's side of `validate`: GX's chatter goes to stderr, the pickled outcome to stdout."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    candidate, suites, docs = pickle.loads(sys.stdin.buffer.read())
    try:
        outcome = (False, _validate(candidate, suites, docs))
    except PipelineError as exc:  # one line for the user, raised again in the run
        outcome = (True, exc)
    except Exception as exc:  # noqa: BLE001 - the class only: a message might quote a row
        outcome = (
            True,
            BadInput(f"validating the staged release failed: {type(exc).__name__}; nothing published"),
        )
    out.write(pickle.dumps(outcome))
    out.close()


def _validate(candidate: Candidate, suites: dict[str, Path], docs: DataDocs | None) -> list[SuiteResult]:
    from data_pipeline.expectations import QueryFailed, load_suite, validate_query, validate_table

    results = []
    for name, path in sorted(suites.items()):
        try:  # now with GX's own checks of the types and their kwargs
            suite = load_suite(path)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        if "query" in suite:
            try:
                result = validate_query(
                    candidate.url, suite["query"], suite, docs=docs, schema=candidate.schema
                )
            except QueryFailed as exc:
                raise BadInput(
                    f"cross-table suite {name}: its query failed on the staged release: {exc}"
                ) from None
            results.append(result)
        else:
            results.append(validate_table(candidate.url, candidate.schema, name, suite, docs=docs))
    return results


@contextmanager
def attached(engine: sa.Engine, candidate: Candidate | None) -> Iterator[sa.Connection]:
    """A connection to the target that can read the candidate as schema `_dp_candidate` (SQLite
    attaches its file; it cannot inside a transaction, hence before BEGIN and on the raw connection)."""
    with engine.connect() as conn:
        if candidate is None or candidate.path is None:
            yield conn
            return
        raw: Any = conn.connection.dbapi_connection
        raw.execute(f"ATTACH DATABASE ? AS {CANDIDATE}", (str(candidate.path),))
        try:
            yield conn
        finally:
            if conn.in_transaction():
                conn.rollback()
            raw.execute(f"DETACH DATABASE {CANDIDATE}")


def promote_rows(conn: sa.Connection, table: Table, target: str) -> int:
    """Fill the release's table `target` (quoted, empty, in the publish transaction) from the
    candidate. On PostgreSQL each column is cast to the type the table has (text to an enum,
    a domain, an array...) and identity columns take the release's values."""
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in table.column_names)
    source = f"{quote(CANDIDATE)}.{quote(table.name)}"
    if conn.dialect.name != "postgresql":
        return conn.exec_driver_sql(f"INSERT INTO {target} ({names}) SELECT {names} FROM {source}").rowcount
    types = dict(
        conn.execute(
            sa.text(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = CAST(:name AS regclass) AND attnum > 0 AND NOT attisdropped"
            ),
            {"name": target},
        ).all()
    )
    cast = ", ".join(f"CAST({quote(c)} AS {types[c]})" for c in table.column_names)
    return conn.exec_driver_sql(
        f"INSERT INTO {target} ({names}) OVERRIDING SYSTEM VALUE SELECT {cast} FROM {source}"
    ).rowcount
