"""The demo source must look like a production database: constraints, NULLs, valid checksums."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from data_pipeline.checksums import iban_valid, luhn_valid
from data_pipeline.demo import build_demo_source, demo_metadata

ROWS = 200
TABLES = ("products", "customers", "employees", "orders", "order_items", "payments",
          "support_tickets")  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int], sa.Engine]:
    path = tmp_path_factory.mktemp("demo") / "shop.db"
    counts = build_demo_source(path, rows=ROWS)
    engine = sa.create_engine(f"sqlite:///{path}")
    yield path, counts, engine
    engine.dispose()


def _scalar(engine: sa.Engine, sql: str) -> object:
    with engine.connect() as conn:
        return conn.exec_driver_sql(sql).scalar()


def _rows(engine: sa.Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql)]


def dump(path: Path) -> dict[str, list[tuple]]:
    """Every table's rows in primary-key order: equal dumps mean equal data."""
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        inspector = sa.inspect(engine)
        out = {}
        for table in inspector.get_table_names():
            pk = ", ".join(inspector.get_pk_constraint(table)["constrained_columns"])
            out[table] = _rows(engine, f"SELECT * FROM {table} ORDER BY {pk}")
        return out
    finally:
        engine.dispose()


def test_tables_and_counts(demo) -> None:
    _, counts, engine = demo
    assert set(sa.inspect(engine).get_table_names()) == set(TABLES)
    expected = {"products": 50, "customers": ROWS, "employees": 10, "orders": 2 * ROWS,
                "payments": 2 * ROWS, "support_tickets": ROWS // 2}  # fmt: skip
    assert {t: counts[t] for t in expected} == expected
    assert 2 * ROWS <= counts["order_items"] <= 8 * ROWS
    for table in TABLES:
        assert _scalar(engine, f"SELECT COUNT(*) FROM {table}") == counts[table]


def test_declared_constraints(demo) -> None:
    inspector = sa.inspect(demo[2])
    pks = {t: inspector.get_pk_constraint(t)["constrained_columns"] for t in TABLES}
    assert pks["order_items"] == ["order_id", "line_no"]
    assert all(pks[t] == ["id"] for t in TABLES if t != "order_items")

    fks = {
        (t, tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
        for t in TABLES
        for fk in inspector.get_foreign_keys(t)
    }
    assert fks == {
        ("employees", ("manager_id",), "employees", ("id",)),
        ("orders", ("customer_id",), "customers", ("id",)),
        ("orders", ("employee_id",), "employees", ("id",)),
        ("order_items", ("order_id",), "orders", ("id",)),
        ("order_items", ("product_id",), "products", ("id",)),
        ("payments", ("order_id",), "orders", ("id",)),
        ("support_tickets", ("customer_id",), "customers", ("id",)),
    }
    unique = {(t, tuple(u["column_names"])) for t in TABLES for u in inspector.get_unique_constraints(t)}
    assert unique == {("products", ("sku",)), ("customers", ("email",)), ("employees", ("email",))}

    cols = {c["name"]: c for c in inspector.get_columns("customers")}
    assert not cols["email"]["nullable"] and not cols["country"]["nullable"]
    assert cols["phone"]["nullable"] and cols["birth_date"]["nullable"]
    assert isinstance(cols["birth_date"]["type"], sa.DATE)
    assert isinstance(cols["created_at"]["type"], sa.DATETIME)
    assert cols["email"]["type"].length == 120 and cols["postal_code"]["type"].length == 12
    emp = {c["name"]: c for c in inspector.get_columns("employees")}
    assert isinstance(emp["hired_on"]["type"], sa.DATE) and not emp["hired_on"]["nullable"]
    assert isinstance(emp["salary"]["type"], sa.NUMERIC) and emp["salary"]["nullable"]


def test_values_fit_declared_lengths(demo) -> None:
    """SQLite does not enforce VARCHAR(n); targets like PostgreSQL do, so the data must fit."""
    engine = demo[2]
    for table in demo_metadata().sorted_tables:
        for column in table.columns:
            length = getattr(column.type, "length", None)
            if length:
                longest = _scalar(engine, f"SELECT MAX(LENGTH({column.name})) FROM {table.name}")
                assert longest is None or longest <= length, f"{table.name}.{column.name}"


def test_every_foreign_key_resolves(demo) -> None:
    engine = demo[2]
    inspector = sa.inspect(engine)
    for table in TABLES:
        for fk in inspector.get_foreign_keys(table):
            (col,), (ref,) = fk["constrained_columns"], fk["referred_columns"]
            parent = fk["referred_table"]
            dangling = _scalar(
                engine,
                f"SELECT COUNT(*) FROM {table} c LEFT JOIN {parent} p ON c.{col} = p.{ref} "
                f"WHERE c.{col} IS NOT NULL AND p.{ref} IS NULL",
            )
            assert dangling == 0, f"{table}.{col}"
            assert _scalar(engine, f"SELECT COUNT({col}) FROM {table}") > 0


def test_managers_and_optional_values(demo) -> None:
    engine = demo[2]
    managers = _rows(engine, "SELECT id, manager_id FROM employees ORDER BY id")
    assert [m for _, m in managers[:3]] == [None, None, None]
    assert all(m is not None and m < i for i, m in managers[3:])
    phone_nulls = _scalar(engine, "SELECT AVG(phone IS NULL) FROM customers")
    assert 0.03 <= phone_nulls <= 0.2
    for table, column in [("customers", "birth_date"), ("customers", "street"),
                          ("orders", "employee_id"), ("products", "category")]:  # fmt: skip
        assert _scalar(engine, f"SELECT COUNT(*) FROM {table} WHERE {column} IS NULL") > 0
    assert {r[0] for r in _rows(engine, "SELECT DISTINCT country FROM customers")} == {
        "US", "GB", "DE", "FR"
    }  # fmt: skip


def test_mixed_phone_formats(demo) -> None:
    phones = [r[0] for r in _rows(demo[2], "SELECT phone FROM customers WHERE phone IS NOT NULL")]
    assert any(p.startswith("+1-") for p in phones)
    assert any(re.fullmatch(r"\(\d{3}\) \d{3}-\d{4}", p) for p in phones)
    assert any(p.startswith(("+44 ", "+49 ", "+33 ")) for p in phones)


def test_emails_unique(demo) -> None:
    engine = demo[2]
    for table in ("customers", "employees"):
        distinct = _scalar(engine, f"SELECT COUNT(DISTINCT LOWER(email)) FROM {table}")
        assert distinct == _scalar(engine, f"SELECT COUNT(*) FROM {table}")
        assert _scalar(engine, f"SELECT COUNT(*) FROM {table} WHERE email NOT LIKE '%_@_%._%'") == 0


def test_payment_numbers_are_checksum_valid(demo) -> None:
    rows = _rows(demo[2], "SELECT method, card_number, iban FROM payments")
    cards = [c for m, c, i in rows if m == "card" and c is not None and i is None]
    ibans = [i for m, c, i in rows if m == "iban" and i is not None and c is None]
    assert len(cards) + len(ibans) == len(rows)
    assert cards and ibans
    assert all(len(c.replace(" ", "")) == 16 and luhn_valid(c) for c in cards)
    assert all(iban_valid(i) for i in ibans)
    assert {i.replace(" ", "")[:2] for i in ibans} <= {"DE", "GB", "FR"}


def test_totals_add_up(demo) -> None:
    engine = demo[2]
    wrong = _scalar(
        engine,
        "SELECT COUNT(*) FROM orders o JOIN (SELECT order_id, SUM(quantity * unit_price) s "
        "FROM order_items GROUP BY order_id) i ON i.order_id = o.id "
        "WHERE ABS(o.total - i.s) > 0.005",
    )
    assert wrong == 0
    unpaid = _scalar(
        engine,
        "SELECT COUNT(*) FROM orders o JOIN payments p ON p.order_id = o.id "
        "WHERE ABS(p.amount - o.total) > 0.005",
    )
    assert unpaid == 0


def test_tickets_mention_personal_data(demo) -> None:
    engine = demo[2]
    join = "FROM support_tickets t JOIN customers c ON c.id = t.customer_id"
    own_email = _scalar(engine, f"SELECT COUNT(*) {join} WHERE INSTR(t.body, c.email) > 0")
    own_phone = _scalar(engine, f"SELECT COUNT(*) {join} WHERE INSTR(t.body, c.phone) > 0")
    own_name = _scalar(
        engine, f"SELECT COUNT(*) {join} WHERE INSTR(t.body, c.first_name || ' ' || c.last_name)"
    )
    bodies = _rows(engine, f"SELECT t.body, c.email {join}")
    foreign = [b for b, e in bodies if "@" in b.replace(e, "")]
    assert own_email > 0 and own_phone > 0 and own_name > 0
    assert foreign, "some tickets mention another person's email"
    assert own_email < len(bodies), "not every ticket carries an email"


def test_same_seed_same_data_other_seed_differs(demo, tmp_path: Path) -> None:
    again, other = tmp_path / "again.db", tmp_path / "other.db"
    build_demo_source(again, rows=ROWS, seed=7)
    build_demo_source(other, rows=ROWS, seed=8)
    first = dump(demo[0])
    assert dump(again) == first
    other_dump = dump(other)
    assert other_dump != first
    assert other_dump["customers"] != first["customers"]


def test_replaces_existing_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    path.write_text("not a database")
    counts = build_demo_source(path, rows=20)
    assert counts["customers"] == 20
    assert path.read_bytes().startswith(b"SQLite format 3")
    assert [p.name for p in tmp_path.iterdir()] == ["shop.db"]


def test_failed_build_keeps_old_file_and_cleans_up(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    path.write_text("previous build")
    with pytest.raises(ValueError):
        build_demo_source(path, rows=0)
    with pytest.raises(ValueError):  # numpy refuses the seed after the temp file exists
        build_demo_source(path, rows=20, seed=-1)
    assert path.read_text() == "previous build"
    assert [p.name for p in tmp_path.iterdir()] == ["shop.db"]
