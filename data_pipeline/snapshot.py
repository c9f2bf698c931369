"""A consistent snapshot: every table read inside ONE read transaction, streamed to raw checkpoints.

PostgreSQL reads at REPEATABLE READ (one MVCC snapshot for all tables); SQLite holds one read
transaction. Rows stream in chunks straight to Parquet, so memory stays bounded whatever the size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pandas as pd
import sqlalchemy as sa

from data_pipeline.checkpoint import BATCH_ROWS, CheckpointRef, CheckpointStore, new_batch
from data_pipeline.config import redact_url
from data_pipeline.schema import Schema, Table

Progress = Callable[[str, int], None]


def _chunks(conn: sa.Connection, sa_table: sa.Table, table: Table) -> Iterator[pd.DataFrame]:
    order = [sa_table.c[c] for c in table.primary_key] or list(sa_table.c)[:1]
    result = conn.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(
        sa.select(sa_table).order_by(*order)
    )
    columns = list(table.column_names)
    emitted = False
    for rows in result.partitions(BATCH_ROWS):
        emitted = True
        yield pd.DataFrame.from_records([tuple(row) for row in rows], columns=columns)
    if not emitted:
        yield pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def take_snapshot(
    engine: sa.Engine,
    schema: Schema,
    store: CheckpointStore,
    *,
    retention: timedelta,
    run_id: str | None = None,
    progress: Progress | None = None,
) -> dict[str, CheckpointRef]:
    """Read all tables in one transaction; one raw checkpoint per table."""
    meta = sa.MetaData()
    refs: dict[str, CheckpointRef] = {}
    batch = new_batch("snapshot")
    conn = engine.connect()
    if engine.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    try:
        with conn.begin():
            for table in schema.tables:
                sa_table = sa.Table(table.name, meta, autoload_with=conn, schema=table.schema)
                refs[table.name] = store.write(
                    table,
                    _chunks(conn, sa_table, table),
                    batch=batch,
                    retention=retention,
                    source=redact_url(str(engine.url)),
                    run_id=run_id,
                )
                if progress:
                    progress(table.name, refs[table.name].rows)
    finally:
        conn.close()
    return refs
