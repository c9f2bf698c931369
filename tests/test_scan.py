"""The scan must find the demo shop's personal data, in several languages, and say when unsure."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from faker import Faker
from support import luhn_check_digit

from data_pipeline.checksums import iban_check_digits, iban_valid, luhn_valid
from data_pipeline.demo import build_demo_source
from data_pipeline.scan import (
    classify_by_name,
    classify_by_values,
    policy_to_yaml,
    propose_policy,
)

KEY = {"class": "key", "rule": "keep"}
SAFE = {"class": "safe", "rule": "keep"}


def pii(rule: str) -> dict:
    return {"class": "pii", "rule": rule}


POSTAL = {"class": "pii", "rule": "postal_code"}
BIRTH = {"class": "quasi", "rule": "generalize_date", "to": "decade"}


@pytest.fixture(scope="module")
def demo_policy(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("scan") / "shop.db"
    build_demo_source(path, rows=300)
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        return propose_policy(engine)
    finally:
        engine.dispose()


def columns(policy: dict, table: str) -> dict[str, dict]:
    """Proposals without their review notes, which are free text."""
    cols = policy["tables"][table]["columns"]
    return {c: {k: v for k, v in spec.items() if k != "note"} for c, spec in cols.items()}


def sqlite_table(path: Path, name: str, cols: list[sa.Column], rows: list[dict]) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{path}")
    table = sa.Table(name, sa.MetaData(), *cols)
    with engine.begin() as conn:
        table.create(conn)
        if rows:
            conn.execute(table.insert(), rows)
    return engine


def test_demo_customers(demo_policy: dict) -> None:
    assert columns(demo_policy, "customers") == {
        "id": KEY,
        "first_name": pii("first_name"),
        "last_name": pii("last_name"),
        "email": pii("email"),
        "phone": pii("phone"),
        "street": pii("street_address"),
        "city": pii("city"),
        "postal_code": POSTAL,
        "country": SAFE,
        "birth_date": BIRTH,
        "created_at": SAFE,
    }


def test_demo_employees(demo_policy: dict) -> None:
    cols = columns(demo_policy, "employees")
    assert cols["first_name"] == pii("first_name") and cols["last_name"] == pii("last_name")
    assert cols["email"] == pii("email")
    assert cols["manager_id"] == KEY  # self-referencing FK
    assert cols["hired_on"] == SAFE and cols["title"] == SAFE
    assert cols["salary"] == {"class": "pii", "rule": "generalize_number", "bucket": 10000}


def test_demo_payments_tickets_and_orders(demo_policy: dict) -> None:
    pay = columns(demo_policy, "payments")
    assert pay["card_number"] == pii("card_number") and pay["iban"] == pii("iban")
    assert pay["order_id"] == KEY and pay["method"] == SAFE and pay["amount"] == SAFE
    tickets = columns(demo_policy, "support_tickets")
    assert tickets["body"] == pii("free_text") and tickets["subject"] == pii("free_text")
    assert tickets["customer_id"] == KEY and tickets["opened_at"] == SAFE
    orders = columns(demo_policy, "orders")
    assert orders["shipping_street"] == pii("street_address")
    assert orders["shipping_city"] == pii("city") and orders["shipping_postal_code"] == POSTAL
    assert columns(demo_policy, "order_items")["line_no"] == KEY  # part of the composite PK
    products = columns(demo_policy, "products")
    assert products["name"] == SAFE and products["sku"] == SAFE and products["price"] == SAFE


def test_no_demo_column_is_left_undecided(demo_policy: dict) -> None:
    undecided = [
        f"{t}.{c}"
        for t, spec in demo_policy["tables"].items()
        for c, col in spec["columns"].items()
        if col["class"] == "unknown"
    ]
    assert undecided == []
    assert demo_policy["version"] == 1 and demo_policy["locale"] == "en_US"


def test_odd_text_column_is_unknown_with_a_note(tmp_path: Path) -> None:
    fake = Faker("en_US")
    fake.seed_instance(3)
    rows = [{"id": i, "zq_fld": " ".join(fake.words(3))} for i in range(1, 61)]
    engine = sqlite_table(
        tmp_path / "odd.db",
        "misc",
        [sa.Column("id", sa.Integer, primary_key=True), sa.Column("zq_fld", sa.Text)],
        rows,
    )
    spec = propose_policy(engine)["tables"]["misc"]["columns"]["zq_fld"]
    assert spec["class"] == "unknown"
    assert "no name or value evidence" in spec["note"]


def test_german_column_names(tmp_path: Path) -> None:
    fake = Faker("de_DE")
    fake.seed_instance(5)
    rows = [
        {
            "kunden_nr": i,
            "vorname": fake.first_name(),
            "nachname": fake.last_name(),
            "Strasse": fake.street_address(),
            "PLZ": fake.postcode(),
            "ort": fake.city(),
            "Geburtsdatum": fake.date_of_birth(minimum_age=18, maximum_age=90),
            "telefon": fake.phone_number(),
            "E-Mail": fake.email(),
            "bemerkung": f"Bitte vor Lieferung anrufen: {fake.phone_number()}",
        }
        for i in range(1, 41)
    ]
    cols = [sa.Column("kunden_nr", sa.Integer, primary_key=True)] + [
        sa.Column(name, sa.Date if name == "Geburtsdatum" else sa.String(200))
        for name in rows[0]
        if name != "kunden_nr"
    ]
    engine = sqlite_table(tmp_path / "de.db", "kunden", cols, rows)
    got = columns(propose_policy(engine, locale="de_DE"), "kunden")
    assert got == {
        "kunden_nr": KEY,
        "vorname": pii("first_name"),
        "nachname": pii("last_name"),
        "Strasse": pii("street_address"),
        "PLZ": POSTAL,
        "ort": pii("city"),
        "Geburtsdatum": BIRTH,
        "telefon": pii("phone"),
        "E-Mail": pii("email"),
        "bemerkung": pii("free_text"),
    }


def test_values_decide_when_names_say_nothing(tmp_path: Path) -> None:
    fake = Faker("en_US")
    fake.seed_instance(11)
    rows = []
    for i in range(1, 41):
        payload = f"4{i:014d}"
        bban = f"{37040044 + i:08d}{i:010d}"
        rows.append(
            {
                "id": i,
                "c1": f"user{i}@example.org",
                "c2": payload + luhn_check_digit(payload),
                "c3": "DE" + iban_check_digits("DE", bban) + bban,
                "c4": f"+1-555-{i:03d}-{1000 + i}",
                "c5": fake.name().replace("Mr. ", "").replace("Dr. ", ""),
                "c6": f"Customer wrote from c{i}@example.com about the delay.",
                "c7": fake.date_of_birth(minimum_age=20, maximum_age=80),
            }
        )
    cols = [sa.Column("id", sa.Integer, primary_key=True)] + [
        sa.Column(f"c{k}", sa.Date if k == 7 else sa.Text) for k in range(1, 8)
    ]
    engine = sqlite_table(tmp_path / "values.db", "t", cols, rows)
    got = columns(propose_policy(engine), "t")
    assert got["c1"] == pii("email") and got["c2"] == pii("card_number")
    assert got["c3"] == pii("iban") and got["c4"] == pii("phone")
    assert got["c5"] == pii("full_name") and got["c6"] == pii("free_text")
    assert got["c7"] == BIRTH


def test_keys_and_contradicting_values(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    md = sa.MetaData()
    countries = sa.Table("countries", md, sa.Column("iso", sa.String(2), primary_key=True))
    people = sa.Table(
        "people", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("country_iso", sa.String(2), sa.ForeignKey("countries.iso")),
        sa.Column("phone", sa.String(10)),
        sa.Column("notes", sa.Text),
    )  # fmt: skip
    with engine.begin() as conn:
        md.create_all(conn)
        conn.execute(countries.insert(), [{"iso": "DE"}, {"iso": "FR"}])
        conn.execute(
            people.insert(),
            [{"id": i, "country_iso": "DE", "phone": "yes" if i % 2 else "no",
              "notes": "all emails"} for i in range(1, 31)],
        )  # fmt: skip
    policy = propose_policy(engine)
    assert columns(policy, "countries")["iso"] == KEY  # codes identify rows, not people (and a token
    got = columns(policy, "people")  # would not fit VARCHAR(2))
    assert got["id"] == KEY
    assert got["country_iso"] == KEY  # an FK maps like its key
    assert got["phone"]["class"] == "unknown"  # named phone, holds yes/no: a person must look
    assert "phone" in policy["tables"]["people"]["columns"]["phone"]["note"]
    assert got["notes"] == pii("free_text")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("first_name", "first_name"), ("firstName", "first_name"), ("Vorname", "first_name"),
        ("prénom", "first_name"), ("nombre", "first_name"), ("voornaam", "first_name"),
        ("last_name", "last_name"), ("Nachname", "last_name"), ("nom", "last_name"),
        ("apellido", "last_name"), ("achternaam", "last_name"), ("customer_name", "full_name"),
        ("email", "email"), ("E-Mail", "email"), ("courriel", "email"), ("correo", "email"),
        ("email_address", "email"), ("phone", "phone"), ("Telefon", "phone"),
        ("telephone", "phone"), ("tel", "phone"), ("mobile", "phone"), ("handy", "phone"),
        ("phone_2", "phone"), ("street", "street_address"), ("Straße", "street_address"),
        ("rue", "street_address"), ("calle", "street_address"), ("address_line1", "street_address"),
        ("city", "city"), ("Ort", "city"), ("stadt", "city"), ("ville", "city"),
        ("ciudad", "city"), ("zip", "postal_code"), ("PLZ", "postal_code"),
        ("code_postal", "postal_code"), ("postal_code", "postal_code"), ("dob", "birth_date"),
        ("Geburtsdatum", "birth_date"), ("date_naissance", "birth_date"),
        ("birthDate", "birth_date"), ("iban", "iban"), ("card_number", "card_number"),
        ("pan", "card_number"), ("credit_card", "card_number"), ("ssn", "national_id"),
        ("notes", "free_text"), ("comment", "free_text"), ("body", "free_text"),
        ("description", "free_text"), ("Bemerkung", "free_text"), ("ip_address", "ip_address"),
        ("created_at", "event_time"), ("hired_on", "event_time"), ("status", "safe"),
        ("phone_type", "safe"), ("unit_price", "safe"), ("name", "ambiguous_name"),
        ("title", "ambiguous_name"), ("zq_fld", None), ("email_verified", None),
    ],
)  # fmt: skip
def test_classify_by_name(name: str, kind: str | None) -> None:
    assert classify_by_name(name) == kind


def test_classify_by_values() -> None:
    assert classify_by_values(["a.b@example.com", "c@d.org"]) == "email"
    assert classify_by_values(["+1-555-123-4567", "(555) 123-4567", "+44 20 7946 0958"]) == "phone"
    assert classify_by_values(["4111 1111 1111 1111", "5500000000000004"]) == "card_number"
    assert classify_by_values(["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432"]) == "iban"
    assert classify_by_values(["4111111111111111"], family="integer") == "card_number"
    assert classify_by_values(["Please call me on +49 30 1234567 today."]) == "free_text"
    assert classify_by_values(["James Smith", "Mary Johnson", "Linda Brown"]) == "full_name"
    assert classify_by_values(["James", "Mary", "Robert"]) == "first_name"
    assert classify_by_values(["ocean table", "quiet lamp", "green river"]) is None
    assert classify_by_values(["Order 12 shipped", "Order 13 delayed"]) is None
    assert classify_by_values(["25.99", "1234567.50"]) is None  # amounts are not phones
    birthdays = [dt.date(1950 + i, 1 + i % 12, 1 + i) for i in range(25)]
    assert classify_by_values(birthdays, family="date") == "birth_date"
    assert classify_by_values(["1980-05-01", "1975-12-24"], family="date") == "birth_date"
    recent = [dt.date.today() - dt.timedelta(days=i) for i in range(25)]
    assert classify_by_values(recent, family="date") is None
    events = ["2015-02-06 23:20:31", "2016-07-01 08:00:12"]
    assert classify_by_values(events, family="datetime") is None
    assert classify_by_values([], family="string") is None


def test_policy_yaml_round_trips_with_review_header(demo_policy: dict) -> None:
    text = policy_to_yaml(demo_policy)
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert header and "scan" in header[0] and any("review" in line for line in header)
    assert yaml.safe_load(text) == demo_policy
    assert list(yaml.safe_load(text)) == ["version", "locale", "tables"]
    assert "      id: {class: key, rule: keep}" in text.splitlines()


@pytest.mark.parametrize(
    "number", ["4111111111111111", "4111 1111 1111 1111", "79927398713", "5500-0000-0000-0004"]
)
def test_luhn_valid(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["4111111111111112", "79927398710", "", "7", "4111x11111111111"])
def test_luhn_invalid(number: str) -> None:
    assert not luhn_valid(number)


@pytest.mark.parametrize(
    "iban",
    ["DE89370400440532013000", "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432",
     "gb82 west 1234 5698 7654 32", "FR1420041010050500013M02606", "NL91ABNA0417164300"],
)  # fmt: skip
def test_iban_valid(iban: str) -> None:
    assert iban_valid(iban)


@pytest.mark.parametrize(
    "iban",
    ["DE88370400440532013000", "DE893704004405320130001", "GB82WEST1234569876543X", "", "DE89",
     "not an iban at all", "XX00000000000000000"],
)  # fmt: skip
def test_iban_invalid(iban: str) -> None:
    assert not iban_valid(iban)


def test_iban_check_digits_make_valid_ibans() -> None:
    assert iban_check_digits("DE", "370400440532013000") == "89"
    assert iban_check_digits("GB", "WEST12345698765432") == "82"
    for country, bban in [("FR", "20041010050500013M02606"), ("DE", "000000000000000001")]:
        assert iban_valid(country + iban_check_digits(country, bban) + bban)
