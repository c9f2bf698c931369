"""keep, null, constant and the generalizations of numbers and postal codes."""

from __future__ import annotations

import pandas as pd
import pytest

from data_pipeline.errors import BadInput


def test_keep_is_refused_for_personal_data(run_rule) -> None:
    with pytest.raises(BadInput, match="`keep` is not allowed for class `pii`"):
        run_rule("keep", pd.Series(["Ann"]))
    assert run_rule("keep", pd.Series(["F", "M"]), cls="quasi").tolist() == ["F", "M"]


def test_null_and_constant(run_rule) -> None:
    assert run_rule("null", pd.Series(["a", "b"]), unique=True).isna().all()  # NULLs never collide
    with pytest.raises(BadInput, match="rule `null` on a NOT NULL column"):
        run_rule("null", pd.Series(["a"]), nullable=False)
    assert run_rule("constant", pd.Series(["a", None]), value="x").tolist()[0] == "x"


def test_generalize_number_floors_to_buckets(run_rule) -> None:
    out = run_rule("generalize_number", pd.Series([53_200.5, 9_999.0, None]), bucket=10_000)
    assert out[0] == 50_000 and out[1] == 0 and pd.isna(out[2])
    ints = run_rule(
        "generalize_number", pd.Series([17, 23, None], dtype="Int64"), generic="integer", bucket=5
    )
    assert ints.tolist()[:2] == [15, 20]
    with pytest.raises(BadInput, match="`bucket` must be greater than 0"):
        run_rule("generalize_number", pd.Series([1.0]), bucket=0)
    with pytest.raises(BadInput, match="must be"):
        run_rule("generalize_number", pd.Series([1.0]), bucket=True)


def test_generalize_postal_keeps_an_area(run_rule) -> None:
    out = run_rule("generalize_postal", pd.Series(["SW1A 1AA", "10115", None]), cls="quasi", keep=3)
    assert out.tolist()[:2] == ["SW1", "101"] and pd.isna(out[2])
