"""Helpers of the anonymization tests: a fixed key, tiny schemas, and the real engine over them."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from data_pipeline.anonymize.engine import TableAnonymizer
from data_pipeline.anonymize.hashing import digit_matrix, keyed_hash, mix
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
    scale: int | None = None,
) -> Column:
    sql = {
        "string": f"VARCHAR({length})" if length else "TEXT",
        "integer": "INTEGER",
        "date": "DATE",
        "datetime": "DATETIME",
        "float": "FLOAT",
        "numeric": "NUMERIC" if scale is None else f"NUMERIC(30, {scale})",
    }.get(generic, generic.upper())
    precision = None if scale is None else 30
    return Column(name, sql, generic, nullable and not primary_key, length, primary_key, precision, scale)


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


def reference_phone(template: str, national: str, hash_key: str, redraw: bool = False) -> str:
    """What fake_phones must write: '#' marks the national digits; the k-th becomes digit k of the
    keyed digit matrix of the national number's hash (the first never 0)."""
    h = keyed_hash(pa.array([national]), hash_key)
    h = mix(h, 1) if redraw else h
    digits = digit_matrix(h, max(len(national), 1), 10)[0, : len(national)].copy()
    if len(digits):
        digits[0] = 1 + digits[0] % 9
    fake = iter(str(d) for d in digits)
    return "".join(next(fake) if c == "#" else c for c in template)


def national_positions(number: str) -> list[int]:
    """The national digits of a phone number, by the rules fake_phones documents, in plain Python."""
    kept_to, trunk = 0, -1
    if number.startswith("+"):
        kept_to = 1
        while kept_to < len(number) and kept_to <= 3 and number[kept_to].isdigit():
            kept_to += 1
    elif number.startswith("0"):
        trunk = 0
    elif number.startswith("(0"):
        trunk = 1
    return [
        i
        for i in range(kept_to, len(number))
        if number[i] in "0123456789"
        and i != trunk
        and not (number[i] == "0" and 0 < i < len(number) - 1 and number[i - 1 : i + 2] == "(0)")
    ]
