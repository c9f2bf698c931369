"""Names, emails, usernames, phones and addresses: keyed, consistent, format-true, and unique where the
column needs it."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from anon_helpers import KEY, OTHER_KEY

from data_pipeline.anonymize.people import suffix_width
from data_pipeline.anonymize.pools import pool, slug_pool

MILLION = 1_000_000


@pytest.fixture(scope="module")
def million_emails() -> pd.Series:
    return pd.Series([f"user{i}@shop.example" for i in range(MILLION)], dtype="str")


def test_a_pool_rule_picks_from_the_pool_and_is_a_function_of_the_value(run_rule) -> None:
    values = pd.Series(["Anna", "Bob", "Anna", "Chloé", "Bob"])
    out = run_rule("first_name", values)
    assert set(out) <= set(pool("en_US", "first_name"))
    assert out[0] == out[2] and out[1] == out[4]
    assert run_rule("first_name", values[::-1]).sort_index().equals(out)


def test_another_key_gives_other_fakes(run_rule) -> None:
    values = pd.Series([f"Person {i}" for i in range(200)])
    mine, theirs = run_rule("last_name", values), run_rule("last_name", values, key=OTHER_KEY)
    assert (mine != theirs).mean() > 0.9


def test_pool_rules_never_return_the_original(run_rule) -> None:
    """Every pool entry as input: a pick equal to its own original is drawn again."""
    for rule in ("first_name", "last_name", "city"):
        values = pd.Series(pool("en_US", rule))
        assert (run_rule(rule, values).to_numpy() != values.to_numpy()).all(), rule


def test_country_column_picks_from_the_rows_country(run_rule) -> None:
    values = pd.Series(["Anna", "Anna", "Anna", "Anna", "Anna"])
    countries = ["DE", "fr", "GB", "ZZ", None]
    out = run_rule("first_name", values, country_column="country", extra={"country": countries})
    assert out[0] in pool("de_DE", "first_name")
    assert out[1] in pool("fr_FR", "first_name")
    assert out[2] in pool("en_GB", "first_name")
    assert out[3] in pool("en_US", "first_name") and out[4] in pool("en_US", "first_name")  # policy locale
    cities = run_rule(
        "city", pd.Series(["Köln"] * 2), country_column="country", extra={"country": ["DE", "FR"]}
    )
    assert cities[0] in pool("de_DE", "city") and cities[1] in pool("fr_FR", "city")


def test_full_name_is_a_first_and_a_last_name(run_rule) -> None:
    out = run_rule("full_name", pd.Series(["Ann Lee", "Bo Park"]))
    for name in out:
        first, last = name.split(" ", 1)
        assert first in pool("en_US", "first_name") and last in pool("en_US", "last_name")


def test_email_encodes_the_whole_hash_so_the_locale_pools_suffice() -> None:
    for locale in ("en_US", "de_DE", "fr_FR", "en_GB"):
        firsts, lasts = len(slug_pool(locale, "first_name")), len(slug_pool(locale, "last_name"))
        assert firsts * lasts * 36 ** suffix_width(firsts, lasts) >= 2**64


def test_email_is_unique_on_a_million_distinct_addresses(run_rule, million_emails) -> None:
    out = run_rule("email", million_emails, unique=True, length=120)
    assert out.is_unique
    assert out.str.fullmatch(r"[a-z]+\.[a-z]+\.[0-9a-z]{9}@example\.(com|net|org)").all()


def test_username_is_unique_on_a_million_distinct_names(run_rule, million_emails) -> None:
    out = run_rule("username", million_emails.str.replace("@shop.example", "", regex=False), unique=True)
    assert out.is_unique and out.str.fullmatch(r"[a-z]+_[a-z]+_[0-9a-z]{9}").all()


def test_email_decodes_back_to_its_hash_so_distinct_hashes_never_collide(run_rule) -> None:
    from data_pipeline.anonymize.hashing import keyed_hash

    values = pd.Series(["a@x.org", "b@x.org", "c@y.org"])
    out = run_rule("email", values)
    firsts, lasts = list(slug_pool("en_US", "first_name")), list(slug_pool("en_US", "last_name"))
    for value, fake in zip(values, out, strict=True):
        first, last, suffix = fake.split("@")[0].split(".")
        decoded = firsts.index(first) + len(firsts) * (lasts.index(last) + len(lasts) * int(suffix, 36))
        assert decoded == int(keyed_hash(pd.Series([value]), KEY.hash_key("email"))[0])


def test_email_keep_domain_and_short_columns(run_rule) -> None:
    values = pd.Series(["ann@corp.example", "bob@mail.example"])
    kept = run_rule("email", values, keep_domain=True)
    assert kept.str.endswith(("@corp.example", "@mail.example")).tolist() == [True, True]
    short = run_rule("email", values, length=30, unique=True)
    assert (short.str.len() <= 30).all()
    assert short.str.fullmatch(r"u[0-9a-z]{13}@example\.(com|net|org)").all()
    assert short.is_unique


def test_phone_keeps_format_country_code_and_trunk_prefix(run_rule) -> None:
    values = pd.Series(
        [
            "+1-555-010-1234",
            "(555) 010-1234",
            "+44 20 7946 0000",
            "020 7946 0000",
            "+49 (0)30 1234567",
            "030/1234567",
            "+33 1 23 45 67 89",
            "01 23 45 67 89",
        ]
    )
    out = run_rule("phone", values)
    for original, fake in zip(values, out, strict=True):
        assert re.sub(r"\d", "9", original) == re.sub(r"\d", "9", fake)  # same layout
        assert fake != original
    assert out[0].startswith("+1-") and out[2].startswith("+44 ") and out[4].startswith("+49 (0)")
    assert out[3].startswith("0") and out[7].startswith("0") and out[6].startswith("+33 ")
    digits = out.str.replace(r"\D", "", regex=True)
    assert digits[0][1:] == digits[1]  # one number, two formats: the same fake digits
    assert digits[2][2:] == digits[3][1:]
    assert digits[4][3:] == digits[5][1:]
    assert digits[6][2:] == digits[7][1:]


def test_phone_national_number_never_starts_with_zero(run_rule) -> None:
    values = pd.Series([f"+1 {i:03d} 555 {i:04d}" for i in range(200, 700)])
    out = run_rule("phone", values)
    assert (out.str.slice(3, 4) != "0").all()


def test_postal_code_keeps_its_shape(run_rule) -> None:
    values = pd.Series(["SW1A 1AA", "10115", "75008", "m5v 3l9"])
    out = run_rule("postal_code", values)
    shape = {"digit": r"\d", "upper": "[A-Z]", "lower": "[a-z]"}
    for original, fake in zip(values, out, strict=True):
        assert fake != original
        for pattern in shape.values():
            assert [bool(re.fullmatch(pattern, c)) for c in original] == [
                bool(re.fullmatch(pattern, c)) for c in fake
            ]


def test_postal_code_with_country_picks_that_countrys_postcodes(run_rule) -> None:
    out = run_rule(
        "postal_code",
        pd.Series(["10115", "SW1A 1AA", "1234-567"]),
        country_column="c",
        extra={"c": ["DE", "GB", "XX"]},
    )
    assert out[0] in pool("de_DE", "postcode") and out[1] in pool("en_GB", "postcode")
    assert re.fullmatch(r"\d{4}-\d{3}", out[2])  # unknown country: the original's shape


def test_street_address_is_a_street_and_a_number_in_the_locales_order(run_rule) -> None:
    values = pd.Series([f"{i} Main Street" for i in range(5000)])
    out = run_rule("street_address", values)
    assert out.nunique() > 4900  # not a few thousand pool entries shared by everybody
    parts = out.str.extract(r"^(\d+) (.+)$")
    assert parts[1].isin(set(pool("en_US", "street_name"))).all()
    numbers = parts[0].astype(int)
    assert numbers.between(1, 9999).all() and (numbers < 10).mean() > 0.15  # small numbers are common
    german = run_rule("street_address", pd.Series(["Hauptstraße 5"]), country_column="c", extra={"c": ["DE"]})
    name, number = german[0].rsplit(" ", 1)
    assert name in set(pool("de_DE", "street_name")) and number.isdigit()
    french = run_rule("street_address", pd.Series(["5 rue Cler"]), country_column="c", extra={"c": ["FR"]})
    assert french.str.fullmatch(r"\d+, .+").all()


def test_null_stays_null(run_rule) -> None:
    values = pd.Series(["ann@x.org", None, "bob@y.org"], dtype="str")
    for rule in ("email", "first_name", "phone", "street_address"):
        out = run_rule(rule, values)
        assert out.isna().tolist() == [False, True, False], rule
        without_null = run_rule(rule, values[[0, 2]])  # the NULL changes nothing for the others
        np.testing.assert_array_equal(without_null.to_numpy(), out[[0, 2]].to_numpy())
