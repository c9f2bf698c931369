"""Subsetting: a referentially complete slice of the source, chosen inside the snapshot transaction.

Start rows (a keyed share of a table's primary keys, or a SQL condition) are closed over the foreign
keys: downward, every row that references a chosen row belongs with it (a customer's orders, the
orders' items), transitively; upward, every row a kept row references is kept too (the items'
products, an employee's manager), transitively. Downward never starts from a row reached upward, so
a product does not pull in every order of it. Tables the closure never reaches are copied whole
(`other: copy`, rows whose references left the subset dropped) or emptied (`other: empty`).

The closure runs in the source database: one temporary key table per reached table, filled by
INSERT ... SELECT joins until nothing new arrives (self-references and cycles end there), so the
snapshot then reads only the chosen rows. The keyed share is the first 32 bits of
md5(salt || primary key as text) below the share, the salt derived from the policy key: the same key
picks the same rows on every run, another key picks others, and `random()` never decides.

    >>> SubsetSpec.parse(("customers=10%", "orders:total > 100"), None, None).describe()
    'customers=10% (keyed), orders WHERE total > 100; tables not reached: copied'
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from data_pipeline.errors import BadInput
from data_pipeline.schema import ForeignKey, Schema, Table

OTHER = ("copy", "empty")
_SHARE = re.compile(r"^\s*(?P<table>[^=:]+?)\s*=\s*(?P<pct>[0-9.]+)\s*%\s*$")
_WHERE = re.compile(r"^\s*(?P<table>[^=:]+?)\s*:\s*(?P<where>.+)$", re.S)


@dataclass(frozen=True)
class Start:
    """Where the closure starts: a keyed share of a table's rows, or a SQL condition on them."""

    table: str
    percent: float | None = None
    where: str | None = None

    def describe(self) -> str:
        if self.percent is not None:
            return f"{self.table}={self.percent:g}% (keyed)"
        return f"{self.table} WHERE {self.where}"


@dataclass(frozen=True)
class SubsetSpec:
    starts: tuple[Start, ...]
    other: str = "copy"

    def describe(self) -> str:
        kept = "copied" if self.other == "copy" else "emptied"
        return f"{', '.join(s.describe() for s in self.starts)}; tables not reached: {kept}"

    @staticmethod
    def parse(
        flags: tuple[str, ...], policy_doc: dict[str, Any] | None, other: str | None
    ) -> SubsetSpec | None:
        """`--subset` flags win over the policy's `subset:` section, table by table."""
        section = (policy_doc or {}).get("subset") or {}
        if not isinstance(section, dict):
            raise BadInput("policy `subset:` must be a mapping with `start:` (table: share or condition)")
        starts: dict[str, Start] = {}
        for table, value in (section.get("start") or {}).items():
            text = (
                f"{table}={value}" if re.fullmatch(r"\s*[0-9.]+\s*%\s*", str(value)) else f"{table}:{value}"
            )
            starts[str(table)] = _start(text, "policy subset.start")
        for flag in flags:
            start = _start(flag, "--subset")
            starts[start.table] = start
        other = other or section.get("other") or "copy"
        if other not in OTHER:
            raise BadInput(f"subset other must be one of {', '.join(OTHER)}, not {other!r}")
        return SubsetSpec(tuple(starts.values()), other) if starts else None

    def check(self, schema: Schema) -> None:
        """Every start table exists (with a primary key for a share), before anything is read."""
        for start in self.starts:
            if start.table not in schema.names:
                near = difflib.get_close_matches(start.table, schema.names, n=1)
                hint = f"; did you mean {near[0]}?" if near else ""
                raise BadInput(f"subset start table {start.table!r} is not in the source{hint}")
            if start.percent is not None and not schema.table(start.table).primary_key:
                raise BadInput(
                    f"subset {start.describe()}: {start.table} has no primary key to pick a keyed share by; "
                    f"use a condition instead: --subset '{start.table}:<SQL condition>'"
                )


def _start(text: str, where: str) -> Start:
    if match := _SHARE.match(text):
        percent = float(match["pct"])
        if not 0 < percent <= 100:
            raise BadInput(f"{where} {text!r}: the share must be above 0% and at most 100%")
        return Start(match["table"].strip(), percent=percent)
    if match := _WHERE.match(text):
        return Start(match["table"].strip(), where=match["where"].strip())
    raise BadInput(f"{where} {text!r}: write TABLE=N% or 'TABLE:SQL condition'")


