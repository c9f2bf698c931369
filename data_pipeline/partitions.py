"""Big tables are anonymized in parts: contiguous key ranges of their snapshot, one Dagster partition
each, so parts run in parallel (one run per partition) and a failed part is re-run on its own.

A table is partitioned when its estimated row count (PostgreSQL: pg_class.reltuples, others:
count(*)) exceeds DP_PARTITION_ROWS (0: never). Dagster runs one partitions definition per job, so
every partitioned table shares the same N = ceil(largest estimate / DP_PARTITION_ROWS) parts and no
part holds more than DP_PARTITION_ROWS rows (by estimate). The snapshot stays one consistent,
unpartitioned read in primary-key order; part i is the i-th of N contiguous row slices of it, cut
on the snapshot's actual row count, so the parts always cover every row exactly once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sqlalchemy as sa

from data_pipeline.schema import Schema, Table

PART_PREFIX = "rows-"


@dataclass(frozen=True)
class Part:
    """Part `index` of `count`: rows [start, stop) of the snapshot, in primary-key order."""

    index: int
    count: int

    @property
    def key(self) -> str:
        return part_key(self.index, self.count)

    def bounds(self, rows: int) -> tuple[int, int]:
        return rows * self.index // self.count, rows * (self.index + 1) // self.count

    def manifest_extra(self, rows: int) -> dict[str, str | int]:
        """What a part's manifest records: which part, of how many, and its rows of the snapshot."""
        start, stop = self.bounds(rows)
        return {"part": self.key, "parts": self.count, "start": start, "stop": stop}

    @classmethod
    def from_key(cls, key: str, count: int) -> Part:
        return cls(int(key.removeprefix(PART_PREFIX)), count)


def part_key(index: int, count: int) -> str:
    return f"{PART_PREFIX}{index:0{max(3, len(str(count - 1)))}d}"


def part_keys(count: int) -> list[str]:
    return [part_key(i, count) for i in range(count)]


@dataclass(frozen=True)
class Partitioning:
    """Which tables are anonymized in parts, and into how many (the same for all)."""

    count: int = 1
    tables: tuple[str, ...] = ()

    def __contains__(self, table: object) -> bool:
        return table in self.tables

    @property
    def keys(self) -> list[str]:
        return part_keys(self.count) if self.tables else []


def estimate_rows(conn: sa.Connection, table: Table) -> int:
    """Cheap: PostgreSQL's planner estimate (count(*) if the table was never analyzed)."""
    if conn.dialect.name == "postgresql":
        name = f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
        estimate = conn.execute(
            sa.text("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(:name)"), {"name": name}
        ).scalar()
        if estimate is not None and estimate >= 0:
            return int(estimate)
    sa_table = sa.table(table.name, schema=table.schema)
    return int(conn.execute(sa.select(sa.func.count()).select_from(sa_table)).scalar() or 0)


def plan_partitions(engine: sa.Engine, schema: Schema, partition_rows: int) -> Partitioning:
    """Tables above `partition_rows` (estimated), and the part count they share."""
    if partition_rows <= 0:
        return Partitioning()
    with engine.connect() as conn:
        return layout({t.name: estimate_rows(conn, t) for t in schema.tables}, partition_rows)


def layout(estimates: dict[str, int], partition_rows: int) -> Partitioning:
    """Tables estimated above `partition_rows`, and the part count they share (0: never)."""
    if partition_rows <= 0:
        return Partitioning()
    big = {t: n for t, n in estimates.items() if n > partition_rows}
    if not big:
        return Partitioning()
    return Partitioning(math.ceil(max(big.values()) / partition_rows), tuple(sorted(big)))
