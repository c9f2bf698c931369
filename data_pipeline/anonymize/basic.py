"""Rules that keep, drop or coarsen values without a keyed mapping."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_pipeline.anonymize.registry import NUMBER, STRING, RuleContext, register


@register("keep", classes=("key", "safe", "quasi"), unique_safe=True)
def keep(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """The value unchanged: only for keys, safe data and quasi-identifiers."""
    return values


@register("null")
def null(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Drops the value."""
    return pd.Series([None] * len(values), index=values.index, dtype=object)


@register("constant", options={"value": object}, required=("value",))
def constant(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """The same value for every row."""
    return pd.Series([ctx.options["value"]] * len(values), index=values.index, dtype=object)


@register("generalize_number", options={"bucket": (int, float)}, required=("bucket",), types=NUMBER)
def generalize_number(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Floors numbers to buckets: 53,200 with bucket 10,000 becomes 50,000."""
    bucket = ctx.options["bucket"]
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    floored = np.floor(numbers / bucket) * bucket
    if ctx.column.generic == "integer":
        return floored.astype("int64")
    return floored


@register("generalize_postal", options={"keep": int}, classes=("pii", "quasi"), types=STRING)
def generalize_postal(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Keeps the first N characters of a postal code (default 2): an area, not an address."""
    return values.astype(str).str.slice(0, int(ctx.options.get("keep", 2)))
