"""map_distinct: a conversion paid once per distinct value, with the result of converting each one."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from data_pipeline.distinct import map_distinct


def test_each_distinct_value_is_converted_once_and_nulls_stay_null() -> None:
    seen: list[object] = []

    def convert(value: object) -> str:
        seen.append(value)
        return f"<{value}>"

    values = pa.chunked_array([pa.array(["{a}", None, "{a}"]), pa.array(["{}", "{a}", None])])
    out = map_distinct(values, convert, pa.string())
    assert out.to_pylist() == ["<{a}>", None, "<{a}>", "<{}>", "<{a}>", None]
    assert sorted(seen) == ["{a}", "{}"]


def test_empty_and_all_null_columns_convert_nothing() -> None:
    def never(value: object) -> str:
        raise AssertionError(value)

    assert map_distinct(pa.array([], pa.string()), never, pa.string()).to_pylist() == []
    assert map_distinct(pa.array([None, None], pa.string()), never, pa.string()).to_pylist() == [None, None]


@given(st.lists(st.one_of(st.none(), st.text(max_size=4)), max_size=40), st.integers(1, 5))
def test_same_as_converting_every_value(values: list[str | None], chunks: int) -> None:
    size = max(1, len(values) // chunks)
    parts = [pa.array(values[i : i + size], pa.string()) for i in range(0, len(values), size)]
    column = pa.chunked_array(parts, pa.string())
    out = map_distinct(column, lambda v: None if v == "" else v[::-1] + "!", pa.string())
    assert out.to_pylist() == [None if v is None or v == "" else v[::-1] + "!" for v in values]
