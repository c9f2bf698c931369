"""A small production-shaped database, PostgreSQL -> PostgreSQL: `data-pipeline run` vs `pg_dump | psql`.

20 tables, ~65k rows (with `--scale 1`): FK chains (countries -> regions -> companies -> customers ->
addresses -> orders -> order_items / payments / shipments, a self-referencing employees), names,
e-mails, phones, addresses, free text and card numbers to anonymize, NULLs, two bigger tables and many
small ones. The floor is the whole database through `pg_dump | psql` into a fresh database; the run is
the real CLI in a subprocess with a fresh DP_HOME (Dagster creates its storage), then again in the
same DP_HOME (a nightly run), no expectation suites. Where a small run's time goes is fixed cost, not
rows: the breakdown reads each run's Dagster event log (first event, each step, last event), and the
CLI's imports are timed in a separate process.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from bench.faithful import _settle, plain_copy
from bench.pipeline import _pg_database, run_env, timed_run
from data_pipeline.anonymize.pools import pool

REPO = Path(__file__).resolve().parent.parent

DDL = """
CREATE TABLE countries (id integer PRIMARY KEY, code char(2) NOT NULL UNIQUE, name text NOT NULL);
CREATE TABLE regions (id integer PRIMARY KEY, country_id integer NOT NULL REFERENCES countries,
    name varchar(60) NOT NULL);
CREATE TABLE tags (id integer PRIMARY KEY, label varchar(40) NOT NULL UNIQUE);
CREATE TABLE warehouses (id integer PRIMARY KEY, region_id integer REFERENCES regions,
    name varchar(60) NOT NULL, phone varchar(30));
CREATE TABLE suppliers (id integer PRIMARY KEY, company varchar(120) NOT NULL, contact_name varchar(120),
    email varchar(120), phone varchar(30), region_id integer REFERENCES regions);
CREATE TABLE categories (id integer PRIMARY KEY, parent_id integer REFERENCES categories,
    name varchar(60) NOT NULL);
CREATE TABLE products (id integer PRIMARY KEY, sku varchar(20) NOT NULL UNIQUE, name varchar(120) NOT NULL,
    price numeric(10, 2) NOT NULL, supplier_id integer REFERENCES suppliers, description text);
CREATE TABLE product_categories (product_id integer REFERENCES products,
    category_id integer REFERENCES categories, PRIMARY KEY (product_id, category_id));
CREATE TABLE inventory (warehouse_id integer REFERENCES warehouses, product_id integer REFERENCES products,
    quantity integer NOT NULL, updated_at timestamp, PRIMARY KEY (warehouse_id, product_id));
CREATE TABLE companies (id integer PRIMARY KEY, name varchar(120) NOT NULL, vat_id varchar(20),
    region_id integer REFERENCES regions);
CREATE TABLE employees (id integer PRIMARY KEY, first_name varchar(50) NOT NULL,
    last_name varchar(50) NOT NULL, email varchar(120) NOT NULL UNIQUE, phone varchar(30),
    manager_id integer REFERENCES employees, hired_on date NOT NULL, salary numeric(10, 2));
CREATE TABLE customers (id integer PRIMARY KEY, first_name varchar(50) NOT NULL,
    last_name varchar(50) NOT NULL, email varchar(120) NOT NULL UNIQUE, phone varchar(30), birth_date date,
    company_id integer REFERENCES companies, created_at timestamptz NOT NULL, marketing_opt_in boolean);
CREATE INDEX customers_last_name_idx ON customers (last_name);
CREATE TABLE addresses (id integer PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers,
    street varchar(120) NOT NULL, city varchar(60) NOT NULL, postal_code varchar(12),
    region_id integer REFERENCES regions, is_default boolean NOT NULL);
CREATE TABLE coupons (id integer PRIMARY KEY, code varchar(16) NOT NULL UNIQUE, percent integer NOT NULL,
    valid_until date);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers,
    employee_id integer REFERENCES employees, address_id integer REFERENCES addresses,
    coupon_id integer REFERENCES coupons, status varchar(12) NOT NULL, total numeric(12, 2) NOT NULL,
    ordered_at timestamptz NOT NULL, notes text);
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE TABLE order_items (order_id bigint REFERENCES orders, line_no smallint,
    product_id integer NOT NULL REFERENCES products, quantity integer NOT NULL,
    unit_price numeric(10, 2) NOT NULL, PRIMARY KEY (order_id, line_no));
