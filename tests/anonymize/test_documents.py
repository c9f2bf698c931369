"""JSON documents in and out of text: orjson where 64 bits hold every number, Python's json (numbers as
Decimals) for the rest; every number comes back as it was written."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_pipeline.anonymize import documents

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: past 64 bits too
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
DOCS = st.recursive(SCALARS, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=12)


@given(st.lists(DOCS, max_size=5))
def test_every_document_comes_back_as_the_same_json(docs: list) -> None:
    texts = [json.dumps(d) for d in docs]
    parsed = documents.parse(texts)
    assert [json.loads(parsed.text(i)) for i in range(len(texts))] == [json.loads(t) for t in texts]


@pytest.mark.parametrize(
    "number",
    [
        "123456789012345678901234567890",
        "-18446744073709551617",
        "1.000000000000000001",  # a float would say 1.0
        "12345678901234.123456",
        "0.1000000000000000055511151231257827",
        "1e-400",  # a float would say 0.0
        "1E+400",  # orjson refuses it as infinity
        "NaN",
        "-Infinity",
    ],
)
def test_numbers_a_float_cannot_hold_keep_every_digit(number: str) -> None:
    text = documents.parse([f'{{"n": {number}, "s": "x"}}']).text(0)
    exact = json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=Decimal)
    assert str(exact["n"]) == str(Decimal(number)) and exact["s"] == "x"  # 1e-400 may come back 1E-400


def test_text_that_is_not_json_stays_text_and_documents_are_copied() -> None:
    given_doc = {"a": [1]}
    parsed = documents.parse(["not json {", given_doc, '"a JSON string"'])
    assert parsed.not_json == {0} and parsed.text(0) == "not json {"
    parsed.docs[1]["a"].append(2)
    assert given_doc == {"a": [1]}  # the raw frame's value is never changed in place
    assert parsed.docs[2] == "a JSON string" and parsed.text(2) == '"a JSON string"'
