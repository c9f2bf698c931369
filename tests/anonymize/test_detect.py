"""Detection: which identifiers free text holds (what gets scrubbed and leak-checked), which values the
scan calls personal, and which words are known names."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import luhn_check_digit

from data_pipeline.anonymize.detect import (
    ANY_IDENTIFIER,
    KINDS,
    PATTERNS,
    RE2_EXACT,
    VALID,
    classify,
    find_all,
    fold,
    folded_names,
    is_card_number,
    is_email,
    is_phone,
    known_names,
    may_hold,
    mentions_pii,
    phone_like,
    re2_superset,
)
from data_pipeline.checksums import iban_check_digits

CARD = "453201511283036" + luhn_check_digit("453201511283036")
IBAN = "DE" + iban_check_digits("DE", "370400440532013000") + "370400440532013000"
SPACED_IBAN = " ".join(IBAN[i : i + 4] for i in range(0, len(IBAN), 4))

PHONES = [
    "+1-555-010-1234",
    "(555) 010-1234",
    "555.010.1234",
    "+44 20 7946 0000",
    "020 7946 0000",
    "+44 7123 456789",
    "07123 456789",
    "+49 (0)30 12345678",
    "030/12345678",
    "0711 62408040",
    "+33 1 23 45 67 89",
    "01.23.45.67.89",
    "5550101234",
]


# ----------------------------------------------------------------------------------- inside text


@pytest.mark.parametrize("number", PHONES)
def test_phones_as_people_write_them_are_found_whole(number: str) -> None:
    assert [m.group(0) for m in PATTERNS["phone"].finditer(f"call {number} now")] == [number]
    assert phone_like(number)


@pytest.mark.parametrize("text", ["order 1234567", "on 2024-03-05", "05.03.2024 10:30", "3/5/24", "1,234.56"])
def test_order_numbers_and_dates_are_not_phones(text: str) -> None:
    assert PATTERNS["phone"].findall(text) == []


def _prefiltered(texts: list[str], kind: str) -> list[bool]:
    kinds = KINDS if kind == "any" else [kind]
    return may_hold(pd.Series(texts, dtype=object), kinds).tolist()


# identifier-shaped text: digits of several scripts, separators, capitals, @ and dots, and letters
_SHAPED = st.text(st.sampled_from("0123456789٠١٢٣٤٥٦٧٨٩０１２ +-()./ @_AZDEGBxyzéß\n"), max_size=40)


@settings(max_examples=600, deadline=None)
@given(st.lists(_SHAPED | st.text(max_size=30), min_size=1, max_size=8))
def test_arrows_prefilter_keeps_every_text_pythons_regex_matches(texts: list[str]) -> None:
    """The leak check and free text let Arrow's RE2 drop rows before Python's regex looks: it may
    keep too many, never too few."""
    for kind, pattern in [*PATTERNS.items(), ("any", ANY_IDENTIFIER)]:
        for text, kept in zip(texts, _prefiltered(texts, kind), strict=True):
            assert kept or not pattern.search(text), (kind, text)


# email-shaped text: addresses made of every class the pattern reads and characters it stops at,
# run together or apart, so texts hold none, one or several matches
_ADDRESS = st.builds(
    "{}@{}.{}".format,
    st.text(st.sampled_from("ab9._%+-é"), min_size=1, max_size=5),
    st.text(st.sampled_from("ab9.-_"), min_size=1, max_size=5),
    st.text(st.sampled_from("ioZé1"), min_size=1, max_size=3),
)
_MAILISH = st.lists(_ADDRESS | st.text(st.sampled_from(" x@.%\n"), max_size=3), max_size=4).map("".join)


@settings(max_examples=600, deadline=None)
@given(st.lists(_MAILISH | st.text(max_size=30), min_size=1, max_size=8))
def test_arrow_finds_exactly_the_matches_pythons_regex_finds(texts: list[str]) -> None:
    """For RE2_EXACT kinds Arrow finds the match of a text holding one: the same matches, no more."""
    for kind in RE2_EXACT:
        found = find_all(pd.Series(texts, dtype=object), kind)
        for row, text in enumerate(texts):
            assert sorted(found[found.index == row].tolist()) == sorted(PATTERNS[kind].findall(text)), text


@pytest.mark.parametrize("number", PHONES)
def test_the_prefilter_keeps_written_phones_and_drops_plain_text(number: str) -> None:
    assert _prefiltered([f"call {number} now", "order 12345 shipped", "no digits"], "phone") == [
        True,
        False,
        False,
    ]


def test_the_re2_superset_drops_lookarounds_and_word_boundaries_outside_classes() -> None:
    assert re2_superset(r"(?<![\w+])(?!(?:1|2)[)])\b\d[\b(]") == r"[0-9\x{80}-\x{10FFFF}][\b(]"


def test_the_re2_superset_reads_a_digit_in_a_class_as_part_of_the_class() -> None:
    assert re2_superset(r"[\d ]") == r"[0-9\x{80}-\x{10FFFF} ]"


def test_a_match_is_classified_and_trimmed_to_the_identifier_it_starts_with() -> None:
    """A greedy match can run into the next word or number; only the identifier is replaced."""
    assert classify("a.b@x.example") == ("email", "a.b@x.example")
    [iban] = ANY_IDENTIFIER.findall(f"refund to {SPACED_IBAN} PLEASE.")
    assert iban == f"{SPACED_IBAN} PLEASE" and classify(iban) == ("iban", SPACED_IBAN)
    [card] = ANY_IDENTIFIER.findall(f"card {CARD} 12 thanks")
    assert card == f"{CARD} 12" and classify(card) == ("card_number", CARD)
    assert classify("5550101234") == ("phone", "5550101234")


def test_a_match_that_fails_its_checksum_is_kept() -> None:
    assert classify(CARD[:-1] + str((int(CARD[-1]) + 1) % 10)) is None  # 16 digits: no card, no phone
    assert not VALID["card_number"](CARD[:-1] + str((int(CARD[-1]) + 1) % 10))
    assert VALID["card_number"](CARD) and VALID["iban"](SPACED_IBAN)


def test_known_names_are_every_locales_names_without_function_words() -> None:
    first, last = known_names("en_US")
    assert "Margaux" in first and "Lebreton" in last and "José" in first  # fr_FR, es_ES
    assert not {"Can", "June", "May", "The"} & (first | last)  # prose stays prose
    assert not first & last  # a word that is both is replaced as a first name


# ---------------------------------------------------------------------------------- whole values


def test_the_scan_calls_bare_digit_runs_phones_only_with_a_trunk_prefix() -> None:
    """Ids and amounts fill whole columns, so the scan wants a phone's layout; inside text a bare run
    of 10+ digits is scrubbed, as a miss there leaks."""
    assert phone_like("5550101234") and not is_phone("5550101234")
    assert is_phone("02079460000") and is_phone("+1 555 010 1234") and is_phone("555-0101 ext. 12")
    assert not is_phone("25.99") and not is_phone("2024-03-05")


def test_whole_value_shapes() -> None:
    assert is_email("o'brien@example.com") and not is_email("mail me at a@b.example")
    assert is_card_number(CARD) and is_card_number(" ".join(CARD[i : i + 4] for i in range(0, 16, 4)))
    assert not is_card_number(CARD[:-1] + str((int(CARD[-1]) + 1) % 10))


@pytest.mark.parametrize(
    ("text", "mentions"),
    [
        ("Please call me on +49 30 1234567 today.", True),
        ("write to ann@x.example", True),
        (f"paid with {CARD}", True),
        (f"refund to {IBAN}", True),
        ("Order 12 shipped on 2024-03-05 for 1234.50", False),
    ],
)
def test_mentions_pii_in_prose(text: str, mentions: bool) -> None:
    assert mentions_pii(text) is mentions


def test_folded_names_are_one_locales_names_compared_without_case_or_accents() -> None:
    first, last = folded_names("es_ES")
    assert "jose" in first and "garcia" in last and "José" not in first
    assert folded_names("xx_XX") == folded_names("en_US")  # an unknown locale reads en_US
    assert fold("Straße") == "strasse" and fold("Prénom") == "prenom"
