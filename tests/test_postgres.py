"""The pipeline on PostgreSQL, the server users run: as target, and as source and target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data_pipeline.demo import demo_metadata
from data_pipeline.schema import reflect


def copy_demo_to(source_db: Path, url: str) -> None:
    src = sa.create_engine(f"sqlite:///{source_db}")
    dst = sa.create_engine(url)
    meta = demo_metadata()
    meta.create_all(dst)
    with src.connect() as read, dst.begin() as write:
        for table in meta.sorted_tables:
            rows = [dict(r._mapping) for r in read.execute(sa.select(table))]
            if rows:
                write.execute(table.insert(), rows)


def counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        return {
            t.name: conn.execute(sa.text(f'SELECT COUNT(*) FROM "{t.name}"')).scalar()
            for t in reflect(engine).tables
        }


def test_sqlite_source_to_postgres_target(run_cli, cli, settings, source_db: Path, pg_url: str) -> None:
    from data_pipeline.cli import app

    result = run_cli("run", "--target", pg_url)
    assert result.exit_code == 0, result.output
    assert "release 1 published" in result.output
    assert counts(pg_url) == counts(f"sqlite:///{source_db}")
    # what both backends have (tables, columns, keys, rows) is verified, by the run and by the command
    where = ["--home", str(settings.home), "--source", settings.source_url, "--target", pg_url]
    checked = cli.invoke(app, ["verify", *where])
    assert checked.exit_code == 0, checked.output
    assert "verified release 1: 7 objects as in the source, rows as published" in checked.output
    with sa.create_engine(pg_url).begin() as conn:
        conn.exec_driver_sql("DELETE FROM payments WHERE id IN (SELECT id FROM payments LIMIT 1)")
    checked = cli.invoke(app, ["verify", *where])
    assert checked.exit_code == 1 and "rows payments:" in checked.output, checked.output
    published = pd.read_sql_table("customers", sa.create_engine(pg_url))
    original = pd.read_sql_table("customers", sa.create_engine(f"sqlite:///{source_db}"))
    assert not set(published["email"]) & set(original["email"])


def test_postgres_source_to_postgres_target(run_cli, settings, source_db: Path, pg_url: str) -> None:
    source = pg_url
    target = pg_url + "_target"
    admin = sa.create_engine(pg_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{target.rsplit("/", 1)[1]}"')
    try:
        copy_demo_to(source_db, source)
        result = run_cli("run", "--source", source, "--target", target)
        assert result.exit_code == 0, result.output
        assert counts(target) == counts(source)
    finally:
        sa.create_engine(target).dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{target.rsplit("/", 1)[1]}" WITH (FORCE)')


TYPED_DDL = """
CREATE SCHEMA "Sales Data";
CREATE TYPE "Sales Data".mood AS ENUM ('happy', 'sad', 'meh');
CREATE TABLE "Sales Data"."Customer Accounts" (
    id uuid PRIMARY KEY,
    "Full Name" text NOT NULL,
    email varchar(120) NOT NULL UNIQUE,
    created timestamptz NOT NULL,
    balance numeric(12, 2),
    profile jsonb,
    tags text[],
    mood "Sales Data".mood
);
CREATE TABLE "Sales Data"."Orders" (
    id integer PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES "Sales Data"."Customer Accounts"(id),
    placed timestamptz NOT NULL
);
"""

TYPED_POLICY = {
    "version": 1,
    "tables": {
        "Customer Accounts": {
            "columns": {
                "id": {"class": "key", "rule": "keep"},
                "Full Name": {"class": "pii", "rule": "full_name"},
                "email": {"class": "pii", "rule": "email"},
                "created": {"class": "pii", "rule": "date_shift", "subject": "id", "max_days": 20},
                "balance": {"class": "safe", "rule": "keep"},
                "profile": {"class": "pii", "rule": "json", "paths": {"contact.email": "email"}},
                "tags": {"class": "safe", "rule": "keep"},
                "mood": {"class": "safe", "rule": "keep"},
            }
        },
        "Orders": {
            "columns": {
                "id": {"class": "key", "rule": "keep"},
                "account_id": {"class": "key", "rule": "keep"},
                "placed": {"class": "pii", "rule": "date_shift", "subject": "account_id", "max_days": 20},
            }
        },
    },
}


def _typed_source(url: str, rows: int = 300) -> None:
    import json
    import uuid
    from datetime import UTC, datetime, timedelta

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(TYPED_DDL)
        accounts = [
            {
                "id": str(uuid.UUID(int=i + 1)),
                "name": f"Person Number{i}",
                "email": f"person{i}@corp.example",
                "created": datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=i),
                "balance": f"{i}.25",
                "profile": json.dumps({"contact": {"email": f"person{i}@corp.example"}, "plan": "gold"}),
                "tags": ["a", "b c"] if i % 2 else None,
                "mood": ["happy", "sad", "meh"][i % 3],
            }
            for i in range(rows)
        ]
        conn.execute(
            sa.text(
                'INSERT INTO "Sales Data"."Customer Accounts" VALUES '
                "(CAST(:id AS uuid), :name, :email, :created, :balance, CAST(:profile AS jsonb), :tags, "
                'CAST(:mood AS "Sales Data".mood))'
            ),
            accounts,
        )
        conn.execute(
            sa.text('INSERT INTO "Sales Data"."Orders" VALUES (:id, CAST(:account AS uuid), :placed)'),
            [
                {
                    "id": i,
                    "account": accounts[i % rows]["id"],
                    "placed": accounts[i % rows]["created"] + timedelta(days=3),
                }
                for i in range(rows * 2)
            ],
        )
    engine.dispose()


def test_postgres_types_schemas_and_quoted_identifiers(
    cli, home, no_suites, pg_url: str, tmp_path: Path
) -> None:
    import os

    import yaml

    from data_pipeline.cli import app

    target = pg_url + "_typed"
    admin = sa.create_engine(pg_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{target.rsplit("/", 1)[1]}"')
    policy = tmp_path / "typed.yaml"
    policy.write_text(yaml.safe_dump(TYPED_POLICY))
    _typed_source(pg_url)
    os.environ.update({"DP_SOURCE_SCHEMA": "Sales Data", "DP_SUITES": str(no_suites)})
    common = ["--home", str(home), "--source", pg_url, "--policy", str(policy)]
    try:
        result = cli.invoke(app, ["run", *common, "--target", target])
        assert result.exit_code == 0, result.output
        engine = sa.create_engine(target)
        with engine.connect() as conn:
            types = dict(
                conn.execute(
                    sa.text(
                        "SELECT column_name, udt_name FROM information_schema.columns "
                        "WHERE table_schema = 'Sales Data' AND table_name = 'Customer Accounts'"
                    )
                ).all()
            )
            assert types == {
                "id": "uuid",
                "Full Name": "text",
                "email": "varchar",
                "created": "timestamptz",
                "balance": "numeric",
                "profile": "jsonb",
                "tags": "_text",
                "mood": "mood",
            }
            rows = conn.execute(
                sa.text(
                    'SELECT email, profile, tags, mood::text, "Full Name" '
                    'FROM "Sales Data"."Customer Accounts" ORDER BY id'
                )
            ).all()
            assert not any(r.email.endswith("@corp.example") for r in rows)
            assert all(r.profile["contact"]["email"] == r.email and r.profile["plan"] == "gold" for r in rows)
            assert rows[1].tags == ["a", "b c"] and rows[0].tags is None and rows[0].mood == "happy"
            assert not any(r[4].startswith("Person Number") for r in rows)
            dangling = conn.execute(
                sa.text(
                    'SELECT COUNT(*) FROM "Sales Data"."Orders" o '
                    'LEFT JOIN "Sales Data"."Customer Accounts" a '
                    "ON o.account_id = a.id WHERE a.id IS NULL"
                )
            ).scalar()
            assert dangling == 0
            gaps = (
                conn.execute(
                    sa.text(
                        'SELECT DISTINCT o.placed - a.created FROM "Sales Data"."Orders" o '
                        'JOIN "Sales Data"."Customer Accounts" a ON o.account_id = a.id'
                    )
                )
                .scalars()
                .all()
            )
            assert [str(g) for g in gaps] == ["3 days, 0:00:00"]  # one shift per subject keeps intervals
        engine.dispose()

        mixed = cli.invoke(app, ["run", *common, "--target", f"sqlite:///{tmp_path / 'mixed.db'}"])
        assert mixed.exit_code == 0, mixed.output
        lite = sa.create_engine(f"sqlite:///{tmp_path / 'mixed.db'}")
        with lite.connect() as conn:
            assert conn.execute(sa.text('SELECT COUNT(*) FROM "Orders"')).scalar() == 600
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{target.rsplit("/", 1)[1]}" WITH (FORCE)')


PARITY_DDL = """
CREATE TYPE "Odd Schema".colour AS ENUM ('red', 'green');
CREATE TABLE "Odd Schema"."Mixed ""Types"" Table" (
    "Id" bigint PRIMARY KEY, small smallint, i integer, r real, d double precision, n numeric(30, 6),
    flag boolean, day date, ts timestamp, tstz timestamptz, t text, v varchar(20), c char(4),
    u uuid, j json, jb jsonb, tags text[], nums integer[], amounts numeric[],
    at time, colour "Odd Schema".colour, addr inet
);
"""
PARITY_ROWS = """
INSERT INTO "Odd Schema"."Mixed ""Types"" Table" VALUES
 (1, 1, -2, 1.5, 0.1, 12345678901234.123456, true, '2024-02-29', '2024-01-01 10:00:00.123456',
  '2024-01-01 10:00:00.5+05:30', 'a,b "c"' || E'\\n' || 'd\\e', '', 'ab',
  '00000000-0000-0000-0000-00000000000a',
  '{"b": 1.10,  "a": [1, "é"]}', '{"b": 1.10, "a": [1, "é", null], "n": 1e5}', '{"x,y","",NULL,"q\\"r"}',
  '{1,NULL,3}', '{1.50,2}', '23:59:59.999999', 'green', '10.0.0.1/8'),
 (2, NULL, NULL, 'NaN', 'Infinity', 'NaN', false, '0001-01-01', '1900-01-01 00:00:00',
  '1900-01-01 00:00:00+00', 'NULL', 'NA', NULL, NULL, NULL, 'null', '{}', NULL, NULL, NULL,
  'red', NULL),
 (3, NULL, NULL, NULL, '-Infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL);
"""


def test_copy_snapshot_matches_the_sqlalchemy_snapshot(pg_url: str, tmp_path: Path) -> None:
    """The COPY reader puts in a checkpoint exactly what the row-by-row path does: same types, NULL vs
    '' kept apart, text with commas/quotes/newlines, arrays as before; JSON documents as the server's
    text on both (every digit of a number, a json value's exact text)."""
    from datetime import timedelta

    import pyarrow.parquet as pq

    from data_pipeline import snapshot
    from data_pipeline.checkpoint import CheckpointStore

    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql('CREATE SCHEMA "Odd Schema"')
        conn.exec_driver_sql(PARITY_DDL)
        conn.exec_driver_sql(PARITY_ROWS)
        conn.exec_driver_sql('CREATE TABLE "Odd Schema".empty (id integer PRIMARY KEY, note text)')
        conn.exec_driver_sql("SET TimeZone = 'America/St_Johns'")  # the session's zone must not matter
    schema = reflect(engine, schema="Odd Schema")
    name = 'Mixed "Types" Table'

    def take(name: str) -> dict:
        store = CheckpointStore(tmp_path / name, "snapshot")
        refs = snapshot.take_snapshot(engine, schema, store, retention=timedelta(days=1))
        return {t: pq.read_table(ref.path) for t, ref in refs.items()}

    copied = take("copy")
    original = snapshot._pg_copy_chunks
    snapshot._pg_copy_chunks = snapshot._chunks  # the generic SQLAlchemy path, as before COPY
    try:
        fetched = take("rows")
    finally:
        snapshot._pg_copy_chunks = original
    engine.dispose()
    assert set(copied) == set(fetched) == {name, "empty"}
    for table in copied:
        assert copied[table].schema == fetched[table].schema
        assert copied[table].to_pylist() == fetched[table].to_pylist()
    assert copied["empty"].num_rows == 0
    row = copied[name].to_pylist()
    assert row[0]["t"] == 'a,b "c"\nd\\e' and row[0]["v"] == "" and row[2]["v"] is None
    assert row[1]["t"] == "NULL" and row[1]["v"] == "NA" and row[1]["r"] is None  # NaN -> NULL as before
    assert row[0]["j"] == '{"b": 1.10,  "a": [1, "é"]}'  # json: the text as stored
    assert row[0]["jb"] == '{"a": [1, "é", null], "b": 1.10, "n": 100000}'  # jsonb: its canonical text
    assert row[1]["jb"] == "null" and row[1]["j"] is None  # a JSON null is not SQL NULL


def test_publish_adds_keys_after_the_load_and_a_failed_load_keeps_the_previous_release(pg_url: str) -> None:
    import pyarrow as pa
    import pytest

    from data_pipeline.publish import publish, published_release

    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE parent (id integer PRIMARY KEY, code text NOT NULL UNIQUE)")
        conn.exec_driver_sql(
            "CREATE TABLE child (id integer PRIMARY KEY, parent_id integer REFERENCES parent)"
        )
    schema = reflect(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE child, parent")
    good = {
        "parent": pa.table({"id": [1, 2], "code": ["a", ""]}),
        "child": pa.table({"id": [1, 2, 3], "parent_id": [1, 2, None]}),
    }
    assert publish(engine, schema, lambda t: [good[t.name]], release=1, policy_digest="d") == {
        "parent": 2,
        "child": 3,
    }
    with engine.connect() as conn:
        constraints = set(conn.execute(sa.text("SELECT conname FROM pg_constraint")).scalars())
        assert {"parent_pkey", "parent_code_key", "child_pkey", "child_parent_id_fkey"} <= constraints
        assert conn.execute(sa.text("SELECT code FROM parent WHERE id = 2")).scalar() == ""

    def failing(table):
        yield good[table.name].slice(0, 1)
        if table.name == "child":
            raise RuntimeError("checkpoint went away")

    with pytest.raises(RuntimeError, match="went away"):
        publish(engine, schema, failing, release=2, policy_digest="d")
    dangling = {"parent": good["parent"], "child": pa.table({"id": [1], "parent_id": [9]})}
    with pytest.raises(sa.exc.IntegrityError):  # the FK, added after the load, still refuses it
        publish(engine, schema, lambda t: [dangling[t.name]], release=2, policy_digest="d")
    assert published_release(engine) == 1
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM child")).scalar() == 3
    engine.dispose()


PEOPLE_DDL = """
CREATE TABLE people (id integer PRIMARY KEY, name text NOT NULL, email text NOT NULL, phone text);
INSERT INTO people
    SELECT i, 'Person Number' || i, 'person' || i || '@corp.example', '+1 555 ' || lpad(i::text, 7, '0')
    FROM generate_series(1, {rows}) AS i;
ANALYZE people;
"""
PEOPLE_POLICY = {
    "version": 1,
    "tables": {
        "people": {
            "columns": {
                "id": {"class": "key", "rule": "keep"},
                "name": {"class": "pii", "rule": "full_name"},
                "email": {"class": "pii", "rule": "email"},
                "phone": {"class": "pii", "rule": "phone"},
            }
        }
    },
}


def test_a_partitioned_run_whose_parts_cut_the_copy_batches(pg_url: str, tmp_path: Path, no_suites) -> None:
    """Issue 19: from the second part on, a part starts inside a batch of the COPY reader; the leak
    check got strings whose offsets do not start at 0 and the run died with SIGSEGV. Now it
    publishes what an unpartitioned run publishes."""
    import os
    import subprocess
    import sys

    import pyarrow.parquet as pq
    import yaml
    from support import dump

    from data_pipeline import checks
    from data_pipeline.checkpoint import CheckpointStore
    from data_pipeline.config import REPO_ROOT
    from data_pipeline.partitions import Part

    rows, part_rows = 60_000, 20_000
    with sa.create_engine(pg_url).begin() as conn:
        conn.exec_driver_sql(PEOPLE_DDL.format(rows=rows))
    policy = tmp_path / "people.yaml"
    policy.write_text(yaml.safe_dump(PEOPLE_POLICY))
    admin = sa.create_engine(pg_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    targets = {"parted": pg_url + "_parted", "whole": pg_url + "_whole"}
    with admin.connect() as conn:
        for url in targets.values():
            conn.exec_driver_sql(f'CREATE DATABASE "{url.rsplit("/", 1)[1]}"')
    try:
        for name, partition_rows in (("parted", part_rows), ("whole", 0)):
            env = {
                **os.environ,
                "DP_HOME": str(tmp_path / name),
                "DP_SOURCE_URL": pg_url,
                "DP_TARGET_URL": targets[name],
                "DP_POLICY": str(policy),
                "DP_SUITES": str(no_suites),
                "DP_ANON_KEY": "issue-19-key-0123456789",
                "DP_PARTITION_ROWS": str(partition_rows),
                "PYTHONPATH": str(REPO_ROOT),
            }
            command = [sys.executable, "-m", "data_pipeline.cli", "run"]
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
            assert result.returncode == 0, result.stdout + result.stderr
            assert "release 1 published" in result.stdout
        # the COPY reader's batches are the raw snapshot's row groups: a part starts inside one
        (snapshot,) = (tmp_path / "parted" / "vault").glob("*/people.parquet")
        meta = pq.ParquetFile(snapshot).metadata
        batch_starts = set(np.cumsum([0] + [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]))
        part_starts = {Part(i, rows // part_rows).bounds(rows)[0] for i in range(rows // part_rows)}
        assert part_starts - batch_starts
        # what the leak check of each part folds, read the way the run reads it, is right
        store = CheckpointStore(snapshot.parent.parent, "snapshot")
        for start in sorted(part_starts):
            for frame in store.batches_between(f"{snapshot.parent.name}/people", start, start + part_rows):
                folded = checks.normalize(frame["name"])
                folded.validate(full=True)
                assert folded.to_pylist() == [f"personnumber{i}" for i in frame["id"]]
        parted, whole = dump(targets["parted"]), dump(targets["whole"])
        assert len(parted["people"]) == rows and parted == whole
    finally:
        for url in targets.values():
            sa.create_engine(url).dispose()
        with admin.connect() as conn:
            for url in targets.values():
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
