"""Date rules: one keyed shift per subject, and generalization to month, year or decade.

A shift per *subject* (e.g. per customer) moves every date of that person together, so intervals and
event order survive; per-value noise would break them and can be averaged away. Dates stay datetime64
throughout (date columns come back as midnight datetimes, which Arrow stores as date32); text dates
are parsed once per distinct value and written back in their own format.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_pipeline.anonymize.hashing import mix
from data_pipeline.anonymize.registry import DATE, RuleContext, register


def _stamps(values: pd.Series) -> pd.Series:
    """datetime64 values (tz kept) of dates, datetimes or ISO text; text parsed per distinct value."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values
    if pd.api.types.is_string_dtype(values.dtype) and not _python_dates(values):
        codes, uniques = pd.factorize(values)
        parsed = pd.to_datetime(pd.Series(uniques), errors="raise", format="mixed").to_numpy()
        return pd.Series(parsed[codes], index=values.index)
    return pd.to_datetime(values, errors="raise", format="mixed")


def _python_dates(values: pd.Series) -> bool:
    return values.dtype == object and len(values) > 0 and not isinstance(values.iloc[0], str)


def _back(stamps: pd.Series, like: pd.Series) -> pd.Series:
    """Same kind as the input: datetimes stay datetimes, text stays ISO text of the same shape."""
    if not pd.api.types.is_string_dtype(like.dtype) or _python_dates(like):
        return stamps
    codes, uniques = pd.factorize(stamps)
    fmt = "%Y-%m-%d" if like.astype(str).str.len().max() <= 10 else "%Y-%m-%d %H:%M:%S"
    text = pd.DatetimeIndex(uniques).strftime(fmt).to_numpy(dtype=object)
    return pd.Series(text[codes], index=like.index, dtype=object)


TEXT_DATES = ("format", "iso")  # the option that lets a date rule read a text column of ISO dates


def _format_option(options: dict) -> list[str]:
    fmt = options.get("format", "iso")
    return [] if fmt == "iso" else [f"`format` must be iso (ISO dates in a text column), not {fmt!r}"]


def _shift_options(options: dict) -> list[str]:
    days = [] if options.get("max_days", 30) >= 1 else ["`max_days` must be 1 or more"]
    return days + _format_option(options)


def offsets_days(h: np.ndarray, max_days: int) -> np.ndarray:
    """A keyed offset per hash in [-max_days, -1] or [1, max_days]: never 0."""
    days = (mix(h, 11) % np.uint64(max_days)).astype(np.int64) + 1
    return np.where(mix(h, 13) & np.uint64(1), days, -days)


@register(
    "date_shift",
    options={"subject": str, "max_days": int, "subject_domain": str, "format": str},
    classes=("pii", "quasi"),
    types=DATE,
    generates=True,
    validate=_shift_options,
    text_via=TEXT_DATES,
)
def date_shift(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Shifts by 1..max_days days (either way), one keyed offset per subject.

    The subject's hash is taken in the domain of the key it ultimately references (set by policy
    resolution), so customers.created_at and orders.ordered_at of one customer move together. A row
    without a subject is shifted by a hash of its own value.
    """
    max_days = int(ctx.options.get("max_days", 30))
    subject_col = ctx.options.get("subject")
    if subject_col:
        column = ctx.frame[subject_col]
        subjects = column if column.index.equals(values.index) else column.loc[values.index]
        has_subject = subjects.notna().to_numpy()
        domain = ctx.options.get("subject_domain") or f"{ctx.policy.table}.{subject_col}"
        if has_subject.all():
            h = ctx.hash(subjects, domain=domain)
        else:
            h = np.zeros(len(values), dtype=np.uint64)
            if has_subject.any():
                h[has_subject] = ctx.hash(subjects[has_subject], domain=domain)
            h[~has_subject] = ctx.hash(values[~has_subject])
    else:
        h = ctx.hash(values)
    stamps = _stamps(values)
    unit = getattr(stamps.dtype, "unit", None) or np.datetime_data(stamps.dtype)[0]
    shift = pd.to_timedelta(offsets_days(h, max_days), unit="D").as_unit(unit).to_numpy()
    return _back(stamps + shift, values)


def truncate(stamps: np.ndarray, to: str) -> np.ndarray:
    """datetime64 values cut to the start of their month, year or decade.

    numpy's own calendar conversion (astype('datetime64[Y]')) is slow, and so is a binary search. The
    period of a day is first estimated from the mean period length, which is off by at most one
    period (calendar periods stray from their mean by a few days), then settled exactly against a
    table of period starts covering the data's range.
    """
    unit = np.datetime_data(stamps.dtype)[0]
    days = stamps.astype("datetime64[D]")
    if not len(days):
        return stamps
    first, last = days.min().astype("datetime64[Y]"), days.max().astype("datetime64[Y]")
    if to == "month":
        starts = np.arange(first.astype("datetime64[M]"), (last + 1).astype("datetime64[M]"))
    else:
        years = np.arange(first, last + 1)
        if to == "decade":
            year = years.astype(np.int64) + 1970
            years = np.unique((year - year % 10 - 1970).astype("datetime64[Y]"))
        starts = years
    starts = starts.astype("datetime64[D]").astype(np.int64)
    bounds = np.append(starts, np.iinfo(np.int64).max)  # bounds[i + 1]: where period i ends
    day = days.astype(np.int64)
    mean = {"month": 30.436875, "year": 365.2425, "decade": 3652.425}[to]
    at = np.clip(((day - starts[0]) / mean).astype(np.int64), 0, len(starts) - 1)
    at -= day < bounds[at]
    at += day >= bounds[at + 1]
    return starts[at].astype("datetime64[D]").astype(f"datetime64[{unit}]")


def _generalize_options(options: dict) -> list[str]:
    to = options.get("to", "year")
    cut = [] if to in ("month", "year", "decade") else [f"`to` must be month, year or decade, not {to!r}"]
    return cut + _format_option(options)


@register(
    "generalize_date",
    options={"to": str, "format": str},
    classes=("pii", "quasi"),
    types=DATE,
    validate=_generalize_options,
    per_value=True,
    text_via=TEXT_DATES,
)
def generalize_date(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Truncates to the first day of the month, the year or the decade."""
    to = ctx.options.get("to", "year")
    stamps = _stamps(values)
    tz = getattr(stamps.dt, "tz", None)
    local = stamps.dt.tz_localize(None) if tz is not None else stamps
    raw = local.to_numpy()
    cut = truncate(raw, to)
    out = pd.Series(cut, index=values.index)
    if tz is not None:
        out = out.dt.tz_localize(tz)
    return _back(out, values)
