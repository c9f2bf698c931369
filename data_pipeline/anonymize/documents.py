"""JSON text in and out of documents, fast where that is exact.

orjson reads and writes JSON several times faster than Python's json, but it reads an integer past
64 bits as a float (its last digits lost) and refuses NaN and Infinity, which Python's json reads. So
orjson reads every document it reads exactly; Python's json reads the others (a run of 20 digits
sends a document there before orjson can round it) and writes them back, NaN and all.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

_LONG_INTEGER = "[0-9]{20}"  # the shortest integer that may not fit 64 bits


@dataclass
class Documents:
    """Values parsed from JSON text, by position; `not_json` and `python` hold positions."""

    docs: list[Any]
    not_json: set[int] = field(default_factory=set)  # text that is not JSON: the text itself
    python: set[int] = field(default_factory=set)  # read (and written back) by Python's json

    def text(self, i: int) -> Any:
        """Document `i` as JSON text again; text that was not JSON as it is.

        >>> parse(['{"a": [1, "é"]}', "plain"]).text(0), parse(["plain"]).text(0)
        ('{"a":[1,"é"]}', 'plain')
        """
        doc = self.docs[i]
        if i in self.not_json:
            return doc
        if i in self.python:
            return json.dumps(doc, ensure_ascii=False)
        try:
            return orjson.dumps(doc).decode()
        except TypeError:  # a value a rule put in that orjson does not know
            return json.dumps(doc, ensure_ascii=False)


def parse(values: list) -> Documents:
    """JSON text parsed; values that are not text (already documents) deep-copied, so the raw
    frame they came from is never changed in place."""
    text = pa.array([v if isinstance(v, str) else None for v in values], type=pa.string())
    long = pc.match_substring_regex(text, _LONG_INTEGER).to_pylist() if len(text) else []
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
            out.docs.append(json.loads(value))
            out.python.add(i)
        except ValueError:
            out.docs.append(value)
            out.not_json.add(i)
    return out
