"""Atomic publish: a whole release lands in the target in ONE transaction, or nothing does.

Old tables are dropped and the release's tables created and loaded inside a single transaction
(both PostgreSQL and SQLite have transactional DDL; our SQLite engine really BEGINs). A crash at any
moment leaves the previous whole release. `_dp_release` in the target says which release it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from data_pipeline.schema import INTERNAL_PREFIX, Column, Schema, Table

MARKER = f"{INTERNAL_PREFIX}release"
Progress = Callable[[str, int], None]


def sa_type(column: Column) -> sa.types.TypeEngine:
    """A portable SQLAlchemy type rebuilt from the manifest's description of a column."""
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


def target_metadata(schema: Schema) -> sa.MetaData:
    meta = sa.MetaData()
    for table in schema.tables:
        sa.Table(
            table.name,
            meta,
            *[
                sa.Column(
                    c.name,
                    sa_type(c),
                    nullable=c.nullable,
                    primary_key=c.name in table.primary_key,
                    autoincrement=False,
                )
                for c in table.columns
            ],
            *[
                sa.ForeignKeyConstraint(
                    list(fk.columns), [f"{fk.ref_table}.{r}" for r in fk.ref_columns]
                )
                for fk in table.foreign_keys
            ],
            *[sa.UniqueConstraint(*u) for u in table.unique if set(u) != set(table.primary_key)],
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


def _records(frames: Iterable[pd.DataFrame]) -> Iterator[list[dict]]:
    for frame in frames:
        # Arrow turns NaN/NaT into None and numpy scalars into Python values in one pass.
        yield pa.Table.from_pandas(frame, preserve_index=False).to_pylist()


def publish(
    engine: sa.Engine,
    schema: Schema,
    data: Callable[[Table], Iterable[pd.DataFrame]],
    *,
    release: int,
    policy_digest: str,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Replace the target's tables with this release's, atomically. Returns rows per table."""
    meta = target_metadata(schema)
    existing = set(sa.inspect(engine).get_table_names())
    rows: dict[str, int] = {}
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # concurrent publishers to one target queue here instead of interleaving
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('data_pipeline.publish'))")
        ours = (set(meta.tables) | _previous_tables(conn, existing)) & existing
        if ours:
            old = sa.MetaData()
            old.reflect(conn, only=sorted(ours))
            old.drop_all(conn)
        meta.create_all(conn)
        for table in schema.tables:
            sa_table = meta.tables[table.name]
            count = 0
            for batch in _records(data(table)):
                if batch:
                    conn.execute(sa_table.insert(), batch)
                    count += len(batch)
            rows[table.name] = count
            if progress:
                progress(table.name, count)
        conn.execute(
            meta.tables[MARKER].insert().values(
                release=release,
                published_at=datetime.now(UTC).isoformat(),
                policy_digest=policy_digest,
                tables=",".join(schema.names),
            )
        )
    return rows


def _previous_tables(conn: sa.Connection, existing: set[str]) -> set[str]:
    """Tables the previous release published (so a table removed since is dropped too)."""
    if MARKER not in existing:
        return set()
    rows = conn.execute(sa.text(f"SELECT tables FROM {MARKER}")).scalars()
    return {name for row in rows for name in (row or "").split(",") if name}


def published_release(engine: sa.Engine) -> int | None:
    """The release number the target holds, read from the target itself."""
    if MARKER not in sa.inspect(engine).get_table_names():
        return None
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.max(sa.column("release"))).select_from(sa.table(MARKER))).scalar()