@dataclass(frozen=True)
class Selection:
    """Per table: a SQL condition on its rows for the snapshot's read (None: every row), and how the
    table was reached (start, down, up, whole, filtered, empty)."""

    filters: dict[str, str | None] = field(default_factory=dict)
    how: dict[str, str] = field(default_factory=dict)
    chosen: dict[str, int] = field(default_factory=dict)  # rows in the key tables (reached tables)
    key_tables: tuple[str, ...] = ()

    def filter(self, table: str) -> str | None:
        return self.filters.get(table)

    def drop(self, conn: sa.Connection) -> None:
        """The key tables are temporary, but a pooled connection outlives the snapshot."""
        for key in self.key_tables:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {key}"))


def _share(engine_dialect: str, pk_text: str, salt_param: str) -> str:
    """The first 32 bits of md5(salt || key text), as an integer, in this dialect's SQL."""
    if engine_dialect == "postgresql":
        return f"('x' || substr(md5({salt_param} || {pk_text}), 1, 8))::bit(32)::bigint"
    return f"dp_subset_pick({salt_param} || {pk_text})"


def register_functions(dbapi_connection: object) -> None:
    """SQLite has no md5: the same function in Python, on this connection only."""
    dbapi_connection.create_function(  # type: ignore[attr-defined]
        "dp_subset_pick",
        1,
        lambda text: int(hashlib.md5(text.encode()).hexdigest()[:8], 16),
        deterministic=True,
    )


