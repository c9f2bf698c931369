"""Rows into a database table, from Arrow batches: COPY on PostgreSQL, executemany on SQLite.

Shared by the publish transaction (a release from its checkpoints) and the staging area (the
candidate release that is validated before it is promoted).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlalchemy as sa

from data_pipeline.distinct import map_distinct
from data_pipeline.schema import Column, Table


class NativeType(sa.types.UserDefinedType):
    """A column type spelled exactly as the source database spelled it (same dialect only)."""

    cache_ok = True

    def __init__(self, ddl: str) -> None:
        self.ddl = ddl

    def get_col_spec(self, **_: object) -> str:
        return self.ddl


def sa_type(column: Column, native: bool) -> sa.types.TypeEngine:
    """The exact source type on a same-dialect target; otherwise a portable type."""
    if native:
        return NativeType(column.type)
    upper = column.type.upper()
    match column.generic:
        case "integer":
            if "BIG" in upper:
                return sa.BigInteger()
            return sa.SmallInteger() if "SMALL" in upper else sa.Integer()
        case "string":
            return sa.String(column.length) if column.length else sa.Text()
        case "numeric":
            return sa.Numeric(column.precision, column.scale)
        case "float":
            return sa.Float()
        case "date":
            return sa.Date()
        case "datetime":
            return sa.DateTime(timezone=column.timezone)
        case "boolean":
            return sa.Boolean()
        case "binary":
            return sa.LargeBinary()
    return sa.Text()


def _arrays_as_lists(table: Table) -> list[str]:
    """Array columns travel as JSON text; a native-array target wants them back as lists."""
    return [c.name for c in table.columns if c.type.endswith("]")]


def rows(batch: pa.Table, table: Table, native: bool) -> list[dict]:
    """Arrow hands the driver Python values (None for NULL) in one pass."""
    rows = batch.to_pylist()
    arrays = _arrays_as_lists(table) if native else []
    for row in rows:
        for name in arrays:
            if isinstance(row[name], str):
                row[name] = json.loads(row[name])
    return rows


def executemany(conn: sa.Connection, sa_table: sa.Table, batch: pa.Table) -> None:
    """Raw DBAPI executemany with tuples: no SQLAlchemy processing of each row's parameters."""
    columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
    quote = conn.dialect.identifier_preparer
    names = ", ".join(quote.quote(c) for c in batch.column_names)
    marks = ", ".join("?" for _ in batch.column_names)
    conn.exec_driver_sql(
        f"INSERT INTO {quote.format_table(sa_table)} ({names}) VALUES ({marks})",
        list(zip(*columns, strict=True)),
    )


def _pg_array_item(item: object) -> str:
    if item is None:
        return "NULL"
    if isinstance(item, list):
        return "{" + ",".join(_pg_array_item(i) for i in item) + "}"
    text = item if isinstance(item, str) else json.dumps(item) if isinstance(item, dict | bool) else str(item)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pg_array_literal(value: str | None) -> str | None:
    """JSON text of an array -> PostgreSQL's array literal (NULL items, nested arrays kept)."""
    if value is None:
        return None
    items = json.loads(value)
    return _pg_array_item(items) if isinstance(items, list) else value


def _csv(batch: pa.Table, table: Table, native: bool, sink: object) -> None:
    """One batch as CSV by Arrow (C++). Arrow quotes every string and leaves NULL unquoted-empty,
    which is COPY's NULL; arrays travel as JSON and become PostgreSQL array literals."""
    for name in _arrays_as_lists(table) if native else []:
        literal = map_distinct(batch.column(name), _pg_array_literal, pa.string())
        batch = batch.set_column(batch.column_names.index(name), name, literal)
    for i, field in enumerate(batch.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            batch = batch.set_column(i, field.name, utc_text(batch.column(i)))
    pa_csv.write_csv(batch, sink, pa_csv.WriteOptions(include_header=False))


def utc_text(stamps: pa.ChunkedArray) -> pa.ChunkedArray:
    """Zoned timestamps as the text Arrow writes for them ('2024-07-31 00:01:00.000000Z'), made from
    their UTC wall time: Arrow formats a zoned value through its time zone database, many times
    slower than a plain one, and that was most of a release's COPY on a table with a timestamptz.

    >>> utc_text(pa.chunked_array([pa.array([0, None], pa.timestamp("s", tz="Europe/Paris"))])).to_pylist()
    ['1970-01-01 00:00:00Z', None]
    """
    wall = stamps.cast(pa.timestamp(stamps.type.unit))  # the UTC instant, without its zone
    return pc.binary_join_element_wise(pc.cast(wall, pa.string()), pa.scalar("Z"), "")


def copy(conn: sa.Connection, name: str, batches: Iterable[pa.Table], table: Table, native: bool) -> int:
    """One PostgreSQL COPY ... FROM STDIN per table, inside the publish transaction. A thread reads
    the checkpoint and writes CSV into a pipe while the server ingests the previous bytes. If that
    thread fails (a corrupt checkpoint), its error is raised here, so the transaction rolls back."""
    quote = conn.dialect.identifier_preparer
    columns = ", ".join(quote.quote(c) for c in table.column_names)
    cursor = conn.connection.dbapi_connection.cursor()
    read_fd, write_fd = os.pipe()
    count = 0
    failure: list[BaseException] = []

    def produce() -> None:
        nonlocal count
        try:
            with open(write_fd, "wb", buffering=1 << 20) as sink:
                for batch in batches:
                    if batch.num_rows:
                        _csv(batch.select(list(table.column_names)), table, native, sink)
                        count += batch.num_rows
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after the COPY
            failure.append(exc)

    producer = threading.Thread(target=produce, name=f"copy-{table.name}", daemon=True)
    producer.start()
    try:
        with open(read_fd, "rb", buffering=0) as source:
            cursor.copy_expert(
                f"COPY {name} ({columns}) FROM STDIN WITH (FORMAT csv)",
                source,
                size=1 << 20,
            )
    finally:
        producer.join()  # the pipe is closed: a producer still writing gets EPIPE and stops
    if failure:
        raise failure[0]
    return count


def into(
    conn: sa.Connection, sa_table: sa.Table, table: Table, batches: Iterable[pa.Table], native: bool
) -> int:
    """Every batch into `sa_table` the fastest way the dialect has; returns the rows loaded.
    `native`: the table's native types travel as such (arrays as lists or PostgreSQL literals)."""
    if conn.dialect.name == "postgresql":
        return copy(conn, conn.dialect.identifier_preparer.format_table(sa_table), batches, table, native)
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        if conn.dialect.name == "sqlite":
            executemany(conn, sa_table, batch)
        else:
            conn.execute(sa_table.insert(), rows(batch, table, native))
        count += batch.num_rows
    return count