CREATE TABLE payments (id integer PRIMARY KEY, order_id bigint NOT NULL REFERENCES orders,
    method varchar(10) NOT NULL, card_number varchar(19), amount numeric(12, 2) NOT NULL,
    paid_at timestamptz NOT NULL);
CREATE TABLE shipments (id integer PRIMARY KEY, order_id bigint NOT NULL REFERENCES orders,
    warehouse_id integer REFERENCES warehouses, carrier varchar(20) NOT NULL,
    tracking varchar(30) NOT NULL UNIQUE, shipped_at timestamptz);
CREATE TABLE support_tickets (id integer PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers,
    assignee_id integer REFERENCES employees, subject varchar(200) NOT NULL, body text,
    opened_at timestamptz NOT NULL, status varchar(12) NOT NULL);
CREATE TABLE ticket_comments (id integer PRIMARY KEY, ticket_id integer NOT NULL REFERENCES support_tickets,
    author_email varchar(120), body text NOT NULL, created_at timestamptz NOT NULL);
"""

K, P, Q, S = "key", "pii", "quasi", "safe"


def _c(cls: str, rule: str = "keep", **options: object) -> dict:
    return {"class": cls, "rule": rule, **options}


POLICY = {
    "version": 1,
    "locale": "en_US",
    "tables": {
        name: {"columns": columns}
        for name, columns in {
            "countries": {"id": _c(K), "code": _c(S), "name": _c(S)},
            "regions": {"id": _c(K), "country_id": _c(K), "name": _c(S)},
            "tags": {"id": _c(K), "label": _c(S)},
            "warehouses": {"id": _c(K), "region_id": _c(K), "name": _c(S), "phone": _c(P, "phone")},
            "suppliers": {
                "id": _c(K),
                "company": _c(P, "company"),
                "contact_name": _c(P, "full_name"),
                "email": _c(P, "email"),
                "phone": _c(P, "phone"),
                "region_id": _c(K),
            },
            "categories": {"id": _c(K), "parent_id": _c(K), "name": _c(S)},
            "products": {
                "id": _c(K),
                "sku": _c(S),
                "name": _c(S),
                "price": _c(S),
                "supplier_id": _c(K),
                "description": _c(S),
            },
            "product_categories": {"product_id": _c(K), "category_id": _c(K)},
            "inventory": {"warehouse_id": _c(K), "product_id": _c(K), "quantity": _c(S), "updated_at": _c(S)},
            "companies": {
                "id": _c(K),
                "name": _c(P, "company"),
                "vat_id": _c(P, "token"),
                "region_id": _c(K),
            },
            "employees": {
                "id": _c(K),
                "first_name": _c(P, "first_name"),
                "last_name": _c(P, "last_name"),
                "email": _c(P, "email"),
                "phone": _c(P, "phone"),
                "manager_id": _c(K),
                "hired_on": _c(P, "date_shift", subject="id", max_days=60),
                "salary": _c(P, "generalize_number", bucket=10000),
            },
            "customers": {
                "id": _c(K),
                "first_name": _c(P, "first_name"),
                "last_name": _c(P, "last_name"),
                "email": _c(P, "email"),
                "phone": _c(P, "phone"),
                "birth_date": _c(Q, "generalize_date", to="decade"),
                "company_id": _c(K),
                "created_at": _c(P, "date_shift", subject="id", max_days=30),
                "marketing_opt_in": _c(S),
            },
            "addresses": {
                "id": _c(K),
                "customer_id": _c(K),
                "street": _c(P, "street_address"),
                "city": _c(P, "city"),
                "postal_code": _c(P, "postal_code"),
                "region_id": _c(K),
                "is_default": _c(S),
            },
            "coupons": {"id": _c(K), "code": _c(S), "percent": _c(S), "valid_until": _c(S)},
            "orders": {
                "id": _c(K),
                "customer_id": _c(K),
                "employee_id": _c(K),
                "address_id": _c(K),
                "coupon_id": _c(K),
                "status": _c(S),
                "total": _c(S),
                "ordered_at": _c(P, "date_shift", subject="customer_id", max_days=30),
                "notes": _c(P, "free_text"),
            },
            "order_items": {
                "order_id": _c(K),
                "line_no": _c(K),
                "product_id": _c(K),
                "quantity": _c(S),
                "unit_price": _c(S),
            },
            "payments": {
                "id": _c(K),
                "order_id": _c(K),
                "method": _c(S),
                "card_number": _c(P, "card_number"),
                "amount": _c(S),
                "paid_at": _c(P, "date_shift", subject="order_id", max_days=30),
            },
            "shipments": {
                "id": _c(K),
                "order_id": _c(K),
                "warehouse_id": _c(K),
                "carrier": _c(S),
                "tracking": _c(S),
                "shipped_at": _c(S),
            },
            "support_tickets": {
                "id": _c(K),
                "customer_id": _c(K),
                "assignee_id": _c(K),
                "subject": _c(P, "free_text"),
                "body": _c(P, "free_text"),
                "opened_at": _c(P, "date_shift", subject="customer_id", max_days=30),
                "status": _c(S),
            },
            "ticket_comments": {
                "id": _c(K),
                "ticket_id": _c(K),
                "author_email": _c(P, "email"),
                "body": _c(P, "free_text"),
                "created_at": _c(P, "date_shift", subject="ticket_id", max_days=30),
            },
        }.items()
    },
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pg-url", required=True, help="PostgreSQL server URL (e.g. from scripts/pg.sh start)"
    )
    parser.add_argument("--scale", type=float, default=1.0, help="rows scale: 1 = ~65k rows in 20 tables")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, in turn (fresh databases)")
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")


def tables(scale: float = 1.0, seed: int = 18) -> dict[str, list[tuple]]:
    """Rows of every table, parents first (the order COPY loads them in)."""
    rng = np.random.default_rng(seed)
    n = lambda count: max(1, int(count * scale))  # noqa: E731
    firsts, lasts = pool("en_US", "first_name"), pool("en_US", "last_name")
    streets, cities = pool("en_US", "street_name"), pool("en_US", "city")
    companies_pool = pool("en_US", "company")
    pick = lambda values, size: values[rng.integers(0, len(values), size)]  # noqa: E731
    maybe = lambda value, share: value if rng.random() < share else None  # noqa: E731
    phone = lambda: f"+1-{rng.integers(200, 999)}-{rng.integers(200, 999)}-{rng.integers(0, 10000):04d}"  # noqa: E731
    stamp = lambda: (  # noqa: E731
        np.datetime64("2019-01-01T00:00:00") + np.timedelta64(int(rng.integers(0, 5 * 365 * 86400)), "s")
    )
    day = lambda start, days: np.datetime64(start) + np.timedelta64(int(rng.integers(0, days)), "D")  # noqa: E731
    out: dict[str, list[tuple]] = {}

    out["countries"] = [(i, f"{chr(65 + i // 26)}{chr(65 + i % 26)}", f"Country {i}") for i in range(1, 51)]
    out["regions"] = [(i, int(rng.integers(1, 51)), f"Region {i}") for i in range(1, 201)]
    out["tags"] = [(i, f"tag-{i}") for i in range(1, 31)]
    out["warehouses"] = [
        (i, int(rng.integers(1, 201)), f"Warehouse {i}", maybe(phone(), 0.8)) for i in range(1, 21)
    ]
    nsup = n(100)
    out["suppliers"] = [
        (
            i,
            str(companies_pool[rng.integers(0, len(companies_pool))]),
            maybe(f"{pick(firsts, 1)[0]} {pick(lasts, 1)[0]}", 0.9),
            maybe(f"sales{i}@supplier{i}.example", 0.9),
            maybe(phone(), 0.7),
            int(rng.integers(1, 201)),
        )
        for i in range(1, nsup + 1)
    ]
    out["categories"] = [
        (i, None if i <= 8 else int(rng.integers(1, 9)), f"Category {i}") for i in range(1, 41)
    ]
    nprod = n(800)
    out["products"] = [
        (
            i,
            f"SKU-{i:06d}",
            f"Product {i}",
            round(float(rng.uniform(1, 500)), 2),
            maybe(int(rng.integers(1, nsup + 1)), 0.95),
            maybe(f"Sturdy item number {i}, ships in {rng.integers(1, 9)} days.", 0.6),
        )
        for i in range(1, nprod + 1)
    ]
    pairs = {(int(rng.integers(1, nprod + 1)), int(rng.integers(1, 41))) for _ in range(n(1250))}
    out["product_categories"] = sorted(pairs)[: n(1200)]
    stock = {(int(rng.integers(1, 21)), int(rng.integers(1, nprod + 1))) for _ in range(n(2100))}
    out["inventory"] = [
        (w, p, int(rng.integers(0, 500)), maybe(stamp(), 0.9)) for w, p in sorted(stock)[: n(2000)]
    ]
    ncomp = n(500)
    out["companies"] = [
        (
            i,
            str(companies_pool[rng.integers(0, len(companies_pool))]),
            maybe(f"VAT{rng.integers(10**8, 10**9)}", 0.7),
            int(rng.integers(1, 201)),
        )
        for i in range(1, ncomp + 1)
    ]
    nemp = n(200)
    out["employees"] = [
        (
            i,
            str(f := pick(firsts, 1)[0]),
            str(la := pick(lasts, 1)[0]),
            f"{f}.{la}.{i}@shop.example".lower(),
            maybe(phone(), 0.6),
            None if i <= 5 else int(rng.integers(1, i)),
            day("2010-01-01", 5000),
            maybe(round(float(rng.uniform(30_000, 150_000)), 2), 0.9),
        )
        for i in range(1, nemp + 1)
    ]
    ncust = n(6000)
    cfirst, clast = pick(firsts, ncust), pick(lasts, ncust)
    out["customers"] = [
        (
            i,
            str(cfirst[i - 1]),
            str(clast[i - 1]),
            f"{cfirst[i - 1]}.{clast[i - 1]}.{i}@mail.example".lower(),
            maybe(phone(), 0.75),
            maybe(day("1940-01-01", 23000), 0.85),
            maybe(int(rng.integers(1, ncomp + 1)), 0.3),
            f"{stamp()}+00",
            maybe(bool(rng.integers(0, 2)), 0.9),
        )
        for i in range(1, ncust + 1)
    ]
    naddr = n(6500)
    out["addresses"] = [
        (
            i,
            cust := (i if i <= ncust else int(rng.integers(1, ncust + 1))),
            f"{rng.integers(1, 9999)} {pick(streets, 1)[0]}",
            str(pick(cities, 1)[0]),
            maybe(f"{rng.integers(10000, 99999)}", 0.95),
            maybe(int(rng.integers(1, 201)), 0.9),
            i == cust,
        )
        for i in range(1, naddr + 1)
    ]
    out["coupons"] = [
        (i, f"SAVE{i:05d}", int(rng.integers(5, 50)), maybe(day("2024-01-01", 700), 0.8))
        for i in range(1, 301)
    ]
    nord = n(12000)
    statuses = np.array(["new", "paid", "shipped", "delivered", "cancelled"])
    orders = []
    for i in range(1, nord + 1):
        cust = int(rng.integers(1, ncust + 1))
        note = None
        if rng.random() < 0.25:
            note = (
                f"Please call {cfirst[cust - 1]} {clast[cust - 1]} at {phone()} before delivery."
                if rng.random() < 0.5
                else "Leave the parcel at the back door."
            )
        orders.append(
            (
                i,
                cust,
                maybe(int(rng.integers(1, nemp + 1)), 0.6),
                maybe(cust if cust <= naddr else None, 0.95),
                maybe(int(rng.integers(1, 301)), 0.1),
                str(statuses[rng.integers(0, len(statuses))]),
                round(float(rng.uniform(5, 900)), 2),
                f"{stamp()}+00",
                note,
            )
        )
    out["orders"] = orders
    items = []
    for order in range(1, nord + 1):
        for line in range(1, 3):
            items.append(
                (
                    order,
                    line,
                    int(rng.integers(1, nprod + 1)),
                    int(rng.integers(1, 6)),
                    round(float(rng.uniform(1, 500)), 2),
                )
            )
    out["order_items"] = items[: n(24000)]
    methods = np.array(["card", "card", "paypal", "invoice"])
    out["payments"] = [
        (
            i,
            int(rng.integers(1, nord + 1)),
            method := str(methods[rng.integers(0, len(methods))]),
            f"4{rng.integers(10**14, 10**15)}" if method == "card" else None,
            round(float(rng.uniform(5, 900)), 2),
            f"{stamp()}+00",
        )
        for i in range(1, n(5000) + 1)
    ]
    carriers = np.array(["UPS", "DHL", "FedEx", "USPS"])
    out["shipments"] = [
        (
            i,
            int(rng.integers(1, nord + 1)),
            maybe(int(rng.integers(1, 21)), 0.9),
            str(carriers[rng.integers(0, len(carriers))]),
            f"TRK{i:010d}",
            maybe(f"{stamp()}+00", 0.8),
        )
        for i in range(1, n(3000) + 1)
    ]
    nticket = n(1500)
    tickets = []
    for i in range(1, nticket + 1):
        cust = int(rng.integers(1, ncust + 1))
        first, last = cfirst[cust - 1], clast[cust - 1]
        body = maybe(
            f"Hi, this is {first} {last} ({first}.{last}.{cust}@mail.example). My order arrived damaged, "
            f"please call me on {phone()}. Regards, {first}".lower().capitalize(),
            0.9,
        )
        tickets.append(
            (
                i,
                cust,
                maybe(int(rng.integers(1, nemp + 1)), 0.7),
                f"Order problem for {first} {last}" if rng.random() < 0.3 else "Order problem",
                body,
                f"{stamp()}+00",
                "open" if rng.random() < 0.2 else "closed",
            )
        )
    out["support_tickets"] = tickets
    out["ticket_comments"] = [
        (
            i,
            int(rng.integers(1, nticket + 1)),
            maybe(f"agent{rng.integers(1, nemp + 1)}@shop.example", 0.8),
            "Thanks, we are looking into it." if rng.random() < 0.7 else f"Called back {pick(firsts, 1)[0]}.",
            f"{stamp()}+00",
        )
        for i in range(1, n(2000) + 1)
    ]
    return out


def build_source(url: str, scale: float) -> dict[str, int]:
    """The database, filled through COPY; rows per table."""
    data = tables(scale)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(DDL)
        cursor = conn.connection.dbapi_connection.cursor()
        for table, rows in data.items():
            buffer = io.StringIO()
            csv.writer(buffer).writerows(rows)  # None -> an empty unquoted field: NULL
            buffer.seek(0)
            cursor.copy_expert(f"COPY {table} FROM STDIN WITH (FORMAT csv)", buffer)
    engine.dispose()
    return {table: len(rows) for table, rows in data.items()}


def import_seconds() -> float:
    """What a fresh interpreter pays to import what `data-pipeline run` imports before it runs."""
    code = (
        "import time; t = time.perf_counter(); import data_pipeline.cli\n"
        "with data_pipeline.cli.collector_paused(): import assets.runner, assets.definitions\n"
        "print(time.perf_counter() - t)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    return float(done.stdout.strip())


def _events(home: Path) -> list[tuple[float, str, str | None]]:
    """(timestamp, event type, step key) of the newest run's Dagster events, from its SQLite event log."""
    storage = home / "dagster" / "history" / "runs"
    log = max((p for p in storage.glob("*.db") if p.name != "index.db"), key=lambda p: p.stat().st_mtime)
    with sqlite3.connect(log) as conn:
        rows = conn.execute(
            "SELECT event, dagster_event_type, step_key FROM event_logs ORDER BY id"
        ).fetchall()
    return [(json.loads(event)["timestamp"], kind, step) for event, kind, step in rows]


