"""Fixtures of the anonymization tests (helpers live in anon_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from anon_helpers import GENERIC, KEY, anonymize, column, table

from data_pipeline.keys import AnonKey
from data_pipeline.schema import Schema


@pytest.fixture
def run_rule() -> Callable[..., pd.Series]:
    """Run one rule on one column of values through the engine: `run_rule('email', values)`."""

    def run(
        rule: str,
        values: Any,
        *,
        cls: str = "pii",
        generic: str | None = None,
        length: int | None = None,
        unique: bool = False,
        nullable: bool = True,
        scale: int | None = None,
        extra: dict[str, Any] | None = None,
        key: AnonKey = KEY,
        **options: Any,
    ) -> pd.Series:
        series = values if isinstance(values, pd.Series) else pd.Series(values)
        kind = generic or GENERIC.get(str(series.dtype), "string")
        others = dict(extra or {})
        columns = [column("v", kind, length=length, nullable=nullable, scale=scale)]
        columns += [column(n, GENERIC.get(str(pd.Series(v).dtype), "string")) for n, v in others.items()]
        extras = {n: pd.Series(v, index=series.index) for n, v in others.items()}
        frame = pd.DataFrame({"v": series, **extras})
        spec = table("t", *columns, unique=(("v",),) if unique else ())
        doc = {
            "tables": {
                "t": {
                    "columns": {
                        "v": {"class": cls, "rule": rule, **options},
                        **{n: {"class": "safe", "rule": "keep"} for n in others},
                    }
                }
            }
        }
        return anonymize(Schema((spec,)), doc, {"t": frame}, key=key)["t"]["v"]

    return run
