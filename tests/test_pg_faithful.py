"""PostgreSQL -> PostgreSQL, faithfully: the published copy is a database the application runs on.

The source is tests/fixtures/pg_shop.sql (not the demo): a partitioned table, domains, an enum, a
composite type, array and tsvector columns, identity, serial and generated columns, a view and a
materialized view, triggers (one disabled), sequences, CHECK constraints, a second schema, quoted
mixed-case names, NULLs, an extension (citext), comments, an inheritance child.
"""

from __future__ import annotations

import re
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pg_shop
import pytest
import sqlalchemy as sa
import yaml

from data_pipeline import pg_ddl, verify
from data_pipeline.cli import app
from data_pipeline.errors import BadInput, ChecksFailed
from data_pipeline.schema import reflect


def _admin(url: str) -> sa.Engine:
    return sa.create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")


@pytest.fixture
def target(pg_url: str):
    """A second fresh database beside the source."""
    url = pg_url + "_target"
    admin = _admin(pg_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{url.rsplit("/", 1)[1]}"')
    yield url
    sa.create_engine(url).dispose()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    admin.dispose()


def relation_counts(url: str) -> dict[str, int]:
    """Rows physically stored in every table and partition (FROM ONLY: a parent's own rows)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = conn.execute(
            sa.text(
                "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'm') "
                "AND n.nspname IN ('public', 'billing') AND c.relname NOT LIKE '\\_dp\\_%'"
            )
        ).scalars()
        counts = {name: conn.exec_driver_sql(f"SELECT count(*) FROM ONLY {name}").scalar() for name in names}
    engine.dispose()
    return counts


def schema_sql(url: str) -> str:
    """`pg_dump --schema-only` without its comments, owners and the release marker."""
    with sa.create_engine(url).connect() as conn:
        tool, _ = pg_ddl.find_tool("pg_dump", pg_ddl.server_major(conn))
    conninfo, env = pg_ddl.libpq_args(sa.engine.make_url(url))
    out = subprocess.run(
        [
            tool,
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "--exclude-table=*._dp_*",
            f"--dbname={conninfo}",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    keep = [
        line
        for line in out.splitlines()
        if line and not line.startswith(("--", "\\restrict", "\\unrestrict"))
    ]
    return "\n".join(keep)


def all_text(url: str) -> str:
    """Every row of every table of the database as text."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = list(relation_counts(url))
        text = "\n".join(
            conn.exec_driver_sql(f"SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM {n} t").scalar()
            for n in names
        )
    engine.dispose()
    return text


EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def test_postgres_to_postgres_is_faithful(
    cli, home, no_suites, pg_url: str, target: str, tmp_path: Path
) -> None:
    pg_shop.build(pg_url, customers=1000)
    policy = tmp_path / "shop.yaml"
    policy.write_text(yaml.safe_dump(pg_shop.POLICY))
    args = ["--home", str(home), "--source", pg_url, "--target", target, "--policy", str(policy)]
    import os

    os.environ["DP_SUITES"] = str(no_suites)
    result = cli.invoke(app, ["run", *args])
    assert result.exit_code == 0, result.output
    assert "release 1 published" in result.output

    # the schema is the source's: pg_dump's own text, and verify's catalog comparison
    assert schema_sql(target) == schema_sql(pg_url)
    schemas = ("billing", "public")
    source_catalog = verify.read_catalog(sa.create_engine(pg_url), schemas)
    assert verify.compare(source_catalog, verify.read_catalog(sa.create_engine(target), schemas)) == []
    assert len(source_catalog) > 150

    # every table and partition holds as many rows as in the source; a partitioned table's rows live
    # in its partitions once; triggers did not fire on the load (the audit log has no extra rows)
    counts = relation_counts(target)
    assert counts == relation_counts(pg_url)
    assert counts["public.orders"] == 0 and counts["billing.audit_log"] == 3000
    assert counts["billing.audit_archive"] == 100  # an inheritance child's rows: its own, not its parent's
    partitions = sum(counts[f"public.orders_{p}"] for p in ("2023", "2024", "default"))
    engine = sa.create_engine(target)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM public.orders").scalar() == partitions == 3000
        assert conn.exec_driver_sql("SELECT count(*) FROM billing.monthly_revenue").scalar() > 0  # populated

    # the application's INSERTs rely on identity, serial, sequences, defaults, domains and triggers
    with engine.begin() as conn:
        customer = conn.exec_driver_sql(
            "INSERT INTO customers (first_name, last_name, email) "
            "VALUES ('New', 'Person', 'new@shop.example') "
            "RETURNING id, full_name, country, tags"
        ).one()
        assert customer.id == 1001 and customer.full_name == "New Person" and customer.country == "US"
        order = conn.execute(
            sa.text("INSERT INTO orders (customer_id) VALUES (:c) RETURNING id, status, total"),
            {"c": customer.id},
        ).one()
        assert order.id == 3001 and order.status == "pending" and order.total == 0
        product = conn.exec_driver_sql(
            "INSERT INTO products (sku, title) VALUES ('new-1', 'Green lamp') RETURNING id, search"
        ).one()
        assert product.id == 101 and "lamp" in product.search
        invoice = conn.execute(
            sa.text("INSERT INTO billing.invoices (customer_id, amount) VALUES (:c, 5) RETURNING id, number"),
            {"c": customer.id},
        ).one()
        assert invoice.number == 1000 + 10 * 1000
        event = conn.execute(
            sa.text(
                'INSERT INTO billing."PaymentEvents" ("invoiceId", "Kind") VALUES (:i, \'charge\') '
                'RETURNING "eventId"'
            ),
            {"i": invoice.id},
        ).scalar()
        note = conn.execute(
            sa.text('INSERT INTO "CustomerNotes" ("customerId") VALUES (:c) RETURNING "noteId"'),
            {"c": customer.id},
        ).scalar()
        assert (event, note) == (1001, 501)
        assert (
            conn.exec_driver_sql("SELECT count(*) FROM ONLY billing.audit_log").scalar() == 3001
        )  # trigger on
        conn.exec_driver_sql("REFRESH MATERIALIZED VIEW billing.monthly_revenue")
        assert conn.execute(sa.text("SELECT (customer_summary(:c)).orders"), {"c": customer.id}).scalar() == 1
        with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():  # the domain's CHECK holds
            conn.exec_driver_sql("UPDATE customers SET email = 'not an email' WHERE id = 1")
        conn.rollback()

    # 0 leaks: no e-mail, phone, IBAN or card number of the source anywhere in the target, and no
    # person's own name in their row or in the notes about them (a fake may be someone else's name)
    source = sa.create_engine(pg_url)
    with source.connect() as conn:
        phones = set(conn.exec_driver_sql("SELECT phone FROM customers WHERE phone IS NOT NULL").scalars())
        people = {r.id: r for r in conn.exec_driver_sql("SELECT id, first_name, last_name FROM customers")}
        notes = dict(conn.exec_driver_sql('SELECT "noteId", "customerId" FROM "CustomerNotes"').all())
    with engine.connect() as conn:
        fakes = {r.id: r for r in conn.exec_driver_sql("SELECT id, first_name, last_name FROM customers")}
        written = dict(conn.exec_driver_sql('SELECT "noteId", "noteText" FROM "CustomerNotes"').all())
    published = all_text(target)
    original = all_text(pg_url)
    assert len(set(EMAIL.findall(original))) == 1000 and len(phones) > 700 and len(written) == 500
    assert set(EMAIL.findall(published)) & set(EMAIL.findall(original)) == set()
    assert [p for p in phones if p in published] == []
    assert [
        i
        for i, p in people.items()
        if p.first_name == fakes[i].first_name or p.last_name == fakes[i].last_name
    ] == []
    told = {n: people[c] for n, c in notes.items()}
    assert [
        n for n, text in written.items() if text and f"{told[n].first_name} {told[n].last_name}" in text
    ] == []
    assert sum(1 for text in written.values() if text and text.startswith("Spoke to ")) > 400
    assert [v for v in (*pg_shop.IBANS, "4111 1111 1111 1111", "5500005555555559") if v in published] == []

    # `data-pipeline verify`: equal now; a dropped index and a re-enabled trigger are named
    checked = cli.invoke(app, ["verify", "--home", str(home), "--source", pg_url, "--target", target])
    assert checked.exit_code == 0, checked.output
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX customers_last_name_idx")
        conn.exec_driver_sql("ALTER TABLE products ENABLE TRIGGER products_touch_never")
    checked = cli.invoke(app, ["verify", "--home", str(home), "--source", pg_url, "--target", target])
    assert checked.exit_code == 1
    assert "index public.customers_last_name_idx: missing in the target" in checked.output
    assert "trigger public.products.products_touch_never" in checked.output
    engine.dispose()
    source.dispose()


def _snapshot(url: str, tmp_path: Path):
    """The source's rows as checkpoints (raw: these tests are about the publish's mechanics)."""
    from data_pipeline.checkpoint import CheckpointStore
    from data_pipeline.snapshot import take_snapshot

    engine = sa.create_engine(url)
    schema = reflect(engine)
    store = CheckpointStore(tmp_path / "store", "snapshot")
    refs = take_snapshot(engine, schema, store, retention=timedelta(days=1))
    return schema, lambda table: store.arrow_batches(refs[table.name].id)


def test_publish_is_one_transaction_that_never_waits_forever_and_verifies(
    pg_url: str, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from data_pipeline.publish import Source, TargetBusy, publish, published_release

    pg_shop.build(pg_url, customers=200)
    schema, data = _snapshot(pg_url, tmp_path)
    source, engine = Source(sa.create_engine(pg_url)), sa.create_engine(target)

    def release(number: int) -> dict[str, int]:
        return publish(engine, schema, data, release=number, policy_digest="d", source=source)

    assert release(1)["orders"] == 600
    assert (
        verify.published(source.engine, engine, schema, source_schema=None, target_schema=None, rows=None)[0]
        == []
    )

    # a session holding a lock on the target: one line naming it, after lock_timeout, not forever
    monkeypatch.setenv("DP_LOCK_TIMEOUT", "1s")
    blocker = engine.connect()
    blocker.exec_driver_sql("SELECT count(*) FROM customers")  # idle in transaction, AccessShareLock held
    pid = blocker.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    started = time.monotonic()
    with pytest.raises(TargetBusy) as busy:
        release(2)
    assert time.monotonic() - started < 10
    message = str(busy.value)
    assert "\n" not in message and busy.value.exit_code == 4
    assert f"session pid {pid} (user postgres, idle in transaction for 0 min" in message
    assert message.endswith(
        'query "SELECT pg_backend_pid()") holds public.customers; end it (SELECT '
        f"pg_terminate_backend({pid})) or raise DP_LOCK_TIMEOUT"
    ), message
    blocker.rollback()
    blocker.close()
    assert published_release(engine) == 1

    # a target that would differ from the source (here: pg_dump's post-data loses an index) is
    # refused by verify inside the transaction: the previous release stays whole
    real_dump = pg_ddl.dump

    def lossy(*args, **kwargs):
        ddl = real_dump(*args, **kwargs)
        post = re.sub(r"CREATE INDEX customers_last_name_idx [^;]*;", "", ddl.post)
        return type(ddl)(**{**ddl.__dict__, "post": post})

    monkeypatch.setattr(pg_ddl, "dump", lossy)
    with pytest.raises(ChecksFailed, match="index public.customers_last_name_idx: missing in the target"):
        release(2)
    monkeypatch.setattr(pg_ddl, "dump", real_dump)
    assert published_release(engine) == 1
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT to_regclass('customers_last_name_idx') IS NOT NULL").scalar()

    # what must hold when all else is in (the stage's foreign keys, checked meanwhile) rolls all back
    def keys_broken() -> None:
        raise ChecksFailed("release refused, nothing published: orders: 1 dangling reference")

    with pytest.raises(ChecksFailed, match="orders: 1 dangling reference"):
        publish(engine, schema, data, release=2, policy_digest="d", source=source, checks=keys_broken)
    assert published_release(engine) == 1 and relation_counts(target) == relation_counts(pg_url)

    # the checks run beside the post-data DDL; when that fails too, theirs is the reason given
    def refused_by_the_server(*args, **kwargs):
        ddl = real_dump(*args, **kwargs)
        post = ddl.post + "\nALTER TABLE public.customers ADD CONSTRAINT never CHECK (id < 0);\n"
        return type(ddl)(**{**ddl.__dict__, "post": post})

    def slowly_broken() -> None:
        time.sleep(0.5)
        keys_broken()

    monkeypatch.setattr(pg_ddl, "dump", refused_by_the_server)
    with pytest.raises(ChecksFailed, match="orders: 1 dangling reference"):
        publish(engine, schema, data, release=2, policy_digest="d", source=source, checks=slowly_broken)
    monkeypatch.setattr(pg_ddl, "dump", real_dump)
    assert published_release(engine) == 1

    # the next release replaces the previous one whole: same objects, rows once
    assert release(2) == release(3)
    assert published_release(engine) == 3
    assert relation_counts(target) == relation_counts(pg_url)

    # the source itself is never a target; a target lacking an extension is refused in one line
    with pytest.raises(BadInput, match="the target is the source database"):
        publish(source.engine, schema, data, release=1, policy_digest="d", source=source)
    with engine.connect() as conn, pytest.raises(BadInput, match="lacks extension.s. no_such_ext that"):
        pg_ddl.require_extensions(conn, ("citext", "no_such_ext"))
    engine.dispose()
    source.engine.dispose()


def test_a_partitioned_table_is_one_table_for_reflection_scan_and_policy(pg_url: str) -> None:
    from data_pipeline.policy import resolve
    from data_pipeline.scan import propose_policy

    pg_shop.build(pg_url, customers=50)
    engine = sa.create_engine(pg_url)
    schema = reflect(engine)
    tables = {
        "customers",
        "products",
        "orders",
        "order_items",
        "CustomerNotes",
        "invoices",
        "PaymentEvents",
        "audit_log",
        "audit_archive",
    }
    assert set(schema.names) == tables  # no orders_2023, orders_2024, orders_default
    assert schema.table("invoices").schema == "billing" and schema.table("orders").schema is None
    assert "full_name" not in schema.table("customers").column_names  # generated: the target computes it
    assert schema.table("customers").column("email").generic == "string"  # a DOMAIN over text
    assert [fk.ref_table for fk in schema.table("order_items").foreign_keys if "order_id" in fk.columns] == [
        "orders"
    ]
    proposed = propose_policy(engine)
    assert set(proposed["tables"]) == tables
    assert "search" not in proposed["tables"]["products"]["columns"]
    resolve(schema, pg_shop.POLICY)  # every column classified once, nothing stale
    engine.dispose()


def test_pg_dump_older_than_the_server_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "pg_dump"  # found through DP_PG_BINDIR, beside any installed one
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 12.3'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("DP_PG_BINDIR", str(tmp_path))
    assert int(pg_ddl.find_tool("pg_dump", 12)[1].split(".")[0]) >= 12  # the newest one found
    with pytest.raises(BadInput) as refused:
        pg_ddl.find_tool("pg_dump", 99)
    assert "older than the source server (PostgreSQL 99): install postgresql-client-99" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_the_dump_script_runs_inside_the_publish_transaction() -> None:
    """The preamble's session settings become local (its lock_timeout = 0 must not undo ours); the
    entries are run exactly as dumped, even a body that looks like a preamble line."""
    dumped = "\n".join(
        [
            "\\restrict abc",
            "SET statement_timeout = 0;",
            "SET lock_timeout = 0;",
            "SET client_encoding = 'UTF8';",
            "SELECT pg_catalog.set_config('search_path', '', false);",
            "SET check_function_bodies = false;",
            "",
            "--",
            "-- Name: f(); Type: FUNCTION; Schema: public; Owner: -",
            "--",
            "SET default_tablespace = '';",
            "CREATE FUNCTION public.f() RETURNS void LANGUAGE sql AS $$",
            "SET lock_timeout = 0;",
            "$$;",
            "\\unrestrict abc",
            "",
        ]
    )
    assert pg_ddl.script(dumped).splitlines() == [
        "SELECT pg_catalog.set_config('search_path', '', true);",
        "SET LOCAL check_function_bodies = false;",
        "",
        "--",
        "-- Name: f(); Type: FUNCTION; Schema: public; Owner: -",
        "--",
        "SET default_tablespace = '';",
        "CREATE FUNCTION public.f() RETURNS void LANGUAGE sql AS $$",
        "SET lock_timeout = 0;",
        "$$;",
    ]


def _suites(directory: Path, statuses: list[str]) -> Path:
    """Suites over the shop: orders' status in a value set, a domain and an array column, and a
    cross-table query; any suite stages the whole release."""
    import json

    directory.mkdir()
    suites = {
        "orders": [("expect_column_values_to_be_in_set", {"column": "status", "value_set": statuses})],
        "customers": [
            ("expect_column_values_to_not_be_null", {"column": "email"}),
            ("expect_column_values_to_not_be_null", {"column": "tags"}),
        ],
        "orders_with_customers": [("expect_column_values_to_not_be_null", {"column": "buyer"})],
    }
    for name, expectations in suites.items():
        suite = {"name": name, "expectations": [{"type": t, "kwargs": k} for t, k in expectations]}
        if name == "orders_with_customers":
            suite["query"] = (
                "SELECT o.id, c.id AS buyer FROM orders o LEFT JOIN customers c ON c.id = o.customer_id"
            )
        (directory / f"{name}.json").write_text(json.dumps(suite))
    return directory


def candidate_schemas(url: str) -> list[str]:
    with sa.create_engine(url).connect() as conn:
        return list(
            conn.execute(sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE '\\_dp\\_%'")).scalars()
        )


def test_a_staged_release_is_validated_in_the_target_then_promoted_faithfully(
    cli, home, pg_url: str, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With suites, the release is loaded into `_dp_candidate` (portable types), every suite runs
    there, and the promotion casts into the source's own types (identity ALWAYS, enum, domains,
    citext, arrays, tsvector, a partitioned table): the same database as the direct path."""
    pg_shop.build(pg_url, customers=1000)
    policy = tmp_path / "shop.yaml"
    policy.write_text(yaml.safe_dump(pg_shop.POLICY))
    args = ["--home", str(home), "--source", pg_url, "--target", target, "--policy", str(policy)]
    monkeypatch.setenv(
        "DP_SUITES", str(_suites(tmp_path / "suites", ["pending", "paid", "shipped", "cancelled"]))
    )

    result = cli.invoke(app, ["run", *args])
    assert result.exit_code == 0, result.output
    assert "release 1 published" in result.output
    assert schema_sql(target) == schema_sql(pg_url)
    assert relation_counts(target) == relation_counts(pg_url)
    with sa.create_engine(target).connect() as conn:  # arrays and enum labels came back as themselves
        assert conn.exec_driver_sql("SELECT count(*) FROM customers WHERE cardinality(tags) > 0").scalar() > 0
        assert set(conn.exec_driver_sql("SELECT DISTINCT status::text FROM orders").scalars()) <= {
            "pending",
            "paid",
            "shipped",
            "cancelled",
        }
    assert candidate_schemas(target) == []

    # one status missing from the value set: every row is checked, the run fails, nothing is published
    monkeypatch.setenv("DP_SUITES", str(_suites(tmp_path / "strict", ["pending", "paid", "shipped"])))
    before = all_text(target)
    result = cli.invoke(app, ["run", *args])
    assert result.exit_code == 1, result.output
    assert "critical expectations failed on the staged release" in result.output
    assert "expect_column_values_to_be_in_set on status" in result.output
    assert "nothing was published" in result.output
    assert all_text(target) == before and candidate_schemas(target) == []


NUMERIC_DDL = """
CREATE TABLE accounts (
    id numeric(20, 0) PRIMARY KEY, balance numeric(30, 6) NOT NULL, rate numeric, salary numeric(12, 2)
);
CREATE TABLE transfers (id integer PRIMARY KEY, account numeric(20, 0) NOT NULL REFERENCES accounts (id));
CREATE TABLE ledgers (code numeric(12, 2) PRIMARY KEY);
CREATE TABLE entries (
    id integer PRIMARY KEY, ledger numeric(12, 0) REFERENCES ledgers, fallback integer REFERENCES ledgers
);
INSERT INTO ledgers VALUES (5), (6.5);
INSERT INTO entries VALUES (1, 5, 5), (2, NULL, NULL);
INSERT INTO accounts VALUES
    (9007199254740993, 12345678901234.123456, 0.1000000000000000000001, 53200.55),
    (9007199254740992, -0.000001, 'NaN', NULL),
    (98765432109876543210, 0, 1e-30, 99999.99);
INSERT INTO transfers VALUES (1, 9007199254740993), (2, 98765432109876543210);
"""


def test_numeric_values_arrive_digit_for_digit(
    cli, home, no_suites, pg_url: str, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NUMERIC holds more than a float's 15 digits: 20-digit keys (two of them one apart, past 2^53)
    stay distinct and their references resolve, balances and rates keep every digit and NaN, and a
    generalized salary comes back at its column's scale. A NUMERIC(12, 0) or integer column that
    references a NUMERIC(12, 2) key ('5.00') resolves, as it does in the database."""
    with sa.create_engine(pg_url).begin() as conn:
        conn.exec_driver_sql(NUMERIC_DDL)
    key, keep = {"class": "key", "rule": "keep"}, {"class": "safe", "rule": "keep"}
    salary = {"class": "quasi", "rule": "generalize_number", "bucket": 1000}
    tables = {
        "accounts": {"id": key, "balance": keep, "rate": keep, "salary": salary},
        "ledgers": {"code": key},
        "entries": {"id": key, "ledger": key, "fallback": key},
        "transfers": {"id": key, "account": key},
    }
    policy = tmp_path / "numbers.yaml"
    policy.write_text(
        yaml.safe_dump({"version": 1, "tables": {t: {"columns": c} for t, c in tables.items()}})
    )
    args = ["--home", str(home), "--source", pg_url, "--target", target, "--policy", str(policy)]
    monkeypatch.setenv("DP_SUITES", str(no_suites))
    monkeypatch.setenv("DP_K_ANONYMITY", "1")  # three accounts: every salary group is small
    result = cli.invoke(app, ["run", *args])
    assert result.exit_code == 0, result.output

    query = "SELECT id::text, balance::text, rate::text, salary::text FROM accounts ORDER BY id"
    with sa.create_engine(target).connect() as conn:
        rows = [tuple(r) for r in conn.exec_driver_sql(query)]
        transfers = [
            tuple(r) for r in conn.exec_driver_sql("SELECT id, account::text FROM transfers ORDER BY id")
        ]
    assert rows == [
        ("9007199254740992", "-0.000001", "NaN", None),
        ("9007199254740993", "12345678901234.123456", "0.1000000000000000000001", "53000.00"),
        ("98765432109876543210", "0.000000", "0.000000000000000000000000000001", "99000.00"),
    ]
    assert transfers == [(1, "9007199254740993"), (2, "98765432109876543210")]
    with sa.create_engine(target).connect() as conn:
        assert (
            conn.exec_driver_sql("SELECT count(*) FROM entries WHERE ledger = 5 AND fallback = 5").scalar()
            == 1
        )