def _group(step: str) -> str:
    if step.endswith("_foreign_keys_resolve"):
        return "foreign_keys_resolve"
    return step.split("__")[0].split("[")[0]


def breakdown(home: Path, started: float, ended: float) -> tuple[list[tuple[str, float]], int]:
    """Seconds of the run by where they went (wall clock, epoch seconds), and its Dagster event count."""
    events = _events(home)
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    begun = next(at for at, kind, _ in events if kind == "PIPELINE_START")
    for at, kind, step in events:
        if kind == "STEP_START":
            starts[step] = at
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            ends[step] = at
    groups: dict[str, list[float]] = defaultdict(list)
    for step, at in starts.items():
        groups[_group(step)].append(ends.get(step, at) - at)
    first, last = events[0][0], events[-1][0]
    in_steps = sum(sum(g) for g in groups.values())
    parts = [
        ("process start -> first Dagster event (imports, preflight, plan)", first - started),
        ("Dagster: run start (planned materializations and checks)", begun - first),
    ]
    for group, seconds in groups.items():
        parts.append((f"steps {group} ({len(seconds)}, longest {max(seconds):.2f} s)", sum(seconds)))
    parts.append(("Dagster between steps", last - begun - in_steps))
    parts.append(("last Dagster event -> process exit", ended - last))
    return parts, len(events)


