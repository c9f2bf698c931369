"""A consistent snapshot: every table read as of ONE instant of the source, streamed to raw checkpoints.

PostgreSQL reads at REPEATABLE READ (one MVCC snapshot for all tables); SQLite holds one read
transaction. Rows stream in chunks straight to Parquet, so memory stays bounded whatever the size.

On PostgreSQL each table is read with `COPY (SELECT ... ORDER BY pk) TO STDOUT (FORMAT csv)`, and
with `connections` > 1 several tables at once, as `pg_dump -j` does: the other connections import the
snapshot's own (`pg_export_snapshot`), so every table is still read as of one instant (a subset is
read on one connection: its chosen keys are in that session's temporary tables). The CSV stream is
parsed by Arrow's C++ reader with the checkpoint's column types: no Python object per value. Types
Arrow does not parse (arrays, intervals, ...) travel as text and go through exactly the conversions
the SQLAlchemy path applies (psycopg2's typecaster, SQLAlchemy's result processor; once per distinct
value), so checkpoints are the same. JSON documents (json, jsonb) keep the server's own text on both
paths: a number keeps every digit (parsed into Python it became a float), a `json` value its exact
text, and no document is parsed twice.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import NoReturn, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlalchemy as sa

from data_pipeline.checkpoint import (
    BATCH_ROWS,
    CheckpointRef,
    CheckpointStore,
    arrow_type,
    new_batch,
    text_form,
)
from data_pipeline.config import redact_url
from data_pipeline.distinct import map_distinct
from data_pipeline.schema import Column, Schema, Table
from data_pipeline.scrub import scrubbed
from data_pipeline.subset import Selection, SubsetSpec
from data_pipeline.subset import select as select_subset

Progress = Callable[[str, int], None]
T = TypeVar("T")

# generic types whose PostgreSQL text form Arrow's CSV reader parses to the same value psycopg2 returns
_ARROW_PARSED = {"integer", "float", "numeric", "boolean", "date", "datetime", "string"}
_CSV_BLOCK = 4 << 20  # bytes of CSV per Arrow batch: about a snapshot batch (BATCH_ROWS) of a typical table


def _chunks(
    conn: sa.Connection, sa_table: sa.Table, table: Table, where: str | None = None
) -> Iterator[pd.DataFrame]:
    order = [sa_table.c[c] for c in table.primary_key] or list(sa_table.c)[:1]
    postgres = conn.dialect.name == "postgresql"
    query = sa.select(  # generated columns are not read; PostgreSQL's documents as its own text
        *(
            sa.cast(c, sa.Text).label(c.name) if postgres and isinstance(c.type, sa.JSON) else c
            for c in (sa_table.c[name] for name in table.column_names)
        )
    )
    result = conn.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(
        (query if where is None else query.where(sa.text(where))).order_by(*order)
    )
    columns = list(table.column_names)
    emitted = False
    for rows in result.partitions(BATCH_ROWS):
        emitted = True
        yield pd.DataFrame.from_records([tuple(row) for row in rows], columns=columns)
    if not emitted:
        yield pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def _pg_converter(
    conn: sa.Connection, raw_cursor: object, sa_column: sa.Column, oid: int, column: Column
) -> Callable[[str], object]:
    """text -> the value the SQLAlchemy path would have put in the checkpoint."""
    if column.generic == "binary":
        return lambda text: bytes.fromhex(text[2:])  # bytea_output = 'hex': \x0a1b...
    dbapi = conn.connection.dbapi_connection
    import psycopg2.extensions as ext

    caster = dbapi.string_types.get(oid) or ext.string_types.get(oid)
    processor = sa_column.type.dialect_impl(conn.dialect).result_processor(conn.dialect, oid)

    def convert(text: str) -> object:
        value = caster(text, raw_cursor) if caster else text
        return text_form(processor(value) if processor else value)

    return convert


def _pg_copy_chunks(
    conn: sa.Connection, sa_table: sa.Table, table: Table, where: str | None = None
) -> Iterator[pa.Table]:
    """COPY ... TO STDOUT through a pipe into Arrow's streaming CSV reader (C++ parsing)."""
    quote = conn.dialect.identifier_preparer
    names = [quote.quote(c) for c in table.column_names]
    order = [quote.quote(c) for c in table.primary_key] or names[:1]
    condition = f" WHERE {where}" if where is not None else ""
    raw_cursor = conn.connection.dbapi_connection.cursor()
    raw_cursor.execute(
        "SELECT relkind FROM pg_class WHERE oid = %s::regclass", [quote.format_table(sa_table)]
    )
    # a partitioned table is read whole (once, through its parent); an inheritance parent without the
    # rows of its children, which are tables of their own
    only = "ONLY " if raw_cursor.fetchone()[0] == "r" else ""
    source = f"{only}{quote.format_table(sa_table)}{condition}"
    select = f"SELECT {', '.join(names)} FROM {source} ORDER BY {', '.join(order)}"
    raw_cursor.execute(f"{select} LIMIT 0")
    oids = [d.type_code for d in raw_cursor.description]
    arrow_types, converters = {}, {}
    for column, oid in zip(table.columns, oids, strict=True):
        if column.generic in _ARROW_PARSED:
            arrow_types[column.name] = arrow_type(column)
            continue
        arrow_types[column.name] = pa.string()
        if not isinstance(sa_table.c[column.name].type, sa.Uuid | sa.JSON):  # their text is their value
            converters[column.name] = _pg_converter(conn, raw_cursor, sa_table.c[column.name], oid, column)
    target = pa.schema([pa.field(c.name, arrow_type(c)) for c in table.columns])

    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with open(write_fd, "wb", buffering=1 << 20) as sink:
                raw_cursor.copy_expert(f"COPY ({select}) TO STDOUT WITH (FORMAT csv)", sink)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the consumer
            failure.append(exc)

    producer = threading.Thread(target=produce, name=f"copy-{table.name}", daemon=True)
    # buffered: read(n) returns n bytes (not one pipe buffer), so Arrow batches are whole blocks
    source = open(read_fd, "rb", buffering=1 << 20)  # noqa: SIM115 - closed in finally
    producer.start()
    try:
        if source.peek(1):  # an empty table (or a COPY that failed at once) sends no bytes at all
            yield from _arrow_batches(source, table, arrow_types, converters, target)
    except Exception as exc:
        source.close()
        producer.join()
        if failure and not isinstance(failure[0], BrokenPipeError):  # the COPY failed first: its error
            _copy_failed(conn, failure[0], exc)
        raise
    finally:
        source.close()  # a consumer that stops early breaks the pipe: COPY fails, the thread ends
        producer.join()
    if failure:
        _copy_failed(conn, failure[0], None)


