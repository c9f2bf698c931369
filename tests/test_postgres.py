"""The pipeline on PostgreSQL, the server users run: as target, and as source and target."""

from __future__ import annotations

from pathlib import Path

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


def test_sqlite_source_to_postgres_target(run_cli, settings, source_db: Path, pg_url: str) -> None:
    result = run_cli("run", "--target", pg_url)
    assert result.exit_code == 0, result.output
    assert "release 1 published" in result.output
    assert counts(pg_url) == counts(f"sqlite:///{source_db}")
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
