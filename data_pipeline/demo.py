"""Demo "production" database: a realistic SQLite shop full of fake personal data.

It is the source the pipeline is developed, tested and benchmarked against, so it has what real
sources have: PK/FK/UNIQUE constraints, NULLs, mixed phone formats, checksum-valid card numbers and
IBANs, and free text repeating the customer's own details. Values are drawn with numpy from pools
Faker fills once (never Faker per row): a million customers take minutes; a seed fixes the data.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from faker import Faker

from data_pipeline.checksums import iban_check_digits

CHUNK_ROWS = 50_000

_NAMING = {
    "pk": "pk_%(table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "ix": "ix_%(table_name)s_%(column_0_name)s",
}
_START = np.datetime64("2015-01-01T00:00:00", "s")
_END = np.datetime64("2025-06-30T23:59:59", "s")
_DAY = 86_400
_COUNTRIES = ("US", "GB", "DE", "FR")
_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR")
_COUNTRY_SHARE = (0.55, 0.15, 0.15, 0.15)
_EMAIL_DOMAINS = np.array(
    ["example.com", "example.org", "example.net", "mail.example", "post.example"], dtype=object
)
_CATEGORIES: dict[str, tuple[str, ...]] = {
    "Books": ("Novel", "Cookbook", "Atlas", "Notebook", "Biography"),
    "Electronics": ("Headphones", "Charger", "Speaker", "Keyboard", "Monitor"),
    "Garden": ("Hose", "Planter", "Rake", "Lantern", "Bird Feeder"),
    "Toys": ("Puzzle", "Building Set", "Plush Bear", "Kite", "Board Game"),
    "Kitchen": ("Kettle", "Chef Knife", "Frying Pan", "Teapot", "Cutting Board"),
    "Sports": ("Yoga Mat", "Water Bottle", "Football", "Dumbbell", "Tennis Racket"),
    "Clothing": ("T-Shirt", "Hoodie", "Rain Jacket", "Scarf", "Socks"),
    "Beauty": ("Face Cream", "Shampoo", "Lip Balm", "Hand Soap", "Perfume"),
    "Office": ("Desk Lamp", "Stapler", "Fountain Pen", "Folder", "Desk Chair"),
    "Pet Supplies": ("Dog Leash", "Cat Tree", "Pet Bed", "Chew Toy", "Food Bowl"),
}
_ADJECTIVES = np.array(
    ["Classic", "Deluxe", "Compact", "Eco", "Premium", "Vintage", "Smart", "Ultra", "Basic", "Pro"],
    dtype=object,
)
_VARIANTS = np.array(["", " S", " M", " L", " XL", " Mini", " Max", " 2-Pack", " Gen 2"], dtype=object)
_TITLES = np.array(
    ["Sales Associate", "Customer Service Representative", "Warehouse Clerk", "Store Manager",
     "Account Manager", "Logistics Coordinator", "Marketing Specialist", "Software Engineer",
     "Finance Analyst", "HR Generalist", "Team Lead"],
    dtype=object,
)  # fmt: skip
_CHIEFS = ("Chief Executive Officer", "Chief Operating Officer", "Chief Financial Officer")
_ORDER_STATUS = (("delivered", "shipped", "pending", "cancelled", "returned"),
                 (0.80, 0.06, 0.04, 0.06, 0.04))  # fmt: skip
_TICKET_STATUS = (("open", "pending", "closed"), (0.15, 0.15, 0.70))
_GB_BANKS = np.array(["NWBK", "BARC", "LOYD", "HBUK", "MIDL", "NAIA"], dtype=object)

# Phone formats per country: str.format templates and the integer parts they are filled with.
_PHONES: dict[str, tuple[tuple[str, ...], tuple[range | tuple[int, ...], ...]]] = {
    "US": (("+1-{0}-{1}-{2:04d}", "({0}) {1}-{2:04d}", "{0}.{1}.{2:04d}", "+1 {0} {1} {2:04d}"),
           (range(201, 990), range(200, 1000), range(0, 10_000))),
    "GB": (("+44 20 {0} {1:04d}", "020 {0} {1:04d}", "+44 7{2} {3:06d}", "07{2} {3:06d}"),
           (range(3000, 9000), range(0, 10_000), range(100, 1000), range(0, 1_000_000))),
    "DE": (("+49 {0} {1}", "0{0} {1}", "+49 (0){0} {1}", "0{0}/{1}"),
           ((30, 40, 69, 89, 211, 221, 711, 151, 160, 170, 176), range(100_000, 100_000_000))),
    "FR": (("+33 {0} {1:02d} {2:02d} {3:02d} {4:02d}", "0{0} {1:02d} {2:02d} {3:02d} {4:02d}",
            "0{0}.{1:02d}.{2:02d}.{3:02d}.{4:02d}"),
           (range(1, 8), range(0, 100), range(0, 100), range(0, 100), range(0, 100))),
}  # fmt: skip

_SUBJECTS = (
    "Where is my order {order}?", "Refund for order {order}", "Cannot log in",
    "Wrong item received", "Change of address", "Invoice for order {order}", "Payment failed",
    "Question about my account",
)  # fmt: skip
# Ticket bodies: most repeat the customer's own details, some another person's, some none at all.
_BODIES = (
    "Hi, this is {name}. Please call me back at {phone} or write to {email} about order {order}.",
    "Hello, order {order} has not arrived yet. You can reach me at {email}. Thanks, {name}",
    "Dear support, I was charged twice for order {order}. My phone number is {phone}. {first}",
    "Please change my email address from {email} to {other_email}. Regards, {name}",
    "My neighbour {other_name} will pick up order {order}, his number is {other_phone}.",
    "The parcel for order {order} arrived damaged. Photos attached.",
    "Can you cancel order {order}? I no longer need it.",
    "I cannot log in with {email}, please reset my password.",
    "Bonjour, je n'ai pas reçu la commande {order}. Merci de me rappeler au {phone}. {name}",
    "Hallo, bitte rufen Sie mich unter {phone} wegen Bestellung {order} an. Gruß, {name}",
)
_FALLBACK_BODY = 1  # used instead of a phone template when the customer has no phone


def demo_metadata() -> sa.MetaData:
    """Schema of the demo shop; exported so tests and tools share one definition."""
    md = sa.MetaData(naming_convention=_NAMING)
    sa.Table(
        "products", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sku", sa.String(20), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("category", sa.String(40), nullable=True),
        sa.Column("price", sa.Numeric(10, 2), nullable=False),
    )  # fmt: skip
    sa.Table(
        "customers", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("first_name", sa.String(50), nullable=False),
        sa.Column("last_name", sa.String(50), nullable=False),
        sa.Column("email", sa.String(120), nullable=False, unique=True),
        sa.Column("phone", sa.String(30), nullable=True),
        sa.Column("street", sa.String(120), nullable=True),
        sa.Column("city", sa.String(60), nullable=True),
        sa.Column("postal_code", sa.String(12), nullable=True),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("birth_date", sa.Date, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )  # fmt: skip
    sa.Table(
        "employees", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("first_name", sa.String(50), nullable=False),
        sa.Column("last_name", sa.String(50), nullable=False),
        sa.Column("email", sa.String(120), nullable=False, unique=True),
        sa.Column("title", sa.String(60), nullable=True),
        sa.Column("manager_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=True),
        sa.Column("hired_on", sa.Date, nullable=False),
        sa.Column("salary", sa.Numeric(10, 2), nullable=True),
    )  # fmt: skip
    sa.Table(
        "orders", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False,
                  index=True),
        sa.Column("employee_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=True),
        sa.Column("ordered_at", sa.DateTime, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("shipping_street", sa.String(120), nullable=True),
        sa.Column("shipping_city", sa.String(60), nullable=True),
        sa.Column("shipping_postal_code", sa.String(12), nullable=True),
        sa.Column("total", sa.Numeric(12, 2), nullable=False),
    )  # fmt: skip
    sa.Table(
        "order_items", md,
        sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True),
        sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), nullable=False,
                  index=True),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price", sa.Numeric(10, 2), nullable=False),
    )  # fmt: skip
    sa.Table(
        "payments", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), nullable=False, index=True),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("card_number", sa.String(19), nullable=True),
        sa.Column("iban", sa.String(34), nullable=True),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("paid_at", sa.DateTime, nullable=False),
    )  # fmt: skip
    sa.Table(
        "support_tickets", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False,
                  index=True),
        sa.Column("opened_at", sa.DateTime, nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
    )  # fmt: skip
    return md


# ---------------------------------------------------------------------------------------- pools


@dataclass(frozen=True)
class _Pool:
    """Faker-made values of one country; slugs are the ASCII forms used in email addresses."""

    first: np.ndarray
    last: np.ndarray
    first_slug: np.ndarray
    last_slug: np.ndarray
    streets: np.ndarray
    cities: np.ndarray
    postcodes: np.ndarray


def _slug(name: str) -> str:
    """ASCII letters only, so 'José-Marie O'Neil' can appear in an email address."""
    plain = unicodedata.normalize("NFKD", name.replace("ß", "ss")).encode("ascii", "ignore")
    return "".join(ch for ch in plain.decode().lower() if "a" <= ch <= "z") or "user"


