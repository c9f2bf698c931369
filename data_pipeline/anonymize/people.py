"""Rules for personal data: names, emails, usernames, phones, addresses.

Each output is a keyed function of the input value alone (and of the row's country where the rule has
`country_column`), never of row order or of other rows, so the same person maps to the same fake
everywhere the domain is shared. Emails and usernames encode all 64 bits of the keyed hash, so distinct
inputs give distinct outputs unless SipHash itself collides.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data_pipeline.anonymize import _kernels
from data_pipeline.anonymize.formats import Chars, fake_phones, scramble
from data_pipeline.anonymize.hashing import (
    Picks,
    as_series,
    base36,
    concat,
    index,
    max_bytes,
    mix,
    picks,
    string_buffers,
    text_array,
)
from data_pipeline.anonymize.pools import COUNTRY_LOCALES, street_layout
from data_pipeline.anonymize.registry import STRING, RuleContext, register

EMAIL_DOMAINS = pa.array(
    ["example.com", "example.net", "example.org"], pa.large_string()
)  # RFC 2606: never deliverable
SHORT_WIDTH = 13  # base-36 characters that hold a whole 64-bit hash (36**13 > 2**64)
REPICKS = 4  # a pick equal to its own original is re-drawn this many times at most


def _country_option(options: dict) -> list[str]:
    column = options.get("country_column")
    return [] if column is None or column else ["`country_column` must name a column"]


def _locale_pools(
    ctx: RuleContext, kind: str, locales: np.ndarray | None, n: int
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """The pools of the locales present laid end to end (the policy's alone without `locales`), and
    where each of the n rows' own pool starts in it and how long it is."""
    if locales is None:
        pool = ctx.pools.arrow(kind)
        return pool, np.zeros(n, np.int64), np.full(n, len(pool), np.int64)
    pools, starts, sizes, start = [], np.empty(n, np.int64), np.empty(n, np.int64), 0
    for locale in sorted(set(locales.tolist())):
        rows = locales == locale
        pool = ctx.pools.arrow(kind, locale)
        starts[rows], sizes[rows] = start, len(pool)
        pools.append(pool)
        start += len(pool)
    return pa.concat_arrays(pools), starts, sizes


def _pick_by_locale(ctx: RuleContext, kind: str, h: np.ndarray, locales: np.ndarray | None) -> Picks:
    """A keyed pick from the pool of each row's locale."""
    if locales is None:
        return picks(ctx.pools.arrow(kind), h)
    pool, starts, sizes = _locale_pools(ctx, kind, locales, len(h))
    return Picks(pool, starts + (h % sizes.astype(np.uint64)).astype(np.int64))


def _differs(out: pa.Array, original: pa.Array) -> np.ndarray:
    return pc.fill_null(pc.not_equal(out, original), True).to_numpy(zero_copy_only=False)


def pool_pick(
    original: pa.Array, h: np.ndarray, locales: np.ndarray | None, ctx: RuleContext, kind: str
) -> pa.Array:
    """Keyed pick; a fake equal to its own original is drawn again from mix(h, attempt), up to
    REPICKS times (still a function of the value). One compiled pass."""
    pool, starts, sizes = _locale_pools(ctx, kind, locales, len(h))
    offsets, data = string_buffers(original)
    pool_offsets, pool_data = string_buffers(pool)
    positions = _kernels.pool_picks(
        offsets.astype(np.int64, copy=False),
        data,
        np.ascontiguousarray(h, dtype=np.uint64),
        pool_offsets.astype(np.int64, copy=False),
        pool_data,
        starts,
        sizes,
        REPICKS,
    )
    return Picks(pool, positions).array()


def _pool_rule(kind: str, salt: int):
    def rule(values: pd.Series, ctx: RuleContext) -> pd.Series:
        original = text_array(values)
        h = mix(ctx.hash(original), salt)
        return as_series(pool_pick(original, h, ctx.locales(values), ctx, kind), values)

    rule.__doc__ = f"A keyed pick from Faker's {kind} pool (of the row's country with `country_column`)."
    return rule


for _kind, _salt in [("first_name", 1), ("last_name", 2), ("company", 3), ("city", 4)]:
    register(
        _kind,
        options={"country_column": str},
        classes=("pii", "quasi"),
        types=STRING,
        generates=True,
        validate=_country_option,
        per_value=True,
    )(_pool_rule(_kind, _salt * 100))


HOUSE_NUMBERS = pa.array(
    [str(n) for n in range(1, 10_000)], pa.large_string()
)  # taking text is cheaper than casting


def house_numbers(h: np.ndarray) -> Picks:
    """Keyed house numbers 1-9999, log-uniform: as many 1-digit as 4-digit numbers, like streets."""
    u = (h >> np.uint64(11)).astype(np.float64) / 2.0**53
    numbers = np.clip(np.floor(10.0 ** (4 * u)), 1, 9999).astype(np.int64)
    return Picks(HOUSE_NUMBERS, numbers - 1)


def _addresses(names: Picks, numbers: Picks, locales: np.ndarray | None, ctx: RuleContext) -> pa.Array:
    """Number and street name in each row's locale order ('12 Main St', 'Hauptstr. 12')."""
    groups = [ctx.pools.locale] if locales is None else sorted(set(locales.tolist()))
    out = None
    for locale in groups:
        number_first, between = street_layout(locale)
        pair = (numbers, names) if number_first else (names, numbers)
        joined = concat(pair[0], between, pair[1])
        out = joined if out is None else pc.if_else(pa.array(locales == locale), joined, out)
    return out


@register(
    "street_address",
    options={"country_column": str},
    classes=("pii", "quasi"),
    types=STRING,
    generates=True,
    validate=_country_option,
    per_value=True,
)
def street_address(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """A keyed street name from Faker's pool and a keyed house number, in the locale's order: tens
    of millions of addresses, so a million customers do not share a few thousand."""
    original = text_array(values)
    h = ctx.hash(original)
    locales = ctx.locales(values)
    names = _pick_by_locale(ctx, "street_name", mix(h, 500), locales)
    out = _addresses(names, house_numbers(mix(h, 501)), locales, ctx)
    same = ~_differs(out, original)
    if same.any():  # the original address itself: another number
        again = _addresses(names, house_numbers(mix(h, 502)), locales, ctx)
        out = pc.if_else(pa.array(~same), out, again)
    return as_series(out, values)


@register(
    "full_name",
    options={"country_column": str},
    classes=("pii",),
    types=STRING,
    generates=True,
    validate=_country_option,
    per_value=True,
)
def full_name(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """First and last name from two independent keyed picks."""
    h = ctx.hash(values)
    locales = ctx.locales(values)
    first = _pick_by_locale(ctx, "first_name", mix(h, 21), locales)
    last = _pick_by_locale(ctx, "last_name", mix(h, 22), locales)
    return as_series(concat(first, " ", last), values)


def suffix_width(n_first: int, n_last: int) -> int:
    """Base-36 characters needed so (first, last, suffix) encodes every 64-bit hash exactly."""
    rest = math.ceil(2**64 / (n_first * n_last))
    width = 1
    while 36**width < rest:
        width += 1
    return width


def _stem(h: np.ndarray, ctx: RuleContext) -> tuple[Picks, Picks, pa.Array]:
    """first and last slug, and a base-36 suffix: together a bijection of the 64-bit hash."""
    firsts, lasts = ctx.pools.arrow("first_name", slugs=True), ctx.pools.arrow("last_name", slugs=True)
    n_first, n_last = len(firsts), len(lasts)
    high = h // np.uint64(n_first)
    first = Picks(firsts, index(h, n_first))
    last = Picks(lasts, index(high, n_last))
    return first, last, base36(high // np.uint64(n_last), suffix_width(n_first, n_last))


def _fit_short(out: pa.Array, short: Callable[[], pa.Array], ctx: RuleContext) -> pa.Array:
    """Rows longer than the column takes use the short form (still injective: it has no separator)."""
    length = ctx.column.length
    if not length or max_bytes(out) <= length:
        return out
    too_long = pc.greater(pc.utf8_length(out), length)
    return pc.if_else(too_long, short(), out) if pc.any(too_long).as_py() else out


@register(
    "email",
    options={"keep_domain": bool},
    classes=("pii",),
    types=STRING,
    identifying=True,
    unique_safe=True,
    generates=True,
    per_value=True,
)
def email(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """first.last.<base-36>@example.(com|net|org); unique while inputs are.

    The name picks and the suffix are a mixed-radix encoding of the whole 64-bit keyed hash, so two
    outputs collide only when SipHash does (~3e-8 for a million distinct inputs). Where the column is
    too short, 'u' + 13 base-36 characters (also all 64 bits) replaces first.last.
    """
    original = text_array(values)
    h = ctx.hash(original)
    first, last, suffix = _stem(h, ctx)
    if ctx.options.get("keep_domain"):
        found = pc.extract_regex(original, r"@(?P<domain>[^@]+)$")
        domain = pc.fill_null(pc.struct_field(found, [0]), "example.com")
    else:
        domain = picks(EMAIL_DOMAINS, mix(h, 31))
    out = concat(first, ".", last, ".", suffix, "@", domain)

    def short() -> pa.Array:
        return concat("u", base36(h, SHORT_WIDTH), "@", domain)

    return as_series(_fit_short(out, short, ctx), values)


@register(
    "username",
    classes=("pii",),
    types=STRING,
    identifying=True,
    unique_safe=True,
    generates=True,
    per_value=True,
)
def username(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """first_last_<base-36>: all 64 bits of the keyed hash, so unique while inputs are.
    Where the column is too short: 'u' + 13 base-36 characters."""
    h = ctx.hash(values)
    first, last, suffix = _stem(h, ctx)
    out = concat(first, "_", last, "_", suffix)

    def short() -> pa.Array:
        return concat("u", base36(h, SHORT_WIDTH))

    return as_series(_fit_short(out, short, ctx), values)


@register("phone", classes=("pii",), types=STRING, identifying=True, generates=True, per_value=True)
def phone(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Keyed digits in the original's format; the country code (and trunk '0') kept.

    The national number's digits are what is hashed, so '+44 20 7946 0000' and '020 7946 0000' get the
    same fake digits, each in its own format.
    """
    return as_series(fake_phones(Chars.of(text_array(values)), ctx.hash_key()), values)


@register(
    "postal_code",
    options={"country_column": str},
    classes=("pii", "quasi"),
    types=STRING,
    generates=True,
    validate=_country_option,
    per_value=True,
)
def postal_code(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Keyed digits and letters in the original's shape ('SW1A 1AA' -> 'WE9W 6TD'); with
    `country_column`, rows of a known country get a keyed pick from that country's Faker postcodes."""
    original = text_array(values)
    h = ctx.hash(original)
    out = scramble(original, h)
    same = ~_differs(out, original)
    if same.any():  # drawn again, unless there is nothing to replace ('')
        same &= pc.utf8_length(original).to_numpy(zero_copy_only=False) > 0
        out = pc.if_else(pa.array(~same), out, scramble(original, mix(h, 1))) if same.any() else out
    locales = ctx.locales(values)
    if locales is not None:
        countries = ctx.frame.loc[values.index, ctx.options["country_column"]]
        known = countries.astype(str).str.strip().str.upper().isin(COUNTRY_LOCALES).to_numpy()
        if known.any():
            picked = pool_pick(original, mix(h, 600), locales, ctx, "postcode")
            out = pc.if_else(pa.array(known), picked, out)
    return as_series(out, values)
