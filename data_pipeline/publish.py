"""Atomic publish: a whole release lands in the target in ONE transaction, or nothing does.

Old tables are dropped and the release's tables created and loaded inside a single transaction
(both PostgreSQL and SQLite have transactional DDL; our SQLite engine really BEGINs). A crash at any
moment leaves the previous whole release. `_dp_release` in the target says which release it holds.
On PostgreSQL rows are loaded with COPY into bare tables, and the primary keys, unique constraints and
foreign keys are added after the load, still in that transaction (one index build per constraint
instead of row-by-row index maintenance; the same constraint names PostgreSQL gives inline ones).
A target of the source's own dialect gets the exact native column types (uuid, jsonb, arrays, enums,
timestamptz, numeric), others portable SQLAlchemy types.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.csv as pa_csv
import sqlalchemy as sa

from data_pipeline.schema import INTERNAL_PREFIX, Column, Schema, Table

MARKER = f"{INTERNAL_PREFIX}release"
Progress = Callable[[str, int], None]


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


def target_metadata(
    schema: Schema, dialect: str, target_schema: str | None, constraints: bool = True
) -> sa.MetaData:
    """The release's tables; `constraints=False`: columns only (no keys), to be loaded first."""
    meta = sa.MetaData(schema=target_schema)
    for table in schema.tables:
        native = table.dialect == dialect
        sa.Table(
            table.name,
            meta,
            *[
                sa.Column(
                    c.name,
                    sa_type(c, native),
                    nullable=c.nullable,
                    primary_key=constraints and c.name in table.primary_key,
                    autoincrement=False,
                )
                for c in table.columns
            ],
            *[
                sa.ForeignKeyConstraint(
                    list(fk.columns),
                    [".".join(filter(None, (target_schema, fk.ref_table, r))) for r in fk.ref_columns],
                )
                for fk in table.foreign_keys
                if constraints
            ],
            *[
                sa.UniqueConstraint(*u)
                for u in table.unique
                if constraints and set(u) != set(table.primary_key)
            ],
        )
    sa.Table(
        MARKER,
        meta,
        sa.Column("release", sa.Integer, nullable=False),
        sa.Column("published_at", sa.String(40), nullable=False),
        sa.Column("policy_digest", sa.String(64), nullable=False),
        sa.Column("tables", sa.Text, nullable=False),
    )
    return meta


def _native_enums(conn: sa.Connection, schema: Schema, target_schema: str | None) -> None:
    """PostgreSQL ENUM types must exist before tables that use them."""
    for table in schema.tables:
        for column in table.columns:
            if column.enum and table.dialect == "postgresql":
                enum = sa.dialects.postgresql.ENUM(
                    *column.enum, name=column.type.split(".")[-1].strip('"'), schema=target_schema
                )
                enum.create(conn, checkfirst=True)


def _arrays_as_lists(table: Table) -> list[str]:
    """Array columns travel as JSON text; a native-array target wants them back as lists."""
    return [c.name for c in table.columns if c.type.endswith("]")]


def _rows(batch: pa.Table, table: Table, native: bool) -> list[dict]:
    """Arrow hands the driver Python values (None for NULL) in one pass."""
    rows = batch.to_pylist()
    arrays = _arrays_as_lists(table) if native else []
    for row in rows:
        for name in arrays:
            if isinstance(row[name], str):
                row[name] = json.loads(row[name])
    return rows


def _executemany(conn: sa.Connection, sa_table: sa.Table, batch: pa.Table) -> None:
    """Raw DBAPI executemany with tuples: no SQLAlchemy processing of each row's parameters."""
    columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
    quote = conn.dialect.identifier_preparer
    names = ", ".join(quote.quote(c) for c in batch.column_names)
    marks = ", ".join("?" for _ in batch.column_names)
    conn.exec_driver_sql(
        f"INSERT INTO {quote.format_table(sa_table)} ({names}) VALUES ({marks})",
        list(zip(*columns, strict=True)),
    )


def _pg_array_literal(value: str | None) -> str | None:
    if value is None:
        return None
    items = json.loads(value)
    escaped = (str(i).replace("\\", "\\\\").replace('"', '\\"') for i in items)
    return "{" + ",".join(f'"{item}"' for item in escaped) + "}"


def _csv(batch: pa.Table, table: Table, native: bool, sink: object) -> None:
    """One batch as CSV by Arrow (C++). Arrow quotes every string and leaves NULL unquoted-empty,
    which is COPY's NULL; arrays travel as JSON and become PostgreSQL array literals."""
    for name in _arrays_as_lists(table) if native else []:
        literal = pa.array([_pg_array_literal(v) for v in batch.column(name).to_pylist()], pa.string())
        batch = batch.set_column(batch.column_names.index(name), name, literal)
    pa_csv.write_csv(batch, sink, pa_csv.WriteOptions(include_header=False))