def _copy_failed(conn: sa.Connection, error: BaseException, cause: BaseException | None) -> NoReturn:
    """A dead server connection (the DBAPI error did not pass through SQLAlchemy) is invalidated, so
    that the rollback does not hide the COPY's error behind 'connection already closed'."""
    if getattr(conn.connection.dbapi_connection, "closed", 0):
        conn.invalidate()
    raise error from cause


def _arrow_batches(
    source: object,
    table: Table,
    arrow_types: dict[str, pa.DataType],
    converters: dict[str, Callable[[str], object]],
    target: pa.Schema,
) -> Iterator[pa.Table]:
    reader = pa_csv.open_csv(
        source,
        read_options=pa_csv.ReadOptions(column_names=list(table.column_names), block_size=_CSV_BLOCK),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types=arrow_types,
            null_values=[""],  # COPY CSV writes NULL unquoted-empty and '' as "": they stay distinct
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )
    for batch in reader:
        arrays = []
        for column, array in zip(table.columns, batch.columns, strict=True):
            if column.name in converters:
                array = map_distinct(array, converters[column.name], arrow_type(column))
            elif pa.types.is_floating(array.type):
                array = pc.if_else(pc.is_nan(array), None, array)  # as pandas: NaN -> NULL
            arrays.append(array)
        yield pa.Table.from_arrays(arrays, schema=target)


def take_snapshot(
    engine: sa.Engine,
    schema: Schema,
    store: CheckpointStore,
    *,
    retention: timedelta,
    run_id: str | None = None,
    progress: Progress | None = None,
    subset: SubsetSpec | None = None,
    salt: str = "",
    connections: int = 1,
) -> dict[str, CheckpointRef]:
    """Read all tables as of one instant; one raw checkpoint per table. With `subset`, the closure
    is chosen first in that same transaction, and each table read through its condition.
    `connections`: how many tables a PostgreSQL source is read at once."""
    meta = sa.MetaData()
    refs: dict[str, CheckpointRef] = {}
    batch = new_batch("snapshot")
    conn = engine.connect()
    postgres = engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg2"
    if engine.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    try:
        with conn.begin():
            if postgres:
                _read_settings(conn)
            chosen = select_subset(conn, schema, subset, salt) if subset else Selection()
            for nsp in dict.fromkeys(t.schema for t in schema.tables):  # each schema's tables at once
                meta.reflect(conn, schema=nsp, only=[t.name for t in schema.tables if t.schema == nsp])

            def read(table: Table, on: sa.Connection, stop: threading.Event | None = None) -> CheckpointRef:
                sa_table = meta.tables[f"{table.schema}.{table.name}" if table.schema else table.name]
                chunks = _pg_copy_chunks if postgres else _chunks
                with scrubbed("snapshot", table.name):
                    return store.write(
                        table,
                        _until(stop, chunks(on, sa_table, table, chosen.filter(table.name))),
                        batch=batch,
                        retention=retention,
                        source=redact_url(str(engine.url)),
                        run_id=run_id,
                        extra={"subset": chosen.how[table.name]} if subset else {},
                    )

            connections = min(connections, len(schema.tables)) if postgres and not subset else 1
            if connections > 1:
                ordered = _largest_first(conn, schema)
                done = _read_in_parallel(engine, conn, ordered, read, connections, progress)
                refs.update((t.name, done[t.name]) for t in schema.tables)
            else:
                for table in schema.tables:
                    refs[table.name] = read(table, conn)
                    if progress:
                        progress(table.name, refs[table.name].rows)
            chosen.drop(conn)
    finally:
        conn.close()
    return refs