def _objects(values: list[Any]) -> np.ndarray:
    """1-D object array; np.array would turn a list of str into a fixed-width unicode array."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _distinct(make: Any, count: int, max_len: int) -> np.ndarray:
    """`count` Faker draws, deduplicated in draw order and cut to what the columns can hold."""
    values = dict.fromkeys(v for v in (make() for _ in range(count)) if len(v) <= max_len)
    return _objects(list(values))


def _build_pools(seed: int) -> list[_Pool]:
    """One pool per country, built once; the Faker seed makes the pools part of the seeded data."""
    pools = []
    for i, locale in enumerate(_LOCALES):
        person = importlib.import_module(f"faker.providers.person.{locale}").Provider
        first = [n for n in dict.fromkeys(person.first_names) if len(n) <= 50]
        last = [n for n in dict.fromkeys(person.last_names) if len(n) <= 50]
        fake = Faker(locale)
        fake.seed_instance(seed * 10 + i)
        pools.append(
            _Pool(
                first=_objects(first),
                last=_objects(last),
                first_slug=_objects([_slug(n) for n in first]),
                last_slug=_objects([_slug(n) for n in last]),
                streets=_distinct(fake.street_name, 2000, 100),
                cities=_distinct(fake.city, 600, 60),
                postcodes=_distinct(fake.postcode, 1000, 12),
            )
        )
    return pools


# ------------------------------------------------------------------------------------ helpers


def _draw(rng: np.random.Generator, spec: range | tuple[int, ...], n: int) -> list[int]:
    if isinstance(spec, range):
        return rng.integers(spec.start, spec.stop, n).tolist()
    return rng.choice(np.array(spec), n).tolist()


def _phones(rng: np.random.Generator, country: str, n: int) -> np.ndarray:
    """Phone numbers in the formats people type them in that country."""
    formats, parts = _PHONES[country]
    style = rng.integers(0, len(formats), n).tolist()
    drawn = [_draw(rng, p, n) for p in parts]
    return _objects([formats[s].format(*vals) for s, *vals in zip(style, *drawn, strict=True)])


def _addresses(
    rng: np.random.Generator, ci: int, pool: _Pool, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Street, city and postal code in the country's usual order and postal code shape."""
    country = _COUNTRIES[ci]
    numbers = rng.integers(1, 300, n).tolist()
    streets = pool.streets[rng.integers(0, len(pool.streets), n)].tolist()
    if country == "DE":
        street = [f"{s} {h}" for s, h in zip(streets, numbers, strict=True)]
    else:
        street = [f"{h} {s}" for s, h in zip(streets, numbers, strict=True)]
    city = pool.cities[rng.integers(0, len(pool.cities), n)]
    if country == "GB":
        postal = pool.postcodes[rng.integers(0, len(pool.postcodes), n)]
    else:
        low = {"US": 501, "DE": 1067, "FR": 1000}[country]
        postal = _objects([f"{p:05d}" for p in rng.integers(low, 99_000, n).tolist()])
    return _objects(street), city, postal


