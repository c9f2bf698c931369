"""A realistic PostgreSQL source for the faithful-copy tests and the bench: tests/fixtures/pg_shop.sql
(every schema feature a published copy must keep) filled with generated, PII-shaped rows."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

DDL = Path(__file__).parent / "fixtures" / "pg_shop.sql"

FIRST = [
    "Anna",
    "James",
    "Maria",
    "Robert",
    "Linda",
    "Michael",
    "Elena",
    "David",
    "Sofia",
    "Thomas",
    "Grace",
    "Lukas",
    "Chloe",
    "Mateo",
    "Hannah",
    "Oliver",
    "Amelie",
    "Jonas",
    "Isabel",
    "Noah",
]
LAST = [
    "Smith",
    "Johnson",
    "Garcia",
    "Miller",
    "Davis",
    "Martinez",
    "Schneider",
    "Dubois",
    "Rossi",
    "Jansen",
    "Kowalski",
    "Novak",
    "Fischer",
    "Moreau",
    "Bianchi",
    "Visser",
    "Walker",
    "Young",
]
IBANS = [
    "DE89370400440532013000",
    "GB82WEST12345698765432",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
]


def _array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


def data_sql(customers: int) -> str:
    n = customers
    first, last = _array(FIRST), _array(LAST)
    return f"""
INSERT INTO public.customers (first_name, last_name, email, phone, birth_date, country, tags, created_at)
SELECT f, l, lower(f) || '.' || lower(l) || '.' || i || '@mail.example',
       CASE WHEN i % 5 <> 0 THEN '+1 415 ' || lpad(((i::bigint * 7919) % 10000000)::text, 7, '0') END,
       CASE WHEN i % 7 <> 0 THEN date '1950-01-01' + ((i::bigint * 37) % 18000)::int END,
       (ARRAY['US', 'GB', 'DE', 'FR', 'NL'])[1 + i % 5],
       CASE i % 3 WHEN 0 THEN '{{}}'::text[] WHEN 1 THEN '{{vip}}' ELSE '{{newsletter,"b c",NULL}}' END,
       timestamptz '2022-01-01 00:00+00' + i * interval '37 minutes'
FROM (SELECT i, ({first})[1 + i % {len(FIRST)}] AS f, ({last})[1 + (i / 3) % {len(LAST)}] AS l
      FROM generate_series(1, {n}) AS i) s;

INSERT INTO public.products (sku, title, price, keywords, dims)
SELECT 'SKU-' || lpad(i::text, 6, '0'),
       (ARRAY['Red', 'Blue', 'Large', 'Tiny', 'Smart'])[1 + i % 5] || ' '
         || (ARRAY['lamp', 'chair', 'kettle', 'desk', 'phone case', 'rug'])[1 + i % 6],
       (i % 500) + 0.99,
       CASE WHEN i % 4 <> 0
            THEN to_tsvector('simple', (ARRAY['home', 'office', 'garden'])[1 + i % 3] || ' sale') END,
       CASE WHEN i % 3 = 0 THEN ARRAY[i % 10, NULL, 3] WHEN i % 3 = 1 THEN ARRAY[1, 2] END
FROM generate_series(1, greatest({n} / 10, 50)) AS i;

INSERT INTO public.orders (customer_id, placed_at, status, total, note)
SELECT 1 + (i::bigint * 13) % {n},
       timestamptz '2023-01-01 00:00+00' + ((i::bigint * 7777) % 1200) * interval '1 day'
         + (i % 1440) * interval '1 minute',
       (ARRAY['pending', 'paid', 'shipped', 'cancelled'])[1 + i % 4]::public.order_status,
       (i % 1000) + 0.5,
       CASE WHEN i % 10 = 0 THEN 'Leave at door, call ' || ({first})[1 + i % {len(FIRST)}] END
FROM generate_series(1, {3 * n}) AS i;

INSERT INTO public.order_items (order_id, placed_at, line, product_id, quantity, unit_price)
SELECT o.id, o.placed_at, l, 1 + (o.id * 7 + l) % greatest({n} / 10, 50), 1 + (o.id + l) % 4, 9.99 * l
FROM public.orders o, generate_series(1, 2) AS l
WHERE l = 1 OR o.id % 3 <> 0;

INSERT INTO public."CustomerNotes" ("customerId", "noteText", "Pinned")
SELECT 1 + (i::bigint * 17) % {n},
       CASE WHEN i % 6 <> 0 THEN 'Spoke to ' || c.first_name || ' ' || c.last_name || ', reach at '
         || coalesce(c.phone, c.email) END,
       i % 9 = 0
FROM generate_series(1, {n} / 2) AS i JOIN public.customers c ON c.id = 1 + (i::bigint * 17) % {n};

INSERT INTO billing.invoices (customer_id, amount, issued_on, paid, iban)
SELECT 1 + (i::bigint * 11) % {n}, (i % 2000) + 0.25, date '2023-01-01' + i % 700, i % 4 = 0,
       CASE WHEN i % 3 <> 0 THEN ({_array(IBANS)})[1 + i % {len(IBANS)}] END
