"""Rules that keep, drop or coarsen values without a keyed mapping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from data_pipeline.anonymize.hashing import as_series, text_array
from data_pipeline.anonymize.registry import NUMBER, STRING, RuleContext, register


@register("keep", classes=("key", "safe", "quasi"), unique_safe=True)
def keep(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """The value unchanged: for keys and safe data, and for quasi-identifiers that the blocking
    k-anonymity check measures (gender, country); never for pii."""
    return values


@register("null", unique_safe=True, generates=True)
def null(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Drops the value (NULLs never collide, so a unique column stays unique)."""
    return pd.Series(np.full(len(values), None, dtype=object), index=values.index)


@register("constant", options={"value": object}, required=("value",), generates=True)
def constant(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """The same value for every row."""
    out = np.empty(len(values), dtype=object)
    out.fill(ctx.options["value"])  # fill, not np.full: a list value stays one value
    return pd.Series(out, index=values.index)


def _positive(name: str, default: float | None = None):
    def validate(options: dict) -> list[str]:
        value = options.get(name, default)
        return [] if value is None or value > 0 else [f"`{name}` must be greater than 0"]

    return validate


@register(
    "generalize_number",
    options={"bucket": (int, float)},
    required=("bucket",),
    types=NUMBER,
    validate=_positive("bucket"),
    per_value=True,
)
def generalize_number(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Floors numbers to buckets: 53,200 with bucket 10,000 becomes 50,000."""
    bucket = ctx.options["bucket"]
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    floored = np.floor(numbers / bucket) * bucket
    if ctx.column.generic == "integer" and floored.notna().all():
        return floored.astype("int64")
    return floored


@register(
    "generalize_postal",
    options={"keep": int},
    classes=("pii", "quasi"),
    types=STRING,
    validate=_positive("keep", 2),
    per_value=True,
)
def generalize_postal(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Keeps the first N characters of a postal code (default 2): an area, not an address."""
    text = text_array(values)
    return as_series(pc.utf8_slice_codeunits(text, 0, int(ctx.options.get("keep", 2))), values)
