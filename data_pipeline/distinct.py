"""Python conversions of Arrow values, paid once per distinct value.

Columns that need a conversion in Python (arrays, intervals, addresses: the types Arrow does not
parse or write) repeat their values in most tables, and the conversion costs far more than finding
the distinct values.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc


def map_distinct(
    values: pa.Array | pa.ChunkedArray, convert: Callable[[object], object], type: pa.DataType
) -> pa.Array:
    """`convert` over the non-NULL values, called once per distinct one; NULL stays NULL.

    >>> map_distinct(pa.array(["{a}", None, "{a}", "{}"]), len, pa.int64()).to_pylist()
    [3, None, 3, 2]
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    converted = pa.array([convert(v) for v in encoded.dictionary.to_pylist()], type)
    return converted.take(encoded.indices)
