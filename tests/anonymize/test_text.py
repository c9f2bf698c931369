"""Free text and JSON: identifiers inside text become exactly the fakes their rules give elsewhere, the
row's own values are replaced, and everything else is kept."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from anon_helpers import anonymize, column, table
from hypothesis import given, settings
from hypothesis import strategies as st
from support import luhn_check_digit

from data_pipeline.checksums import iban_check_digits
from data_pipeline.errors import BadInput
from data_pipeline.schema import Schema

CARD = "453201511283036" + luhn_check_digit("453201511283036")
IBAN = "DE" + iban_check_digits("DE", "370400440532013000") + "370400440532013000"
SPACED_CARD = " ".join(CARD[i : i + 4] for i in range(0, 16, 4))
SPACED_IBAN = " ".join(IBAN[i : i + 4] for i in range(0, len(IBAN), 4))

COLUMNS = {
    "first_name": {"class": "pii", "rule": "first_name"},
    "last_name": {"class": "pii", "rule": "last_name"},
    "email": {"class": "pii", "rule": "email"},
    "phone": {"class": "pii", "rule": "phone"},
    "card": {"class": "pii", "rule": "card_number"},
    "iban": {"class": "pii", "rule": "iban"},
    "notes": {"class": "pii", "rule": "free_text"},
}


@pytest.fixture
def shop() -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = pd.DataFrame({
        "first_name": ["Marguerite", "Jo"],
        "last_name": ["Okonkwo", "Li"],
        "email": ["m.okonkwo@mail.example", "jo@li.example"],
        "phone": ["+44 20 7946 0000", None],
        "card": [CARD, None],
        "iban": [IBAN, None],
        "notes": [
            f"Marguerite Okonkwo (m.okonkwo@mail.example, 020 7946 0000) paid order 1234567 on 2024-03-05 "
            f"with card {SPACED_CARD}; refund to {SPACED_IBAN} PLEASE.",
            "Jo asked about order 42. Call +1 (555) 010-1234.",
        ],
    })  # fmt: skip
    spec = table("people", *(column(c) for c in raw.columns))
    out = anonymize(Schema((spec,)), {"tables": {"people": {"columns": COLUMNS}}}, {"people": raw})["people"]
    return raw, out


def test_identifiers_in_text_become_the_fakes_of_their_rules(shop, run_rule) -> None:
    raw, out = shop
    note = out["notes"][0]
    assert out["email"][0] in note  # the same fake as the email column
    national = run_rule("phone", pd.Series(["020 7946 0000"]))[0]
    assert national in note  # what `phone` makes of that number written that way...
    assert national[1:].replace(" ", "") == out["phone"][0][4:].replace(" ", "")  # ...= the column's fake
    assert " ".join(out["card"][0][i : i + 4] for i in range(0, 16, 4)) in note  # spaced as in the text
    fake_iban = out["iban"][0]
    assert " ".join(fake_iban[i : i + 4] for i in range(0, len(fake_iban), 4)) + " PLEASE." in note
    for original in (raw["email"][0], "020 7946 0000", SPACED_CARD, SPACED_IBAN, CARD, IBAN):
        assert original not in note
    other_phone = run_rule("phone", pd.Series(["+1 (555) 010-1234"]))[0]
    assert out["notes"][1] == f"{out['first_name'][1]} asked about order 42. Call {other_phone}."


def test_the_rows_own_values_are_replaced_and_the_rest_kept(shop) -> None:
    raw, out = shop
    note = out["notes"][0]
    assert note.startswith(f"{out['first_name'][0]} {out['last_name'][0]} (")
    assert "Marguerite" not in note and "Okonkwo" not in note
    assert "paid order 1234567 on 2024-03-05 with card " in note  # order numbers and dates stay
    assert out["notes"][1].startswith(f"{out['first_name'][1]} asked")  # a known name, however short


def test_json_paths_get_their_rules_and_other_strings_are_scrubbed(run_rule) -> None:
    docs = pd.Series([
        json.dumps({"contact": {"email": "ann@x.example", "name": "Ann"},
                    "items": [{"email": "a@b.example"}, {"email": "c@d.example"}],
                    "note": "call 020 7946 0000", "count": 3}),
        {"contact": {"email": None}},
        "not json, mail me at ann@x.example",
    ])  # fmt: skip
    original_dict = json.dumps(docs[1])
    paths = {
        "contact.email": "email",
        "items.*.email": {"rule": "email", "keep_domain": True},
        "contact.name": "first_name",
    }
    out = run_rule("json", docs, paths=paths)
    first = json.loads(out[0])
    emails = run_rule("email", pd.Series(["ann@x.example", "a@b.example", "c@d.example"]))
    assert first["contact"]["email"] == emails[0]
    assert [item["email"].split("@")[1] for item in first["items"]] == ["b.example", "d.example"]
    assert first["contact"]["name"] != "Ann" and first["count"] == 3
    assert first["note"] == "call " + run_rule("phone", pd.Series(["020 7946 0000"]))[0]
    assert json.loads(out[1]) == {"contact": {"email": None}} and json.dumps(docs[1]) == original_dict
    assert out[2] == f"not json, mail me at {emails[0]}"


def test_json_path_rules_are_checked_when_the_policy_loads(run_rule) -> None:
    with pytest.raises(BadInput, match="unknown rule `nope`"):
        run_rule("json", pd.Series(["{}"]), paths={"a": "nope"})
    with pytest.raises(BadInput, match="has no option"):
        run_rule("json", pd.Series(["{}"]), paths={"a": {"rule": "email", "keep": True}})


def test_known_names_are_replaced_even_without_a_name_column(run_rule) -> None:
    """A ticket names its customer, whose name columns live in another table."""
    bodies = pd.Series(["Hi, this is Margaux Lebreton. Can you call me? My order is late. Thanks, Margaux"])
    out = run_rule("free_text", bodies)[0]
    first = run_rule("first_name", pd.Series(["Margaux"]))[0]
    last = run_rule("last_name", pd.Series(["Lebreton"]))[0]
    assert out == f"Hi, this is {first} {last}. Can you call me? My order is late. Thanks, {first}"
    assert run_rule("free_text", bodies, names=False)[0] == bodies[0]


def test_a_text_repeated_in_many_rows_names_the_same_people_in_each(run_rule) -> None:
    """Delivery notes repeat ("Leave at door, call Anna Smith"): each row's text becomes the same text as
    the one written alone, whether the notes around it repeat or not."""
    notes = [
        "Leave at door, call Anna Smith",
        None,
        "Leave at door, call Anna Smith",
        "Call Grace Hopper",
        "ok",
    ] * 3
    out = [n if isinstance(n, str) else None for n in run_rule("free_text", pd.Series(notes))]
    alone = [run_rule("free_text", pd.Series([n]))[0] if n else None for n in notes]
    assert out == alone
    assert "Anna" not in out[0] and "Grace" not in out[3] and out[4] == "ok"


def test_free_text_replaces_people_not_words(run_rule) -> None:
    """Ordinary capitalized words that some locale lists as a name stay; people are replaced."""
    words = "A Story of the Saga, set in India; the Grant was approved in May."
    assert run_rule("free_text", pd.Series([words]))[0] == words
    people = pd.Series([
        "Ann Lee, Bob Marsh & Carla Diaz will attend.",
        "Dear Mr Story, we met in India.",
        "Ask Ann, Bob and Carla. Regards, Anna",
    ])  # fmt: skip
    out = run_rule("free_text", people).tolist()
    names = ["Ann", "Bob", "Carla", "Anna"]
    first = dict(zip(names, run_rule("first_name", pd.Series(names)), strict=True))
    surnames = ["Lee", "Marsh", "Diaz", "Story"]
    last = dict(zip(surnames, run_rule("last_name", pd.Series(surnames)), strict=True))
    lee = run_rule("first_name", pd.Series(["Lee"]))[0]  # Lee is a first name somewhere too
    listed = f"{first['Ann']} {lee}, {first['Bob']} {last['Marsh']} & {first['Carla']} {last['Diaz']}"
    assert out[0] == f"{listed} will attend."
    assert out[1] == f"Dear Mr {last['Story']}, we met in India."
    assert out[2] == f"Ask {first['Ann']}, {first['Bob']} and {first['Carla']}. Regards, {first['Anna']}"


def test_surnames_outside_fakers_lists_are_replaced_in_text_and_json(run_rule) -> None:
    """A capitalized word after a known first name is a surname, known to Faker or not."""
    text = "Thanks, Margaux Zqwerty-Blom"
    out = run_rule("free_text", pd.Series([text]))[0]
    assert "Zqwerty" not in out and "Blom" not in out and "Margaux" not in out
    doc = json.dumps({"owner": "Hans-J. Zqwertinger", "tags": ["India", "Saga"]})
    got = json.loads(run_rule("json", pd.Series([doc]), paths={})[0])
    assert "Hans" not in got["owner"] and "Zqwertinger" not in got["owner"] and "-J. " in got["owner"]
    assert got["tags"] == ["India", "Saga"]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.text(max_size=20) | st.sampled_from(["acme", "ACME", "ǅ", "ß", "ﬁ", "123", "", "\x01"]), max_size=8
    )
)
def test_text_skipped_for_names_is_text_in_which_nobody_can_be_named(texts: list[str]) -> None:
    """NumPy picks, over a whole column, the texts `find_people` reads: it skips only those Python
    calls lowercase that hold no marker (find_people's own shortcut), for every script."""
    from data_pipeline.anonymize.text import _may_name_people

    for text, read in zip(texts, _may_name_people(texts), strict=True):
        assert read or (text.islower() and "\x01" not in text), text