def run_pipeline(
    work: Path, source: str, target: str, fresh: bool = True
) -> tuple[float, float, float, list[tuple[str, float]], int]:
    """Seconds, peak RSS (MB, children included), CPU seconds and breakdown of `data-pipeline run`;
    `fresh`: in a new DP_HOME (else the previous run's: Dagster's storage exists, pools are cached)."""
    env = run_env(work, source, target, POLICY, fresh=fresh)
    started = time.time()
    seconds, rss, cpu = timed_run(env)
    parts, events = breakdown(Path(env["DP_HOME"]), started, time.time())
    return seconds, rss, cpu, parts, events


def run(args: argparse.Namespace) -> None:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="dp-bench-small-"))
    work.mkdir(parents=True, exist_ok=True)
    source = _pg_database(args.pg_url, "bench_small_src")
    t0 = time.perf_counter()
    counts = build_source(source, args.scale)
    _settle(source)
    rows = sum(counts.values())
    print(
        f"source: {len(counts)} tables, {rows:,} rows (biggest: "
        + ", ".join(f"{t} {n:,}" for t, n in sorted(counts.items(), key=lambda kv: -kv[1])[:3])
        + f") built in {time.perf_counter() - t0:.1f} s"
    )
    print(f"imports of the CLI's run path in a fresh interpreter: {import_seconds():.2f} s")
    for attempt in range(1, args.repeat + 1):
        plain_target, target = (
            _pg_database(args.pg_url, n) for n in ("bench_small_plain", "bench_small_dst")
        )
        plain = plain_copy(source, plain_target)
        _settle(plain_target)
        runs = [run_pipeline(work, source, target, fresh=fresh) for fresh in (True, False)]
        head = f"[{attempt}/{args.repeat}] " if args.repeat > 1 else ""
        print(f"{head}{'pg_dump | psql (whole database)':<40} {plain:6.2f} s  {rows / plain:>9,.0f} rows/s")
        labels = ("fresh DP_HOME", "again, same DP_HOME")
        for label, (seconds, rss, cpu, _, _) in zip(labels, runs, strict=True):
            print(
                f"{head}{'data-pipeline run, ' + label:<40} {seconds:6.2f} s  {rows / seconds:>9,.0f} rows/s"
                f"  ratio {seconds / plain:4.1f}x  peak RSS {rss:,.0f} MB  CPU {cpu:.1f} s (client)"
            )
        print(f"where the runs' time went (fresh / again; {runs[0][4]} Dagster events each):")
        for (label, first), (_, again) in zip(runs[0][3], runs[1][3], strict=True):
            print(f"  {label:<64} {first:6.2f} {again:6.2f} s")
