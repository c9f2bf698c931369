"""Date rules: one keyed shift per subject, and generalization to month or year.

A shift per *subject* (e.g. per customer) moves every date of that person together, so intervals and
event order survive; per-value noise would break them and can be averaged away.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_pipeline.anonymize.hashing import mix
from data_pipeline.anonymize.registry import DATE, RuleContext, register


def _to_datetimes(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, errors="raise", format="mixed")


def _back(shifted: pd.Series, like: pd.Series, generic: str) -> pd.Series:
    """Same kind of value as the input: dates stay dates, text stays ISO text."""
    if generic == "date":
        return pd.Series(shifted.dt.date, index=like.index, dtype=object)
    if generic == "string":
        fmt = "%Y-%m-%d" if like.astype(str).str.len().max() <= 10 else "%Y-%m-%d %H:%M:%S"
        return shifted.dt.strftime(fmt)
    return shifted


@register(
    "date_shift",
    options={"subject": str, "max_days": int, "subject_domain": str},
    classes=("pii", "quasi"),
    types=DATE,
)
def date_shift(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Shifts by 1..max_days days (either way), one keyed offset per subject."""
    max_days = int(ctx.options.get("max_days", 30))
    subject_col = ctx.options.get("subject")
    if subject_col:
        subjects = ctx.frame.loc[values.index, subject_col]
        has_subject = subjects.notna()
        h = np.zeros(len(values), dtype=np.uint64)
        domain = ctx.options.get("subject_domain") or f"{ctx.policy.table}.{subject_col}"
        if has_subject.any():
            h[has_subject.to_numpy()] = ctx.hash(subjects[has_subject], domain=domain)
        if (~has_subject).any():
            h[~has_subject.to_numpy()] = ctx.hash(values[~has_subject])
    else:
        h = ctx.hash(values)
    days = (mix(h, 11) % np.uint64(max_days)).astype(np.int64) + 1
    sign = np.where(mix(h, 13) & np.uint64(1), 1, -1)
    shifted = _to_datetimes(values) + pd.to_timedelta(days * sign, unit="D")
    return _back(shifted, values, ctx.column.generic)


@register("generalize_date", options={"to": str}, classes=("pii", "quasi"), types=DATE)
def generalize_date(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Truncates to the first day of the month, the year or the decade."""
    to = ctx.options.get("to", "year")
    if to not in ("month", "year", "decade"):
        raise ValueError(f"generalize_date: `to` must be month, year or decade, not {to!r}")
    stamps = _to_datetimes(values)
    period = stamps.dt.to_period("M" if to == "month" else "Y").dt.start_time
    if to == "decade":
        period = pd.to_datetime((period.dt.year // 10 * 10).astype(str) + "-01-01")
    return _back(period, values, ctx.column.generic)
