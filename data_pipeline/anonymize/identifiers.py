"""Identifier rules: keyed tokens, checksum-valid card numbers and IBANs, masks.

Card numbers and IBANs are hashed without their spaces/hyphens (and IBANs upper-cased), so
'4111 1111 1111 1111' and '4111111111111111' get the same fake, each written in its own layout.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data_pipeline.anonymize.formats import Chars, fill, keyed_chars, luhn_complete, mod97_check
from data_pipeline.anonymize.hashing import as_series, base36, concat, digit_matrix, mix, text_array
from data_pipeline.anonymize.people import SHORT_WIDTH
from data_pipeline.anonymize.registry import STRING, RuleContext, register

CARD_PREFIX = 9  # ISO/IEC 7812 major industry identifier 9 (national use): never an issued card


@register(
    "token",
    options={"prefix": str},
    classes=("pii", "key", "quasi"),
    types=STRING | {"integer"},  # text tokens, or 63-bit integers
    identifying=True,
    unique_safe=True,
    generates=True,
    per_value=True,
)
def token(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """A keyed token: prefix + 13 base-36 chars (all 64 bits), or a positive 63-bit integer."""
    h = ctx.hash(values)
    if ctx.column.generic == "integer":
        return pd.Series((h >> np.uint64(1)).astype(np.int64), index=values.index)
    body = base36(h, SHORT_WIDTH)
    prefix = ctx.options.get("prefix", "")
    return as_series(concat(prefix, body) if prefix else body, values)


def fake_cards(text: pa.Array, ctx: RuleContext) -> pa.Array:
    """9 + keyed digits + Luhn check digit, as many digits as the original, in its layout."""
    chars = Chars.of(text)
    digits = chars.digits
    sel = chars.select(digits)
    h = ctx.hash(chars.masked(digits))
    matrix = digit_matrix(h, sel.width)
    if sel.width:
        matrix[:, 0] = CARD_PREFIX
    return fill(chars, sel, 48 + luhn_complete(matrix, sel.counts))


@register("card_number", classes=("pii",), types=STRING, identifying=True, generates=True, per_value=True)
def card_number(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Starts with 9, Luhn-valid, keyed, same length and layout: the format of a card, never a real
    one. Not unique-safe: a 16-digit fake has 14 free digits (see docs/POLICY.md)."""
    return as_series(fake_cards(text_array(values), ctx), values)


def fake_ibans(text: pa.Array, ctx: RuleContext) -> pa.Array:
    """Same country, length and letter/digit shape; keyed BBAN; valid mod-97 check digits."""
    chars = Chars.of(text)
    alphanumeric = chars.digits | chars.letters
    sel = chars.select(alphanumeric)
    upper = np.where((chars.data >= 97) & (chars.data <= 122), chars.data - 32, chars.data).astype(np.uint8)
    normalized = Chars(chars.offsets, upper)
    h = ctx.hash(normalized.masked(alphanumeric))
    new = keyed_chars(normalized, sel, mix(h, 41))
    lengths = sel.counts
    matrix = np.zeros((len(lengths), max(sel.width, 4)), dtype=np.uint8)
    matrix[sel.rows, sel.rank] = new[sel.pos]
    original = np.zeros_like(matrix)
    original[sel.rows, sel.rank] = upper[sel.pos]
    matrix[:, :2] = original[:, :2]  # the country stays
    shaped = (lengths >= 15) & _letters(original[:, 0]) & _letters(original[:, 1])
    shaped &= _digits(original[:, 2]) & _digits(original[:, 3])
    check = mod97_check(matrix, lengths)
    matrix[:, 2] = np.where(shaped, 48 + check // 10, matrix[:, 2])
    matrix[:, 3] = np.where(shaped, 48 + check % 10, matrix[:, 3])
    return fill(chars, sel, matrix)


def _letters(b: np.ndarray) -> np.ndarray:
    return (b >= 65) & (b <= 90)


def _digits(b: np.ndarray) -> np.ndarray:
    return (b >= 48) & (b <= 57)


@register("iban", classes=("pii",), types=STRING, identifying=True, generates=True, per_value=True)
def iban(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Same country, length and layout; keyed BBAN (letters stay letters); valid check digits."""
    return as_series(fake_ibans(text_array(values), ctx), values)


def _mask_options(options: dict) -> list[str]:
    keep_last = options.get("keep_last", 4)
    return [] if keep_last >= 0 else ["`keep_last` must be 0 or more"]


@register("mask", options={"keep_last": int}, types=STRING, validate=_mask_options, per_value=True)
def mask(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """All but the last N characters (default 4) become '*'; a value of N characters or fewer is
    masked entirely, or keeping its 'last N' would keep all of it."""
    keep_last = int(ctx.options.get("keep_last", 4))
    text = text_array(values)
    lengths = pc.utf8_length(text)
    keeps = pc.greater(lengths, keep_last)
    kept = pc.if_else(keeps, keep_last, 0)
    stars = pc.binary_repeat("*", pc.subtract(lengths, kept))
    tail = pc.if_else(keeps, pc.utf8_slice_codeunits(text, -keep_last) if keep_last else "", "")
    return as_series(concat(stars, tail), values)
