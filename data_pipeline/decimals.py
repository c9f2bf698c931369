"""NUMERIC values as exact decimal text, the form checkpoints keep them in.

A float holds about 15 significant digits; a NUMERIC holds many more (money at scale, 20-digit
identifiers), and its NaN is a value, not NULL. So a NUMERIC travels as the text the database wrote
('12345678901234.123456', 'NaN') from snapshot to publish, and a rule that computes on it
(generalize_number) reads numbers and hands back numbers that are written at the column's scale.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# what PostgreSQL's numeric_in and SQLite's NUMERIC affinity read as a number
_NUMBER = r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$|^\s*[+-]?(?:nan|inf|infinity)\s*$"


def decimal_text(values: pd.Series, scale: int | None = None) -> pd.Series:
    """Numbers (Decimals, ints, floats) as decimal text, floats at `scale` digits when given; text
    as it is. A float NaN is NULL, as everywhere in pandas; a Decimal NaN stays NaN.

    >>> decimal_text(pd.Series([Decimal("12345678901234.123456"), 5, None, Decimal("NaN")])).tolist()
    ['12345678901234.123456', '5', nan, 'NaN']
    >>> decimal_text(pd.Series([50000.0, float("nan")]), scale=2).tolist()
    ['50000.00', None]
    """
    if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
        return values  # text already: a NUMERIC read from a checkpoint
    if pd.api.types.is_float_dtype(values.dtype) and scale is not None:
        text = [None if v != v else f"{v:.{scale}f}" for v in values.tolist()]
        return pd.Series(text, index=values.index, dtype=object)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        text = pc.cast(pa.array(values, from_pandas=True), pa.string())
        return pd.Series(text.to_pandas().array, index=values.index)
    return values.astype(object).map(scalar_text)


def canonical(values: pd.Series) -> pd.Series:
    """One text per number whatever its scale or type, so keys compare as the database compares them:
    a NUMERIC(12, 0) or an integer column may reference a NUMERIC(12, 2) key.

    >>> canonical(pd.Series(["5.00", "6.50", "-0.0", "500"])).tolist(), canonical(pd.Series([5, 7])).tolist()
    (['5', '6.5', '0', '500'], ['5', '7'])
    """
    text = pa.array(decimal_text(values), type=pa.string(), from_pandas=True)
    text = pc.replace_substring_regex(text, r"(\.[0-9]*?)0+$", r"\1")  # trailing zeros of a fraction
    text = pc.replace_substring_regex(text, r"\.$", "")
    text = pc.replace_substring_regex(text, r"^-0$", "0")
    return pd.Series(text.to_pandas().array, index=values.index)


def scalar_text(value: object) -> str | None:
    """A value as text (a Decimal, UUID, int...); NULL (None, pandas' NaN) stays NULL."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value != value:
        return None
    return str(value)


def all_numbers(text: pd.Series) -> bool:
    """Whether every non-NULL value of decimal text reads as a number (NaN and infinities too).

    >>> all_numbers(pd.Series(["1.50", "-2e3", None, "NaN"])), all_numbers(pd.Series(["12 EUR"]))
    (True, False)
    """
    numbers = pc.match_substring_regex(
        pa.array(text, type=pa.string(), from_pandas=True), _NUMBER, ignore_case=True
    )
    return bool(pc.all(numbers).as_py() in (True, None))
