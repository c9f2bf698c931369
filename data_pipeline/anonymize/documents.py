"""JSON text in and out of documents, every number kept as it was written.

orjson reads and writes JSON several times faster than Python's json, but reads every number into
64 bits: an integer past them becomes a float, a decimal keeps about 15 significant digits, 1e-400
becomes 0. A PostgreSQL jsonb number is exact, so a document holding a longer number (16 digits in a
row, dots between them allowed, or a three-digit exponent: Arrow's RE2 finds them over the whole
column) is read by Python's json, its numbers as Decimals, and NaN and Infinity too, which orjson
refuses. orjson writes every document, a Decimal as its own digits.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

_LONG_NUMBER = r"(?:[0-9]\.?){16}|[eE][+-]?[0-9]{3}"  # what 64 bits may not hold exactly


@dataclass
class Documents:
    """Values parsed from JSON text, by position; `not_json` holds the positions of text that is not
    JSON (kept as the text itself)."""

    docs: list[Any]
    not_json: set[int] = field(default_factory=set)

    def text(self, i: int) -> Any:
        """Document `i` as JSON text again (compact); text that was not JSON as it is.

        >>> parse(['{"a": [1.000000000000000001, "é"]}', "plain"]).text(0)
        '{"a":[1.000000000000000001,"é"]}'
        """
        if i in self.not_json:
            return self.docs[i]
        return orjson.dumps(self.docs[i], default=_exact).decode()


def parse(values: list) -> Documents:
    """JSON text parsed; values that are not text (already documents) deep-copied, so the raw
    frame they came from is never changed in place."""
    text = pa.array([v if isinstance(v, str) else None for v in values], type=pa.string())
    long = pc.match_substring_regex(text, _LONG_NUMBER).to_pylist() if len(text) else []
    out = Documents([])
    for i, value in enumerate(values):
        if not isinstance(value, str):
            out.docs.append(copy.deepcopy(value))
            continue
        if not long[i]:
            try:
                out.docs.append(orjson.loads(value))
                continue
            except orjson.JSONDecodeError:
                pass
        try:
            out.docs.append(
                json.loads(value, parse_float=Decimal, parse_int=_integer, parse_constant=Decimal)
            )
        except ValueError:
            out.docs.append(value)
            out.not_json.add(i)
    return out


def _integer(digits: str) -> int | Decimal:
    return int(digits) if len(digits) < 19 else Decimal(digits)  # orjson writes 64-bit ints only


def _exact(value: Any) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))  # its own digits ('NaN' and 'Infinity' as Python writes them)
    raise TypeError(f"{type(value).__name__} is not JSON")
