"""Rules for personal data: names, emails, phones, addresses.

Each output is a keyed function of the input value alone (never of row order or of other rows), so the
same person maps to the same fake everywhere the domain is shared, and unique inputs stay unique.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_pipeline.anonymize.hashing import base36, digit_matrix, mix, pick
from data_pipeline.anonymize.registry import STRING, RuleContext, register

EMAIL_DOMAINS = np.array(["example.com", "example.net", "example.org"], dtype=object)  # RFC 2606


def _series(values: np.ndarray, like: pd.Series) -> pd.Series:
    return pd.Series(values, index=like.index, dtype=object)


def _pool_rule(kind: str, salt: int):
    def rule(values: pd.Series, ctx: RuleContext) -> pd.Series:
        pool = ctx.pools[kind]
        h = ctx.hash(values)
        out = pick(pool, mix(h, salt))
        # A fake equal to its own original is re-picked (still a function of the value alone).
        same = out == values.to_numpy(dtype=object)
        if same.any():
            out[same] = pick(pool, mix(h[same], salt + 1))
        return _series(out, values)

    rule.__doc__ = f"A keyed pick from Faker's {kind} pool."
    return rule


for _kind, _salt in [
    ("first_name", 1),
    ("last_name", 2),
    ("company", 3),
    ("city", 4),
    ("street_address", 5),
]:
    register(_kind, classes=("pii", "quasi"), types=STRING)(_pool_rule(_kind, _salt * 100))


@register("full_name", classes=("pii",), types=STRING)
def full_name(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """First and last name from two independent keyed picks."""
    h = ctx.hash(values)
    first = pick(ctx.pools["first_name"], mix(h, 21))
    last = pick(ctx.pools["last_name"], mix(h, 22))
    return _series(first + " " + last, values)


def _name_stem(h: np.ndarray, ctx: RuleContext, sep: str) -> tuple[np.ndarray, np.ndarray]:
    """first<sep>last picked from slug pools, and the hash bits not used by the picks."""
    firsts, lasts = ctx.pools.slugs("first_name"), ctx.pools.slugs("last_name")
    n_first, n_last = np.uint64(len(firsts)), np.uint64(len(lasts))
    stem = firsts[(h % n_first).astype(np.intp)] + sep + lasts[((h // n_first) % n_last).astype(np.intp)]
    return stem, h // (n_first * n_last)


@register("email", options={"keep_domain": bool}, classes=("pii",), types=STRING,
          identifying=True, unique_safe=True)
def email(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """first.last.<9 keyed base-36 chars>@example.(com|net|org); unique while inputs are.

    The name picks and the suffix together encode all 64 bits of the keyed hash, so two outputs
    collide only when SipHash does (~3e-8 for a million distinct inputs).
    """
    h = ctx.hash(values)
    stem, rest = _name_stem(h, ctx, ".")
    local = stem + "." + base36(rest, 9)
    if ctx.options.get("keep_domain"):
        domain = values.astype(str).str.rsplit("@", n=1).str[-1].to_numpy(dtype=object)
    else:
        domain = pick(EMAIL_DOMAINS, mix(h, 31))
    return _series(local + "@" + domain, values)


@register("username", classes=("pii",), types=STRING, identifying=True, unique_safe=True)
def username(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """first_last_<9 keyed base-36 chars>: unique while inputs are."""
    h = ctx.hash(values)
    stem, rest = _name_stem(h, ctx, "_")
    return _series(stem + "_" + base36(rest, 9), values)


def replace_digits(values: pd.Series, h: np.ndarray, keep_country_code: bool) -> np.ndarray:
    """Every digit (and letter) replaced by a keyed one; format, separators and length kept.

    With `keep_country_code`, a leading `+NN` (up to the first separator) is kept, so numbers keep
    their country. Works on a (rows x chars) code-point matrix: no Python loop over rows.
    """
    text = values.astype(str).to_numpy(dtype=str)
    width = max(1, text.dtype.itemsize // 4)
    chars = text.view(np.uint32).reshape(len(text), width).copy()
    digits = (chars >= 48) & (chars <= 57)
    upper = (chars >= 65) & (chars <= 90)
    lower = (chars >= 97) & (chars <= 122)
    keep = np.zeros_like(digits)
    if keep_country_code:
        plus = chars[:, 0] == ord("+")
        nondigit = ~digits
        nondigit[:, 0] = False
        first_sep = np.where(nondigit.any(axis=1), nondigit.argmax(axis=1), width)
        cc_len = np.minimum(first_sep, 4)  # '+' and at most 3 digits of country code
        keep = plus[:, None] & (np.arange(width)[None, :] < cc_len[:, None])
    random10 = digit_matrix(h, width, 10).astype(np.uint32)
    random26 = digit_matrix(mix(h, 77), width, 26).astype(np.uint32)
    chars = np.where(digits & ~keep, 48 + random10, chars)
    chars = np.where(upper & ~keep, 65 + random26, chars)
    chars = np.where(lower & ~keep, 97 + random26, chars)
    return chars.astype(np.uint32).view(f"U{width}").ravel().astype(object)


@register("phone", classes=("pii",), types=STRING, identifying=True)
def phone(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Keyed digits in the original's format; the country code is kept."""
    return _series(replace_digits(values, ctx.hash(values), keep_country_code=True), values)


@register("postal_code", classes=("pii", "quasi"), types=STRING)
def postal_code(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Keyed digits and letters in the original's format (e.g. 'SW1A 1AA' -> 'KD4Q 7XB')."""
    return _series(replace_digits(values, ctx.hash(values), keep_country_code=False), values)
