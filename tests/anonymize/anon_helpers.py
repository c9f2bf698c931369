"""Helpers of the anonymization tests: a fixed key, tiny schemas, and the real engine over them."""

from __future__ import annotations

from typing import Any

import pandas as pd

from data_pipeline.anonymize.engine import TableAnonymizer
from data_pipeline.anonymize.pools import Pools
from data_pipeline.keys import AnonKey
from data_pipeline.policy import resolve
from data_pipeline.schema import Column, ForeignKey, Schema, Table

SECRET = b"test-secret-key-0123456789abcdef"
KEY = AnonKey(SECRET)
OTHER_KEY = AnonKey(b"another-secret-key-0123456789xyz")

GENERIC = {"int64": "integer", "Int64": "integer", "float64": "float", "datetime64[us]": "datetime"}


def column(
    name: str,
    generic: str = "string",
    *,
    length: int | None = None,
    nullable: bool = True,
    primary_key: bool = False,
) -> Column:
    sql = {
        "string": f"VARCHAR({length})" if length else "TEXT",
        "integer": "INTEGER",
        "date": "DATE",
        "datetime": "DATETIME",
        "float": "FLOAT",
    }.get(generic, generic.upper())
    return Column(name, sql, generic, nullable and not primary_key, length, primary_key)


def table(
    name: str, *columns: Column, fks: tuple[ForeignKey, ...] = (), unique: tuple[tuple[str, ...], ...] = ()
) -> Table:
    pk = tuple(c.name for c in columns if c.primary_key)
    return Table(name, columns, pk, fks, unique)


def anonymize(
    schema: Schema,
    doc: dict[str, Any],
    frames: dict[str, pd.DataFrame],
    *,
    key: AnonKey = KEY,
    chunk: int | None = None,
) -> dict[str, pd.DataFrame]:
    """Resolve `doc` against `schema` and run the engine over every table (optionally in chunks)."""
    policy = resolve(schema, {"version": 1, "locale": "en_US", **doc})
    out = {}
    for spec in schema.tables:
        engine = TableAnonymizer(spec, policy.for_table(spec.name), key, Pools(policy.locale))
        frame = frames[spec.name]
        size = chunk or max(len(frame), 1)
        parts = [engine(frame.iloc[i : i + size]) for i in range(0, max(len(frame), 1), size)]
        out[spec.name] = pd.concat(parts)
    return out
