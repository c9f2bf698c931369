"""Errors raised while raw values are in hand leave as type, table and column: never the value, in
the message or anywhere in the chain Dagster would store."""

from __future__ import annotations

import traceback

import pytest

from data_pipeline.errors import BadInput
from data_pipeline.scrub import RawValueError, scrubbed

SECRET = "ann.lee@example.com"


def test_a_foreign_error_leaves_as_type_table_and_column_only() -> None:
    with pytest.raises(RawValueError) as caught, scrubbed("anonymize", "customers", "email", "date_shift"):
        try:
            raise KeyError(SECRET)
        except KeyError as inner:
            raise ValueError(f"unable to parse: {SECRET}") from inner
    message = str(caught.value)
    assert "customers.email" in message and "date_shift" in message and "ValueError" in message
    rendered = "".join(traceback.format_exception(caught.value))
    assert SECRET not in rendered
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert caught.value.exit_code == 2


def test_our_own_errors_pass_unchanged() -> None:
    with pytest.raises(BadInput, match="no such table"), scrubbed("snapshot", "customers"):
        raise BadInput("no such table")
