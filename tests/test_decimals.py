"""NUMERIC values as exact decimal text: what checkpoints hold instead of floats."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from data_pipeline.decimals import all_numbers, canonical, decimal_text


def test_decimals_keep_every_digit_and_their_nan() -> None:
    values = pd.Series(
        [Decimal("12345678901234.123456"), Decimal("98765432109876543210"), Decimal("NaN"), None]
    )
    assert decimal_text(values).tolist()[:3] == ["12345678901234.123456", "98765432109876543210", "NaN"]
    assert pd.isna(decimal_text(values)[3])


def test_floats_are_written_at_the_column_scale_and_their_nan_is_null() -> None:
    assert decimal_text(pd.Series([50000.0, 0.125, float("nan")]), scale=2).tolist() == [
        "50000.00",
        "0.12",
        None,
    ]
    assert decimal_text(pd.Series([2.5, 1e20])).tolist() == ["2.5", "1e+20"]
    assert decimal_text(pd.Series([1, None], dtype="Int64")).tolist()[0] == "1"


def test_text_is_left_as_it_is() -> None:
    text = pd.Series(["1.50", None], dtype="str")
    assert decimal_text(text) is text


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1.50", "-2e3", ".5", "7.", " 3 ", None], True),
        (["NaN", "Infinity", "-inf"], True),
        ([None, None], True),
        (["12 EUR"], False),
        (["1,5"], False),
        ([""], False),
    ],
)
def test_all_numbers_reads_what_the_database_reads_as_a_number(values: list, expected: bool) -> None:
    assert all_numbers(pd.Series(values, dtype=object)) is expected


def test_canonical_keys_are_one_text_per_number_whatever_the_scale_or_type() -> None:
    assert canonical(pd.Series(["5.00", "6.50", "-0.0", "500", "0.000100"])).tolist() == [
        "5",
        "6.5",
        "0",
        "500",
        "0.0001",
    ]
    assert canonical(pd.Series([5, 7])).tolist() == ["5", "7"]  # an integer column referencing NUMERIC
    assert canonical(pd.Series(["12.30", "NaN", None], dtype=object)).tolist()[:2] == ["12.3", "NaN"]
