"""Rows into a table: the CSV a release's COPY sends is the text Arrow writes for each value."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa

from data_pipeline import load
from data_pipeline.schema import Column, Table

UNITS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


@pytest.mark.parametrize("unit", UNITS)
def test_zoned_timestamps_are_written_as_arrow_writes_them(unit: str) -> None:
    """A checkpoint's timestamptz is UTC; its text is made from the wall time (fast), unchanged."""
    nanos = [0, None, 1_700_000_000_123_456_789, -34_560_000_000_000_000, 9_000_000_000_000_000_000]
    stamps = pa.chunked_array([pa.array([n if n is None else n // UNITS[unit] for n in nanos])])
    zoned = stamps.cast(pa.timestamp(unit, tz="UTC"))
    assert load.utc_text(zoned).equals(pc.cast(zoned, pa.string()))


def test_zoned_timestamps_and_text_arrive_in_postgresql_as_they_left(pg_url: str) -> None:
    """Through a real COPY: instants to the microsecond, NULL apart from '', commas and quotes."""
    at = [1_700_000_000_123_456, None, 0, -34_560_000_000_000]
    batch = pa.table(
        {
            "id": pa.array([1, 2, 3, 4], pa.int64()),
            "at": pa.array(at, pa.timestamp("us", tz="UTC")),
            "note": pa.array(['a,"b"', None, "", "x\ny"]),
        }
    )
    columns = (
        Column("id", "BIGINT", "integer", False, primary_key=True),
        Column("at", "TIMESTAMP WITH TIME ZONE", "datetime", True, timezone=True),
        Column("note", "TEXT", "string", True),
    )
    table = Table("t", columns, ("id",), (), (), dialect="postgresql")
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("SET TimeZone = 'America/St_Johns'")  # the session's zone must not matter
        conn.exec_driver_sql("CREATE TABLE t (id bigint PRIMARY KEY, at timestamptz, note text)")
        assert load.copy(conn, "t", [batch], table, native=True) == 4
        rows = conn.exec_driver_sql(
            "SELECT id, (extract(epoch FROM at) * 1000000)::bigint, note FROM t ORDER BY id"
        ).all()
    assert rows == [(1, at[0], 'a,"b"'), (2, None, None), (3, 0, ""), (4, at[3], "x\ny")]
