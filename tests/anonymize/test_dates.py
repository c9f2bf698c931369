"""Dates: one keyed shift per subject keeps every interval and order of that subject; generalization
truncates to month, year or decade, whatever form the dates come in."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from anon_helpers import anonymize, column, table

from data_pipeline.anonymize.dates import truncate
from data_pipeline.schema import ForeignKey, Schema


def _events(n_subjects: int = 300, per_subject: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    subject = np.repeat(np.arange(1, n_subjects + 1), per_subject)
    stamps = np.datetime64("2020-01-01T00:00:00") + rng.integers(0, 10**8, len(subject)).astype("m8[s]")
    return pd.DataFrame({"customer": subject, "at": stamps.astype("datetime64[us]")}).sample(
        frac=1, random_state=1
    )


def test_date_shift_keeps_every_interval_and_order_of_a_subject(run_rule) -> None:
    frame = _events()
    out = run_rule(
        "date_shift", frame["at"], subject="customer", max_days=30, extra={"customer": frame["customer"]}
    )
    shift = out - frame["at"]
    per_subject = shift.groupby(frame["customer"]).nunique()
    assert (per_subject == 1).all()  # one offset per subject: intervals survive exactly
    for _, group in frame.assign(out=out).groupby("customer"):
        assert (group["at"].rank() == group["out"].rank()).all()
    days = shift.dt.total_seconds() / 86_400
    assert (days.abs() >= 1).all() and (days.abs() <= 30).all() and (days % 1 == 0).all()
    assert (days > 0).any() and (days < 0).any()


def test_offsets_are_never_zero_and_stay_within_max_days(run_rule) -> None:
    values = pd.Series(pd.to_datetime(["2024-02-29"] * 5000))
    out = run_rule("date_shift", values, subject="s", max_days=3, extra={"s": np.arange(5000)})
    days = ((out - values).dt.days).value_counts()
    assert set(days.index) == {-3, -2, -1, 1, 2, 3}


def test_one_subject_moves_together_across_tables() -> None:
    """customers.created_at (subject id) and orders.ordered_at (subject customer_id -> customers.id)."""
    customers = table(
        "customers", column("id", "integer", primary_key=True), column("created_at", "datetime")
    )
    orders = table(
        "orders",
        column("id", "integer", primary_key=True),
        column("customer_id", "integer"),
        column("ordered_at", "datetime"),
        fks=(ForeignKey(("customer_id",), "customers", ("id",)),),
    )
    base = pd.Timestamp("2021-06-01 12:00")
    frames = {
        "customers": pd.DataFrame({"id": [1, 2], "created_at": [base, base]}),
        "orders": pd.DataFrame(
            {
                "id": [10, 11, 12],
                "customer_id": [1, 2, 1],
                "ordered_at": [base + pd.Timedelta(days=3), base, base],
            }
        ),
    }
    doc = {
        "tables": {
            "customers": {
                "columns": {
                    "id": {"class": "key", "rule": "keep"},
                    "created_at": {"class": "pii", "rule": "date_shift", "subject": "id"},
                }
            },
            "orders": {
                "columns": {
                    "id": {"class": "key", "rule": "keep"},
                    "customer_id": {"class": "key", "rule": "keep"},
                    "ordered_at": {"class": "pii", "rule": "date_shift", "subject": "customer_id"},
                }
            },
        }
    }
    out = anonymize(Schema((customers, orders)), doc, frames)
    created = dict(zip(out["customers"]["id"], out["customers"]["created_at"], strict=True))
    ordered = out["orders"]["ordered_at"]
    assert ordered[0] - created[1] == pd.Timedelta(days=3)  # the 3-day interval survives
    assert ordered[2] == created[1] and ordered[1] == created[2]


def test_date_columns_text_dates_and_null_subjects(run_rule) -> None:
    dates = pd.Series([dt.date(2020, 1, 31), dt.date(2021, 7, 4)], dtype=object)
    out = run_rule("date_shift", dates, generic="date", max_days=10)
    assert ((pd.to_datetime(out) - pd.to_datetime(dates)).dt.days.abs() <= 10).all()
    text = pd.Series(["2020-01-31", "2020-01-31 10:00:00"])
    shifted = run_rule("date_shift", text, max_days=10, subject="s", extra={"s": [1, 1]}, format="iso")
    assert shifted.str.fullmatch(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?").all()
    assert shifted[1].endswith("10:00:00")
    stamps = pd.Series(pd.to_datetime(["2020-05-01", "2020-05-01"]))
    nobody = pd.Series([None, None], dtype="Int64")
    no_subject = run_rule("date_shift", stamps, subject="s", extra={"s": nobody})
    assert no_subject[0] == no_subject[1] != stamps[0]  # shifted by a hash of the value itself


def test_generalize_date_truncates_to_month_year_or_decade(run_rule) -> None:
    stamps = pd.Series(pd.to_datetime(["1987-06-15 13:45", "2003-12-31 23:59"]))
    month = run_rule("generalize_date", stamps, cls="quasi", to="month")
    year = run_rule("generalize_date", stamps, cls="quasi", to="year")
    decade = run_rule("generalize_date", stamps, cls="quasi", to="decade")
    assert month.tolist() == [pd.Timestamp("1987-06-01"), pd.Timestamp("2003-12-01")]
    assert year.tolist() == [pd.Timestamp("1987-01-01"), pd.Timestamp("2003-01-01")]
    assert decade.tolist() == [pd.Timestamp("1980-01-01"), pd.Timestamp("2000-01-01")]
    dates = pd.Series([dt.date(1987, 6, 15), None], dtype=object)
    out = run_rule("generalize_date", dates, cls="quasi", generic="date", to="year")
    assert pd.Timestamp(out[0]) == pd.Timestamp("1987-01-01") and pd.isna(out[1])
    text = run_rule("generalize_date", pd.Series(["1987-06-15"]), cls="quasi", to="month", format="iso")
    assert text.tolist() == ["1987-06-01"]
    aware = pd.Series(pd.to_datetime(["2020-03-01 00:30"]).tz_localize("Europe/Berlin"))
    assert run_rule("generalize_date", aware, cls="quasi", generic="datetime", to="month")[0] == pd.Timestamp(
        "2020-03-01", tz="Europe/Berlin"
    )


def test_truncate_agrees_with_numpys_calendar_on_every_kind_of_day() -> None:
    """The estimate-and-settle lookup against numpy's own (slow) calendar conversion: 200 years of
    random days, leap days and the last second of a century."""
    rng = np.random.default_rng(3)
    days = np.datetime64("1900-01-01") + rng.integers(0, 200 * 365, 50_000).astype("timedelta64[D]")
    stamps = days.astype("datetime64[s]")
    edges = ["1900-01-01", "2099-12-31", "2000-02-29", "1999-12-31T23:59:59", "2000-01-01", "1904-02-29"]
    stamps[: len(edges)] = np.array(edges, dtype="datetime64[s]")
    for to, unit in (("month", "M"), ("year", "Y")):
        assert (truncate(stamps, to) == stamps.astype(f"datetime64[{unit}]").astype("datetime64[s]")).all()
    year = stamps.astype("datetime64[Y]").astype(np.int64)
    decade = (year - (year + 1970) % 10).astype("datetime64[Y]").astype("datetime64[s]")
    assert (truncate(stamps, "decade") == decade).all()