def _read_settings(conn: sa.Connection) -> None:
    """The text forms the COPY reader parses; LOCAL: only this read transaction."""
    for setting in ("DateStyle = 'ISO, YMD'", "TimeZone = 'UTC'", "bytea_output = 'hex'"):
        conn.exec_driver_sql(f"SET LOCAL {setting}")


def _largest_first(conn: sa.Connection, schema: Schema) -> list[Table]:
    """The tables by size on disk (a partitioned one's partitions summed), so that the biggest does
    not start last and leave the other connections idle; one query for all of them."""
    quote = conn.dialect.identifier_preparer.quote
    names = [f"{quote(t.schema)}.{quote(t.name)}" if t.schema else quote(t.name) for t in schema.tables]
    size = (  # pg_partition_tree: PostgreSQL 12
        "(SELECT coalesce(sum(pg_relation_size(relid)), 0) FROM pg_partition_tree(name::regclass))"
        if conn.dialect.server_version_info >= (12,)
        else "pg_relation_size(name::regclass)"
    )
    rows = conn.exec_driver_sql(
        f"SELECT {size} FROM unnest(%(names)s::text[]) WITH ORDINALITY AS t(name, i) ORDER BY i",
        {"names": names},
    )
    sizes = dict(zip((t.name for t in schema.tables), rows.scalars(), strict=True))
    return sorted(schema.tables, key=lambda t: -sizes[t.name])


def imported_snapshot(engine: sa.Engine, snapshot_id: str) -> sa.Connection:
    """A new connection in a read transaction that sees exactly what the exporting one sees."""
    conn = engine.connect().execution_options(isolation_level="REPEATABLE READ")
    try:
        conn.begin()
        conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'")  # an id pg_export_snapshot made
        _read_settings(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _read_in_parallel(
    engine: sa.Engine,
    conn: sa.Connection,
    tables: list[Table],
    read: Callable[[Table, sa.Connection, threading.Event], CheckpointRef],
    connections: int,
    progress: Progress | None,
) -> dict[str, CheckpointRef]:
    """`read` each table on one of `connections` connections (`conn` and others importing its
    snapshot), the next free one taking the next table. The first failure, or an interruption of
    the calling thread, sets `stop`: the other reads end at their next batch, leaving nothing
    half-written, and that first error is raised."""
    snapshot_id = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
    pending = list(reversed(tables))
    lock = threading.Lock()
    stop = threading.Event()
    done: dict[str, CheckpointRef] = {}

    def work(on: sa.Connection) -> None:
        while not stop.is_set():
            with lock:
                if not pending:
                    return
                table = pending.pop()
            try:
                ref = read(table, on, stop)
            except BaseException:
                if stop.is_set():  # stopped for another read's error, or an interruption: that one counts
                    return
                stop.set()
                raise
            with lock:  # one progress line at a time
                done[table.name] = ref
                if progress:
                    progress(table.name, ref.rows)

    others = _more_connections(engine, snapshot_id, connections - 1)
    pool = ThreadPoolExecutor(max_workers=1 + len(others), thread_name_prefix="snapshot")
    try:
        futures = [pool.submit(work, on) for on in (conn, *others)]
        for future in futures:
            future.result()
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True)
        for other in others:
            other.close()  # rolls its read transaction back
    return done


def _more_connections(engine: sa.Engine, snapshot_id: str, wanted: int) -> list[sa.Connection]:
    """Up to `wanted` connections in the snapshot: as many as the server lets this user open (a
    connection limit on the role or the server reads on fewer connections instead of failing)."""
    opened: list[sa.Connection] = []
    for _ in range(wanted):
        try:
            opened.append(imported_snapshot(engine, snapshot_id))
        except sa.exc.OperationalError:
            break
    return opened


def _until(stop: threading.Event | None, batches: Iterator[T]) -> Iterator[T]:
    """The batches, ending the read (an exception through its writer) once `stop` is set."""
    for batch in batches:
        if stop is not None and stop.is_set():
            raise _Stopped
        yield batch


class _Stopped(Exception):
    """Raised into a read that another read's failure stopped; never reaches the user."""