FROM generate_series(1, {n}) AS i;

INSERT INTO billing."PaymentEvents" ("invoiceId", "Kind", "cardNumber", "RawPayload")
SELECT v.id, CASE WHEN v.number / 10 % 7 = 0 THEN 'refund' ELSE 'charge' END,
       CASE WHEN v.number / 10 % 5 <> 0
            THEN (ARRAY['4111 1111 1111 1111', '5500005555555559'])[1 + v.number / 10 % 2] END,
       jsonb_build_object('email', c.email, 'amount', v.amount, 'gateway', 'acme')
FROM billing.invoices v JOIN public.customers c ON c.id = v.customer_id;

INSERT INTO billing.audit_archive (entity, entity_id, archived_on)
SELECT 'invoices', i, date '2024-06-01' + i % 30 FROM generate_series(1, {n} / 10) AS i;

REFRESH MATERIALIZED VIEW billing.monthly_revenue;
ANALYZE;
"""


def build(url: str, customers: int = 2000) -> None:
    engine = sa.create_engine(url)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.execute(DDL.read_text())
            cursor.execute(data_sql(customers))
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


POLICY = {
    "version": 1,
    "tables": {
        "customers": {
            "columns": {
                "id": {"class": "key", "rule": "keep"},
                "first_name": {"class": "pii", "rule": "first_name"},
                "last_name": {"class": "pii", "rule": "last_name"},
                "email": {"class": "pii", "rule": "email"},
                "phone": {"class": "pii", "rule": "phone"},
                "birth_date": {"class": "quasi", "rule": "generalize_date", "to": "decade"},
                "country": {"class": "quasi", "rule": "keep"},
                "tags": {"class": "safe", "rule": "keep"},
                "created_at": {"class": "pii", "rule": "date_shift", "subject": "id", "max_days": 20},
                "updated_at": {"class": "pii", "rule": "date_shift", "subject": "id", "max_days": 20},
            }
        },
        "products": {
            "columns": {
                "id": {"class": "key", "rule": "keep"},
                "sku": {"class": "safe", "rule": "keep"},
                "title": {"class": "safe", "rule": "keep"},
                "price": {"class": "safe", "rule": "keep"},
                "keywords": {"class": "safe", "rule": "keep"},
                "dims": {"class": "safe", "rule": "keep"},
            }
        },
        "orders": {
            "columns": {
                "id": {"class": "key", "rule": "keep"},
                "customer_id": {"class": "key", "rule": "keep"},
                "placed_at": {"class": "key", "rule": "keep"},
                "status": {"class": "safe", "rule": "keep"},
                "total": {"class": "safe", "rule": "keep"},
                "note": {"class": "pii", "rule": "free_text"},
            }
        },
        "order_items": {
            "columns": {
                "order_id": {"class": "key", "rule": "keep"},
                "placed_at": {"class": "key", "rule": "keep"},
                "line": {"class": "key", "rule": "keep"},
                "product_id": {"class": "key", "rule": "keep"},
                "quantity": {"class": "safe", "rule": "keep"},
                "unit_price": {"class": "safe", "rule": "keep"},
            }
        },
        "CustomerNotes": {
            "columns": {
                "noteId": {"class": "key", "rule": "keep"},
                "customerId": {"class": "key", "rule": "keep"},
                "noteText": {"class": "pii", "rule": "free_text"},
                "Pinned": {"class": "safe", "rule": "keep"},
            }
        },
        "invoices": {
            "columns": {
                "id": {"class": "key", "rule": "keep"},
                "number": {"class": "safe", "rule": "keep"},
                "customer_id": {"class": "key", "rule": "keep"},
                "amount": {"class": "safe", "rule": "keep"},
                "issued_on": {"class": "safe", "rule": "keep"},
                "paid": {"class": "safe", "rule": "keep"},
                "iban": {"class": "pii", "rule": "iban"},
            }
        },
        "PaymentEvents": {
            "columns": {
                "eventId": {"class": "key", "rule": "keep"},
                "invoiceId": {"class": "key", "rule": "keep"},
                "Kind": {"class": "safe", "rule": "keep"},
                "cardNumber": {"class": "pii", "rule": "card_number"},
                "RawPayload": {"class": "pii", "rule": "json", "paths": {"email": "email"}},
            }
        },
        "audit_log": {
            "columns": {
                "id": {"class": "key", "rule": "keep"},
                "at": {"class": "safe", "rule": "keep"},
                "entity": {"class": "safe", "rule": "keep"},
                "entity_id": {"class": "safe", "rule": "keep"},
            }
        },
        "audit_archive": {
            "columns": {
                "id": {"class": "key", "rule": "keep"},
                "at": {"class": "safe", "rule": "keep"},
                "entity": {"class": "safe", "rule": "keep"},
                "entity_id": {"class": "safe", "rule": "keep"},
                "archived_on": {"class": "safe", "rule": "keep"},
            }
        },
    },
}
