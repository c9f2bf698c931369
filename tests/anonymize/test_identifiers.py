"""Tokens, card numbers, IBANs and masks: keyed, checksum-valid, never real, in the original's layout."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from support import luhn_check_digit

from data_pipeline.checksums import iban_check_digits, iban_valid, luhn_valid
from data_pipeline.errors import BadInput


def _card(payload: str) -> str:
    return payload + luhn_check_digit(payload)


def _iban(country: str, bban: str) -> str:
    return country + iban_check_digits(country, bban) + bban


def _spaced(value: str) -> str:
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def test_token_is_unique_on_a_million_distinct_values(run_rule) -> None:
    values = pd.Series([f"K-{i:07d}" for i in range(1_000_000)], dtype="str")
    out = run_rule("token", values, unique=True, prefix="id_")
    assert out.is_unique and out.str.fullmatch(r"id_[0-9a-z]{13}").all()


def test_token_on_an_integer_column_is_a_positive_integer(run_rule) -> None:
    out = run_rule("token", pd.Series([1, 2, 3, 1]), cls="key")
    assert out.dtype == "int64" and (out > 0).all() and out[0] == out[3] and out[:3].is_unique


def test_card_numbers_are_luhn_valid_start_with_9_and_keep_the_layout(run_rule) -> None:
    plain = _card("411111111111111")
    values = pd.Series([plain, _spaced(plain), _card("5500000000000004"[:15]), "3782-822463-10005"])
    out = run_rule("card_number", values)
    for original, fake in zip(values, out, strict=True):
        assert luhn_valid(fake) and fake.replace(" ", "").replace("-", "").startswith("9")
        assert re.sub(r"\d", "#", original) == re.sub(r"\d", "#", fake)
    assert out[1].replace(" ", "") == out[0]  # spaced and plain: the same card, the same fake


def test_card_number_is_not_allowed_on_a_unique_column(run_rule) -> None:
    with pytest.raises(BadInput, match="UNIQUE/PRIMARY KEY but rule `card_number`"):
        run_rule("card_number", pd.Series([_card("411111111111111")]), unique=True)


def test_ibans_are_valid_same_country_and_shape(run_rule) -> None:
    de = _iban("DE", "370400440532013000")
    gb = _iban("GB", "NWBK60161331926819")
    fr = _iban("FR", "2004101005050001300060" + "6")
    values = pd.Series([de, _spaced(de), gb, _spaced(fr), de.lower()])
    out = run_rule("iban", values)
    for original, fake in zip(values, out, strict=True):
        assert iban_valid(fake) and fake != original
        assert fake[:2] == original[:2].upper() and len(fake) == len(original)
        shape = [("L" if c.isalpha() else "D" if c.isdigit() else c) for c in original]
        assert [("L" if c.isalpha() else "D" if c.isdigit() else c) for c in fake] == shape
    assert out[1].replace(" ", "") == out[0] and out[4] == out[0]  # layout and case do not matter


def test_mask_keeps_only_the_last_characters(run_rule) -> None:
    out = run_rule("mask", pd.Series(["4111111111111111", "abc", "12345", "Zoë-Müller"]), keep_last=4)
    assert out.tolist() == ["************1111", "***", "*2345", "******ller"]
    assert run_rule("mask", pd.Series(["secret"]), keep_last=0).tolist() == ["******"]