def _copy(
    conn: sa.Connection, sa_table: sa.Table, batches: Iterable[pa.Table], table: Table, native: bool
) -> int:
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
                f"COPY {quote.format_table(sa_table)} ({columns}) FROM STDIN WITH (FORMAT csv)",
                source,
                size=1 << 20,
            )
    finally:
        producer.join()  # the pipe is closed: a producer still writing gets EPIPE and stops
    if failure:
        raise failure[0]
    return count


def _add_constraints(conn: sa.Connection, meta: sa.MetaData) -> None:
    """Keys after the load (PostgreSQL): primary keys and unique constraints first, so that every
    foreign key finds the index it references; each FK is then validated by one join."""
    tables = [t for t in meta.tables.values() if t.name != MARKER]
    for sa_table in tables:
        if sa_table.primary_key.columns:
            conn.execute(sa.schema.AddConstraint(sa_table.primary_key))
        for constraint in sa_table.constraints:
            if isinstance(constraint, sa.UniqueConstraint) and not isinstance(
                constraint, sa.PrimaryKeyConstraint
            ):
                conn.execute(sa.schema.AddConstraint(constraint))
    for sa_table in tables:
        for fk in sa_table.foreign_key_constraints:
            conn.execute(sa.schema.AddConstraint(fk))


def publish(
    engine: sa.Engine,
    schema: Schema,
    data: Callable[[Table], Iterable[pa.Table]],
    *,
    release: int,
    policy_digest: str,
    target_schema: str | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Replace the target's tables with this release's, atomically. Returns rows per table."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        target_schema = None  # SQLite has no schemas: the file is the namespace
    meta = target_metadata(schema, dialect, target_schema)
    rows: dict[str, int] = {}
    with engine.begin() as conn:
        if dialect == "postgresql":
            # concurrent publishers to one target queue here instead of interleaving
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('data_pipeline.publish'))")
            if target_schema:
                conn.execute(sa.schema.CreateSchema(target_schema, if_not_exists=True))
        existing = set(sa.inspect(conn).get_table_names(schema=target_schema))
        ours = (
            {t.name for t in meta.tables.values()} | _previous_tables(conn, existing, target_schema)
        ) & existing
        if ours:
            old = sa.MetaData(schema=target_schema)
            old.reflect(conn, only=sorted(ours))
            old.drop_all(conn)
        _native_enums(conn, schema, target_schema)
        if dialect == "postgresql":
            # bare tables now, keys once loaded; index builds sort in memory up to this (this
            # transaction only)
            conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
            target_metadata(schema, dialect, target_schema, constraints=False).create_all(conn)
        else:
            meta.create_all(conn)
        by_name = {t.name: t for t in meta.tables.values()}
        for table in schema.tables:
            sa_table = by_name[table.name]
            count = 0
            native = table.dialect == dialect
            if dialect == "postgresql":
                count = _copy(conn, sa_table, data(table), table, native)
            else:
                for batch in data(table):
                    if batch.num_rows == 0:
                        continue
                    if dialect == "sqlite":
                        _executemany(conn, sa_table, batch)
                    else:
                        conn.execute(sa_table.insert(), _rows(batch, table, native))
                    count += batch.num_rows
            rows[table.name] = count
            if progress:
                progress(table.name, count)
        if dialect == "postgresql":
            _add_constraints(conn, meta)
        conn.execute(
            by_name[MARKER]
            .insert()
            .values(
                release=release,
                published_at=datetime.now(UTC).isoformat(),
                policy_digest=policy_digest,
                tables=",".join(schema.names),
            )
        )
    return rows


def _previous_tables(conn: sa.Connection, existing: set[str], target_schema: str | None) -> set[str]:
    """Tables the previous release published (so a table removed since is dropped too)."""
    if MARKER not in existing:
        return set()
    marker = sa.table(MARKER, sa.column("tables"), schema=target_schema)
    rows = conn.execute(sa.select(marker.c.tables)).scalars()
    return {name for row in rows for name in (row or "").split(",") if name}


def published_release(engine: sa.Engine, target_schema: str | None = None) -> int | None:
    """The release number the target holds, read from the target itself."""
    if engine.dialect.name == "sqlite":
        target_schema = None
    if MARKER not in sa.inspect(engine).get_table_names(schema=target_schema):
        return None
    marker = sa.table(MARKER, sa.column("release"), schema=target_schema)
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.max(marker.c.release))).scalar()
