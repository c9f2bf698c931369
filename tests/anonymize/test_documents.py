"""JSON documents in and out of text: orjson where it is exact, Python's json for the rest."""

from __future__ import annotations

import json

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
    assert parsed.docs == [json.loads(t) for t in texts]
    assert [json.loads(parsed.text(i)) for i in range(len(texts))] == [json.loads(t) for t in texts]


def test_integers_past_64_bits_keep_every_digit() -> None:
    parsed = documents.parse(['{"id": 123456789012345678901234567890, "n": -18446744073709551617}'])
    assert parsed.text(0) == '{"id": 123456789012345678901234567890, "n": -18446744073709551617}'


def test_nan_and_infinity_are_read_and_written_back_by_python() -> None:
    parsed = documents.parse(['{"x": NaN, "y": [Infinity, -Infinity]}'])
    assert parsed.python == {0}
    assert parsed.text(0) == '{"x": NaN, "y": [Infinity, -Infinity]}'  # never null


def test_text_that_is_not_json_stays_text_and_documents_are_copied() -> None:
    given_doc = {"a": [1]}
    parsed = documents.parse(["not json {", given_doc, '"a JSON string"'])
    assert parsed.not_json == {0} and parsed.text(0) == "not json {"
    parsed.docs[1]["a"].append(2)
    assert given_doc == {"a": [1]}  # the raw frame's value is never changed in place
    assert parsed.docs[2] == "a JSON string" and parsed.text(2) == '"a JSON string"'