class _Sql:
    """Quoting and the key-table names for one connection."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self.q = conn.dialect.identifier_preparer

    def table(self, t: Table) -> str:
        name = self.q.quote(t.name)
        return f"{self.q.quote(t.schema)}.{name}" if t.schema else name

    def key_table(self, index: int) -> str:
        return f"_dp_subset_{index}"

    def cols(self, alias: str, columns: tuple[str, ...]) -> list[str]:
        return [f"{alias}.{self.q.quote(c)}" for c in columns]

    def text(self, alias: str, columns: tuple[str, ...]) -> str:
        parts = [
            f"CAST({c} AS {'text' if self.dialect == 'postgresql' else 'TEXT'})"
            for c in self.cols(alias, columns)
        ]
        return " || '|' || ".join(parts)

    def run(self, sql: str, **params: object) -> int:
        return self.conn.execute(sa.text(sql), params).rowcount or 0


def select(conn: sa.Connection, schema: Schema, spec: SubsetSpec, salt: str) -> Selection:
    """Fill the key tables of the closure on `conn` (the snapshot's transaction) and return the
    conditions the snapshot reads each table with."""
    spec.check(schema)
    sql = _Sql(conn)
    if sql.dialect == "sqlite":
        register_functions(conn.connection.dbapi_connection)
    tables = {t.name: t for t in schema.tables}
    edges = [(t, fk) for t in schema.tables for fk in t.foreign_keys if fk.ref_table in tables]
    starts = {s.table for s in spec.starts}
    down = _closure(starts, {(fk.ref_table, t.name) for t, fk in edges})
    up = _closure(down, {(t.name, fk.ref_table) for t, fk in edges}) - down
    reached = [t for t in schema.tables if t.name in down | up and t.primary_key]
    keys = {t.name: sql.key_table(i) for i, t in enumerate(reached)}
    for t in reached:
        key, pk = keys[t.name], ", ".join(sql.cols("t", t.primary_key))
        sql.run(f"CREATE TEMP TABLE {key} AS SELECT {pk}, 'down' AS dp_how FROM {sql.table(t)} t WHERE 1 = 0")
        sql.run(f"CREATE UNIQUE INDEX {key}_pk ON {key} ({', '.join(map(sql.q.quote, t.primary_key))})")

    def insert(t: Table, how: str, source: str, where: str) -> int:
        pk = sql.cols("t", t.primary_key)
        absent = " AND ".join(f"k.{sql.q.quote(c)} = {p}" for c, p in zip(t.primary_key, pk, strict=True))
        return sql.run(
            f"INSERT INTO {keys[t.name]} SELECT DISTINCT {', '.join(pk)}, '{how}' FROM {source} "
            f"WHERE ({where}) AND NOT EXISTS (SELECT 1 FROM {keys[t.name]} k WHERE {absent})",
            salt=salt,
        )

    unkeyed: dict[str, str] = {}  # start tables without a primary key: read through their condition
    for start in spec.starts:
        t = tables[start.table]
        if start.percent is not None:
            threshold = int(start.percent / 100 * 2**32)
            where = f"{_share(sql.dialect, sql.text('t', t.primary_key), ':salt')} < {threshold}"
        else:
            where = start.where or "1 = 1"
        if t.name in keys:
            insert(t, "down", f"{sql.table(t)} t", where)
        else:
            unkeyed[t.name] = f"({(start.where or '1 = 1')})"

    def member(alias: str, t: Table, how: str | None = None) -> str:
        match = " AND ".join(f"k.{sql.q.quote(c)} = {alias}.{sql.q.quote(c)}" for c in t.primary_key)
        extra = f" AND k.dp_how = '{how}'" if how else ""
        return f"EXISTS (SELECT 1 FROM {keys[t.name]} k WHERE {match}{extra})"

    # downward: rows referencing a row chosen (or reached downward) belong with it
    changed = True
    while changed:
        changed = False
        for child, fk in edges:
            parent = tables[fk.ref_table]
            if child.name in down and child.name in keys and parent.name in keys:
                source = f"{sql.table(child)} t JOIN {sql.table(parent)} p ON {_on('t', 'p', fk, sql)}"
                changed |= insert(child, "down", source, member("p", parent, "down")) > 0
    # upward: every row a kept row references is kept
    changed = True
    while changed:
        changed = False
        for child, fk in edges:
            parent = tables[fk.ref_table]
            if child.name in keys and parent.name in keys:
                source = f"{sql.table(parent)} t JOIN {sql.table(child)} c ON {_on('c', 't', fk, sql)}"
                changed |= insert(parent, "up", source, member("c", child)) > 0

    filters: dict[str, str | None] = {}
    how: dict[str, str] = {}
    for t in schema.tables:
        if t.name in keys:
            filters[t.name] = member(sql.table(t), t)
            how[t.name] = "start" if t.name in starts else ("down" if t.name in down else "up")
            continue
        if spec.other == "empty" and t.name not in unkeyed:
            filters[t.name], how[t.name] = "1 = 0", "empty"
            continue
        kept = [
            _resolves(sql, t, fk, tables[fk.ref_table], keys[fk.ref_table])
            for fk in t.foreign_keys
            if fk.ref_table in keys
        ]
        if t.name in unkeyed:
            filters[t.name], how[t.name] = " AND ".join([unkeyed[t.name], *kept]), "start"
            continue
        filters[t.name] = " AND ".join(kept) or None
        how[t.name] = "filtered" if kept else "whole"
    chosen = {
        name: int(conn.execute(sa.text(f"SELECT count(*) FROM {key}")).scalar() or 0)
        for name, key in keys.items()
    }
    return Selection(filters, how, chosen, tuple(keys.values()))


def _on(child: str, parent: str, fk: ForeignKey, sql: _Sql) -> str:
    return " AND ".join(
        f"{child}.{sql.q.quote(a)} = {parent}.{sql.q.quote(b)}"
        for a, b in zip(fk.columns, fk.ref_columns, strict=True)
    )


def _resolves(sql: _Sql, t: Table, fk: ForeignKey, parent: Table, key_table: str) -> str:
    """A row of a table copied whole keeps a reference into the subset only if it resolves there."""
    me = sql.table(t)
    nulls = " OR ".join(f"{me}.{sql.q.quote(c)} IS NULL" for c in fk.columns)
    match = " AND ".join(
        f"p.{sql.q.quote(b)} = {me}.{sql.q.quote(a)}" for a, b in zip(fk.columns, fk.ref_columns, strict=True)
    )
    inside = " AND ".join(f"k.{sql.q.quote(c)} = p.{sql.q.quote(c)}" for c in parent.primary_key)
    return (
        f"({nulls} OR EXISTS (SELECT 1 FROM {sql.table(parent)} p JOIN {key_table} k ON {inside} "
        f"WHERE {match}))"
    )


def _closure(start: set[str], edges: set[tuple[str, str]]) -> set[str]:
    seen, todo = set(start), list(start)
    while todo:
        node = todo.pop()
        for a, b in edges:
            if a == node and b not in seen:
                seen.add(b)
                todo.append(b)
    return seen
