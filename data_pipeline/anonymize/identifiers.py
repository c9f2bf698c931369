"""Identifier rules: keyed tokens, checksum-valid card numbers and IBANs, masks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_pipeline.anonymize.hashing import base36, digit_matrix, mix
from data_pipeline.anonymize.registry import STRING, RuleContext, register

CARD_PREFIX = "9"  # ISO/IEC 7812 major industry identifier 9 (national use): never an issued card


def _series(values: np.ndarray, like: pd.Series) -> pd.Series:
    return pd.Series(values, index=like.index, dtype=object)


def _digits_text(matrix: np.ndarray) -> np.ndarray:
    """(n, w) digits 0-9 -> object array of w-character strings."""
    return (matrix + 48).astype(np.uint8).view(f"S{matrix.shape[1]}").ravel().astype(str).astype(object)


def luhn_check_digit(body: np.ndarray) -> np.ndarray:
    """Check digits for (n, w) digit rows: appending them makes each row Luhn-valid."""
    doubled = body[:, ::-1].astype(np.int64)
    doubled[:, ::2] *= 2
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    return (10 - doubled.sum(axis=1) % 10) % 10


@register("token", options={"prefix": str}, classes=("pii", "key", "quasi"), identifying=True,
          unique_safe=True)
def token(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """A keyed token: prefix + 13 base-36 chars of text, or a positive 63-bit integer."""
    h = ctx.hash(values)
    if ctx.column.generic == "integer":
        return pd.Series((h >> np.uint64(1)).astype(np.int64), index=values.index)
    return _series(ctx.options.get("prefix", "") + base36(h, 13), values)


@register("card_number", classes=("pii",), types=STRING, identifying=True, unique_safe=False)
def card_number(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """16 digits starting with 9, Luhn-valid, keyed: the format of a card, never a real one."""
    h = ctx.hash(values)
    body = np.concatenate(
        [np.full((len(h), 1), int(CARD_PREFIX), dtype=np.uint8), digit_matrix(h, 14)], axis=1
    )
    full = np.concatenate([body, luhn_check_digit(body)[:, None].astype(np.uint8)], axis=1)
    return _series(_digits_text(full), values)


def iban_check_digits(country: np.ndarray, bban_digits: np.ndarray) -> np.ndarray:
    """ISO 13616 check digits (98 - n mod 97) for numeric BBANs, vectorized."""
    rem = np.zeros(len(country), dtype=np.int64)
    for j in range(bban_digits.shape[1]):
        rem = (rem * 10 + bban_digits[:, j]) % 97
    letters = np.array([[ord(c[0]) - 55, ord(c[1]) - 55] for c in country], dtype=np.int64)
    for j in range(2):
        rem = (rem * 100 + letters[:, j]) % 97
    rem = (rem * 100) % 97
    return 98 - rem


@register("iban", classes=("pii",), types=STRING, identifying=True)
def iban(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Same country and length, keyed numeric BBAN, valid check digits."""
    text = values.astype(str).str.replace(" ", "", regex=False).str.upper()
    h = ctx.hash(text)
    country = text.str.slice(0, 2).to_numpy(dtype=object)
    lengths = text.str.len().to_numpy()
    out = np.empty(len(text), dtype=object)
    for length in np.unique(lengths):  # one vectorized pass per IBAN length
        rows = lengths == length
        bban = digit_matrix(mix(h[rows], 41), max(int(length) - 4, 1))
        check = iban_check_digits(country[rows], bban)
        out[rows] = country[rows] + np.char.zfill(check.astype(str), 2).astype(object) + _digits_text(bban)
    return _series(out, values)


@register("mask", options={"keep_last": int}, types=STRING)
def mask(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Replaces all but the last N characters (default 4) by '*'."""
    keep_last = int(ctx.options.get("keep_last", 4))
    text = values.astype(str)
    lengths = text.str.len()
    stars = pd.Series(["*"] * len(text), index=text.index).str.repeat((lengths - keep_last).clip(lower=0))
    tail = text.str.slice(-keep_last) if keep_last else ""
    return (stars + tail).astype(object)