def _sorted_times(rng: np.random.Generator, n: int, start: np.datetime64) -> np.ndarray:
    """Uniform timestamps in [start, _END], ascending, so ids grow with time as in real systems."""
    span = int((_END - start) / np.timedelta64(1, "s"))
    return start + np.sort(rng.integers(0, span, n)).astype("timedelta64[s]")


def _existing(rng: np.random.Generator, created: np.ndarray, at: np.ndarray) -> np.ndarray:
    """For each time in `at`, a random 1-based id among the rows created by then (0 if none)."""
    known = np.searchsorted(created, at, side="right")
    return np.where(known > 0, 1 + (rng.random(len(at)) * known).astype(np.int64), 0)


def _money(cents: np.ndarray) -> np.ndarray:
    return np.round(cents / 100, 2)


def _py(values: Any) -> list[Any]:
    """A column slice as Python values SQLite takes: ISO text for dates, None for masked/NaT."""
    if isinstance(values, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(values).tolist()
        plain = _py(values.data)
        return [None if m else v for v, m in zip(plain, mask, strict=True)]
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        day = values.dtype == np.dtype("datetime64[D]")
        text = np.datetime_as_string(values, unit="D" if day else "s")
        if not day:
            text = np.strings.replace(text, "T", " ")
        return [None if t == "NaT" else t for t in text.tolist()]
    if isinstance(values, np.ndarray):
        return values.tolist()
    return list(values)


# --------------------------------------------------------------------------------- generators


class _Shop:
    """Generates the tables in FK order; later tables draw from the arrays of earlier ones."""

    def __init__(self, rows: int, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.pools = _build_pools(seed)
        self.rows = rows

    def _names(self, n: int) -> dict[str, np.ndarray]:
        rng = self.rng
        country = rng.choice(len(_COUNTRIES), n, p=_COUNTRY_SHARE)
        out = {k: np.empty(n, dtype=object) for k in ("first", "last", "fs", "ls")}
        for ci, pool in enumerate(self.pools):
            idx = np.flatnonzero(country == ci)
            fi = rng.integers(0, len(pool.first), len(idx))
            li = rng.integers(0, len(pool.last), len(idx))
            out["first"][idx], out["fs"][idx] = pool.first[fi], pool.first_slug[fi]
            out["last"][idx], out["ls"][idx] = pool.last[li], pool.last_slug[li]
        out["country"] = country
        return out

    def products(self) -> dict[str, Any]:
        rng, n = self.rng, max(50, self.rows // 20)
        names = list(_CATEGORIES)
        cat = rng.integers(0, len(names), n)
        pick = rng.integers(0, 5, n).tolist()
        nouns = [_CATEGORIES[names[c]][k] for c, k in zip(cat.tolist(), pick, strict=True)]
        adjective = _ADJECTIVES[rng.integers(0, len(_ADJECTIVES), n)].tolist()
        variant = _VARIANTS[rng.integers(0, len(_VARIANTS), n)].tolist()
        ids = np.arange(1, n + 1)
        category = _objects([names[c] for c in cat.tolist()])
        category[rng.random(n) < 0.05] = None
        cents = np.exp(rng.normal(np.log(2500), 0.8, n)).clip(99, 200_000).astype(np.int64)
        self.price_cents = cents // 100 * 100 + 99
        self.popularity = 1 / (np.arange(n) + 10.0)
        self.popularity /= self.popularity.sum()
        return {
            "id": ids,
            "sku": _objects([f"{names[c][:3].upper()}-{i:07d}" for c, i in
                             zip(cat.tolist(), ids.tolist(), strict=True)]),
            "name": _objects([f"{a} {w}{v}" for a, w, v in
                              zip(adjective, nouns, variant, strict=True)]),
            "category": category,
            "price": _money(self.price_cents),
        }  # fmt: skip

    def customers(self) -> dict[str, Any]:
        rng, n = self.rng, self.rows
        people = self._names(n)
        ids = np.arange(1, n + 1)
        phone = np.empty(n, dtype=object)
        street, city, postal = (np.empty(n, dtype=object) for _ in range(3))
        for ci, pool in enumerate(self.pools):
            idx = np.flatnonzero(people["country"] == ci)
            phone[idx] = _phones(rng, _COUNTRIES[ci], len(idx))
            street[idx], city[idx], postal[idx] = _addresses(rng, ci, pool, len(idx))
        phone[rng.random(n) < 0.10] = None
        no_address = rng.random(n) < 0.05
        street[no_address], city[no_address], postal[no_address] = None, None, None
        style = rng.integers(0, 3, n).tolist()
        domain = _EMAIL_DOMAINS[rng.integers(0, len(_EMAIL_DOMAINS), n)].tolist()
        # The id as the trailing digits keeps every address unique whatever the names are.
        email = [
            (f"{f}.{s}{i}" if p == 0 else f"{f[0]}{s}{i}" if p == 1 else f"{f}_{s}{i}") + "@" + d
            for f, s, i, p, d in zip(people["fs"].tolist(), people["ls"].tolist(), ids.tolist(),
                                     style, domain, strict=True)
        ]  # fmt: skip
        born = np.datetime64("1940-01-01") + rng.integers(0, 67 * 365, n).astype("timedelta64[D]")
        created = _sorted_times(rng, n, _START)
        created[0] = _START  # every later order/ticket finds at least one customer
        self.customer = {
            "first": people["first"], "last": people["last"], "email": _objects(email),
            "phone": phone, "street": street, "city": city, "postal": postal,
            "country": people["country"], "created": created,
        }  # fmt: skip
        return {
            "id": ids,
            "first_name": people["first"],
            "last_name": people["last"],
            "email": self.customer["email"],
            "phone": phone,
            "street": street,
            "city": city,
            "postal_code": postal,
            "country": _objects([_COUNTRIES[c] for c in people["country"].tolist()]),
            "birth_date": np.ma.masked_array(born, mask=rng.random(n) < 0.15),
            "created_at": created,
        }

    def employees(self) -> dict[str, Any]:
        rng, n = self.rng, max(10, self.rows // 50)
        people = self._names(n)
        ids = np.arange(1, n + 1)
        first_day, last_day = np.datetime64("2010-01-01"), np.datetime64("2025-06-01")
        span = (last_day - first_day).astype(np.int64)
        hired = first_day + np.sort(rng.integers(0, span, n)).astype("timedelta64[D]")
        self.hired = hired
        chiefs = len(_CHIEFS)
        manager = 1 + (rng.random(n) * np.maximum(ids - 1, 1)).astype(np.int64)
        title = _TITLES[rng.integers(0, len(_TITLES), n)]
        title[rng.random(n) < 0.10] = None
        title[:chiefs] = _objects(list(_CHIEFS))
        salary = np.round(np.exp(rng.normal(np.log(52_000), 0.3, n)), 2)
        salary[:chiefs] *= 4
        return {
            "id": ids,
            "first_name": people["first"],
            "last_name": people["last"],
            "email": _objects([f"{f}.{s}{i}@staff.example.com" for f, s, i in
                               zip(people["fs"].tolist(), people["ls"].tolist(), ids.tolist(),
                                   strict=True)]),
            "title": title,
            "manager_id": np.ma.masked_array(manager, mask=ids <= chiefs),
            "hired_on": hired,
            "salary": np.ma.masked_array(salary, mask=rng.random(n) < 0.10),
        }  # fmt: skip

    def orders(self) -> dict[str, dict[str, Any]]:
        """Orders with their items and payments, which share the order totals and times."""
        rng, n, c = self.rng, self.rows * 2, self.customer
        ids = np.arange(1, n + 1)
        ordered = _sorted_times(rng, n, _START + np.timedelta64(1, "D"))
        customer = np.maximum(_existing(rng, c["created"], ordered), 1)
        employee = _existing(rng, self.hired, ordered.astype("datetime64[D]"))
        ci = customer - 1
        # Most ship to the customer's address, some as gifts to another customer's, some nowhere.
        ship = np.where(rng.random(n) < 0.15, rng.integers(0, len(c["email"]), n), ci)
        nowhere = rng.random(n) < 0.05
        shipping = {}
        for col, key in (("street", "street"), ("city", "city"), ("postal_code", "postal")):
            values = c[key][ship]
            values[nowhere] = None
            shipping[f"shipping_{col}"] = values
        status, p = _ORDER_STATUS
        items, total_cents = self._items(ids)
        walk_in = rng.random(n) < 0.3  # web orders have no employee
        orders = {
            "id": ids,
            "customer_id": customer,
            "employee_id": np.ma.masked_array(employee, mask=(employee == 0) | walk_in),
            "ordered_at": ordered,
            "status": np.array(status, dtype=object)[rng.choice(len(status), n, p=p)],
            **shipping,
            "total": _money(total_cents),
        }  # fmt: skip
        payments = self._payments(ids, c["country"][ci], ordered, total_cents)
        return {"orders": orders, "order_items": items, "payments": payments}

    def _items(self, order_ids: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
        rng, n = self.rng, len(order_ids)
        lines = rng.choice(np.arange(1, 5), n, p=(0.45, 0.30, 0.15, 0.10))
        order_of_line = np.repeat(order_ids, lines)
        total = len(order_of_line)
        line_no = np.arange(total) - np.repeat(np.cumsum(lines) - lines, lines) + 1
        product = rng.choice(len(self.price_cents), total, p=self.popularity) + 1
        quantity = rng.choice(np.arange(1, 6), total, p=(0.6, 0.2, 0.1, 0.06, 0.04))
        unit = self.price_cents[product - 1]
        unit = np.where(rng.random(total) < 0.1, unit * 9 // 10, unit)
        totals = np.bincount(order_of_line - 1, weights=quantity * unit, minlength=n)
        items = {
            "order_id": order_of_line,
            "line_no": line_no,
            "product_id": product,
            "quantity": quantity,
            "unit_price": _money(unit),
        }
        return items, totals.astype(np.int64)

    def _payments(
        self, order_ids: np.ndarray, country: np.ndarray, ordered: np.ndarray, cents: np.ndarray
    ) -> dict[str, Any]:
        rng, n = self.rng, len(order_ids)
        card = rng.random(n) < 0.75
        numbers = _card_numbers(rng, int(card.sum()))
        spaced = rng.random(len(numbers)) < 0.2
        numbers[spaced] = _objects([" ".join(s[i : i + 4] for i in range(0, 16, 4)) for s in numbers[spaced]])
        card_col = np.full(n, None, dtype=object)
        card_col[card] = numbers
        iban_col = np.full(n, None, dtype=object)
        idx = np.flatnonzero(~card)
        iban_col[idx] = _ibans(rng, country[idx])
        delay = rng.integers(0, 2 * _DAY, n).astype("timedelta64[s]")
        return {
            "id": order_ids.copy(),
            "order_id": order_ids,
            "method": np.array(["iban", "card"], dtype=object)[card.astype(np.int64)],
            "card_number": card_col,
            "iban": iban_col,
            "amount": _money(cents),
            "paid_at": ordered + delay,
        }

    def support_tickets(self, order_count: int) -> dict[str, Any]:
        rng, n, c = self.rng, self.rows // 2, self.customer
        opened = _sorted_times(rng, n, _START + np.timedelta64(2, "D"))
        customer = np.maximum(_existing(rng, c["created"], opened), 1)
        ci = customer - 1
        phone = c["phone"][ci]
        body_idx = rng.integers(0, len(_BODIES), n)
        needs_phone = np.array(["{phone}" in b for b in _BODIES])
        no_phone = np.array([p is None for p in phone.tolist()], dtype=bool)
        body_idx = np.where(needs_phone[body_idx] & no_phone, _FALLBACK_BODY, body_idx)
        others = self._names(n)
        other_email = [f"{f}.{s}@example.net" for f, s in
                       zip(others["fs"].tolist(), others["ls"].tolist(), strict=True)]  # fmt: skip
        other_phone = _phones(rng, "US", n).tolist()
        order = rng.integers(1, order_count + 1, n).tolist()
        first, last = c["first"][ci].tolist(), c["last"][ci].tolist()
        body = [
            _BODIES[b].format(
                name=f"{f} {la}", first=f, email=e, phone=p, order=o, other_email=oe,
                other_phone=op, other_name=f"{of} {ol}",
            )
            for b, f, la, e, p, o, oe, op, of, ol in zip(
                body_idx.tolist(), first, last, c["email"][ci].tolist(), phone.tolist(), order,
                other_email, other_phone, others["first"].tolist(), others["last"].tolist(),
                strict=True,
            )
        ]  # fmt: skip
        subject_idx = rng.integers(0, len(_SUBJECTS), n).tolist()
        status, p = _TICKET_STATUS
        return {
            "id": np.arange(1, n + 1),
            "customer_id": customer,
            "opened_at": opened,
            "subject": _objects([_SUBJECTS[s].format(order=o) for s, o in
                                 zip(subject_idx, order, strict=True)]),
            "body": _objects(body),
            "status": np.array(status, dtype=object)[rng.choice(len(status), n, p=p)],
        }  # fmt: skip


def _card_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """16-digit Visa/Mastercard-shaped numbers with a Luhn check digit, computed vectorized."""
    payload = rng.integers(0, 10, (n, 15), dtype=np.int64)
    mastercard = rng.random(n) < 0.4
    payload[:, 0] = np.where(mastercard, 5, 4)
    payload[mastercard, 1] = rng.integers(1, 6, int(mastercard.sum()))
    doubled = payload.copy()
    doubled[:, 14::-2] *= 2  # the rightmost payload digit and every second one to its left
    doubled[doubled > 9] -= 9
    check = (10 - doubled.sum(axis=1) % 10) % 10
    number = payload @ (10 ** np.arange(15, 0, -1, dtype=np.int64)) + check
    return _objects([f"{x:016d}" for x in number.tolist()])


def _ibans(rng: np.random.Generator, country: np.ndarray) -> list[str]:
    """Checksum-valid IBANs of the customer's country (US customers pay from German accounts)."""
    n = len(country)
    a = rng.integers(10_000_000, 100_000_000, n).tolist()
    b = rng.integers(0, 10**10, n).tolist()
    c = rng.integers(0, 10**11, n).tolist()
    bank = _GB_BANKS[rng.integers(0, len(_GB_BANKS), n)].tolist()
    spaced = (rng.random(n) < 0.2).tolist()
    out = []
    for ci, x, y, z, gb_bank, sp in zip(country.tolist(), a, b, c, bank, spaced, strict=True):
        code = _COUNTRIES[ci]
        if code == "GB":
            bban = f"{gb_bank}{x % 1_000_000:06d}{y % 10**8:08d}"
        elif code == "FR":
            bank_code, branch = x // 1000, y % 100_000
            rib = 97 - (89 * bank_code + 15 * branch + 3 * z) % 97
            bban = f"{bank_code:05d}{branch:05d}{z:011d}{rib:02d}"
        else:
            code, bban = "DE", f"{x:08d}{y:010d}"
        iban = code + iban_check_digits(code, bban) + bban
        out.append(" ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if sp else iban)
    return out


# -------------------------------------------------------------------------------------- write


def _insert(conn: sa.Connection, table: sa.Table, columns: Mapping[str, Any]) -> int:
    """Bulk-insert through the driver's executemany in chunks, inside the caller's transaction.

    Plain tuples, not Core's `conn.execute(table.insert(), dicts)`: its per-value type processing
    costs more and also wants date objects instead of the ISO text SQLite stores anyway.
    """
    names = [c.name for c in table.columns]
    if set(names) != set(columns):
        raise ValueError(f"{table.name}: generated columns do not match the schema")
    sql = str(table.insert().compile(dialect=conn.dialect))
    cursor = conn.connection.driver_connection.cursor()
    n = len(columns[names[0]])
    for start in range(0, n, CHUNK_ROWS):
        part = [_py(columns[c][start : start + CHUNK_ROWS]) for c in names]
        cursor.executemany(sql, zip(*part, strict=True))
    cursor.close()
    return n


def _fast_sqlite(dbapi_conn: Any, _record: Any) -> None:
    """The file is a temp file replaced only on success, so crash safety buys nothing here."""
    cursor = dbapi_conn.cursor()
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-262144"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _write(engine: sa.Engine, rows: int, seed: int) -> dict[str, int]:
    md = demo_metadata()
    shop = _Shop(rows, seed)
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        for table in md.sorted_tables:
            conn.execute(sa.schema.CreateTable(table))
        t = md.tables
        counts["products"] = _insert(conn, t["products"], shop.products())
        counts["customers"] = _insert(conn, t["customers"], shop.customers())
        counts["employees"] = _insert(conn, t["employees"], shop.employees())
        for name, columns in shop.orders().items():
            counts[name] = _insert(conn, t[name], columns)
        tickets = shop.support_tickets(counts["orders"])
        counts["support_tickets"] = _insert(conn, t["support_tickets"], tickets)
        for table in md.sorted_tables:  # after the load: one sorted build beats random inserts
            for index in table.indexes:
                index.create(conn)
    return counts


def build_demo_source(path: Path, rows: int = 1000, seed: int = 7) -> dict[str, int]:
    """Write the demo shop database to `path` (replacing it) and return row counts per table.

    `rows` is the number of customers; other tables scale from it. The file appears atomically:
    it is built next to `path` and moved over it only when complete.
    """
    if rows < 1:
        raise ValueError("rows must be at least 1")
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        engine = sa.create_engine(f"sqlite:///{tmp}")
        sa.event.listen(engine, "connect", _fast_sqlite)
        try:
            counts = _write(engine, rows, seed)
        finally:
            engine.dispose()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return counts
