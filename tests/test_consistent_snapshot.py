"""A PostgreSQL snapshot read on several connections is still one instant of the source, and the
same checkpoints as on one connection."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from data_pipeline.checkpoint import CheckpointStore
from data_pipeline.errors import PipelineError
from data_pipeline.schema import reflect
from data_pipeline.snapshot import imported_snapshot, take_snapshot

TABLES = """
CREATE TABLE small (id integer PRIMARY KEY, tags text[]);
CREATE TABLE big (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n integer, note text);
CREATE TABLE events (id bigint, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO small SELECT g, ARRAY['a', NULL, 'b c'] FROM generate_series(1, 50) g;
INSERT INTO big (n, note) SELECT g, 'note ' || g FROM generate_series(1, 20000) g;
INSERT INTO events SELECT g, DATE '2024-06-01' + mod(g, 400) FROM generate_series(1, 5000) g;
"""


@pytest.fixture
def source(pg_url: str) -> sa.Engine:
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(TABLES)
    yield engine
    engine.dispose()


@contextmanager
def _role(owner: sa.Engine, pg_url: str, grants: str, options: str = "") -> Iterator[sa.Engine]:
    """An engine logged in as a new role holding only `grants` (`{role}` names it); dropped after."""
    role = f"reader_{uuid.uuid4().hex[:8]}"
    with owner.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN {options}")
        conn.exec_driver_sql(grants.format(role=role))
    engine = sa.create_engine(sa.engine.make_url(pg_url).set(username=role), poolclass=sa.NullPool)
    try:
        yield engine
    finally:
        engine.dispose()
        with owner.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")


def _take(engine: sa.Engine, root: Path, connections: int, progress: list | None = None) -> dict:
    store = CheckpointStore(root, "snapshot")
    refs = take_snapshot(
        engine,
        reflect(engine),
        store,
        retention=timedelta(days=1),
        connections=connections,
        progress=None if progress is None else lambda table, rows: progress.append((table, rows)),
    )
    return {table: (ref.rows, ref.sha256) for table, ref in refs.items()}


def test_several_connections_write_the_same_checkpoints_as_one(source: sa.Engine, tmp_path: Path) -> None:
    progress: list = []
    one = _take(source, tmp_path / "one", 1)
    three = _take(source, tmp_path / "three", 3, progress)
    assert one == three
    assert list(three) == [t.name for t in reflect(source).tables]  # in the schema's order
    assert sorted(progress) == sorted((table, rows) for table, (rows, _) in three.items())
    assert three["big"][0] == 20000 and three["events"][0] == 5000


def test_a_connection_that_imports_the_snapshot_sees_what_the_exporting_one_saw(source: sa.Engine) -> None:
    """What the other connections read is the exporting transaction's instant, not their own."""
    exporting = source.connect().execution_options(isolation_level="REPEATABLE READ")
    with exporting.begin():
        before = exporting.exec_driver_sql("SELECT count(*) FROM big").scalar()
        snapshot_id = exporting.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
        with source.begin() as writer:  # committed after the snapshot was taken
            writer.exec_driver_sql("INSERT INTO big (n) SELECT g FROM generate_series(1, 10) g")
        imported = imported_snapshot(source, snapshot_id)
        try:
            assert imported.exec_driver_sql("SELECT count(*) FROM big").scalar() == before
            assert imported.exec_driver_sql("SHOW TimeZone").scalar() == "UTC"  # the COPY reader's settings
        finally:
            imported.close()
    exporting.close()
    with source.connect() as now:
        assert now.exec_driver_sql("SELECT count(*) FROM big").scalar() == before + 10


def test_a_table_that_cannot_be_read_fails_the_snapshot_on_any_connection(
    source: sa.Engine, pg_url: str, tmp_path: Path
) -> None:
    """One line naming the table; no checkpoint of it is sealed."""
    grants = "GRANT SELECT ON small, events, events_2024, events_2025 TO {role}"
    schema = reflect(source)  # the schema as its owner sees it: `big` is there, unreadable
    store = CheckpointStore(tmp_path / "vault", "snapshot")
    with _role(source, pg_url, grants) as engine, pytest.raises(PipelineError, match="big") as failed:
        take_snapshot(engine, schema, store, retention=timedelta(days=1), connections=2)
    assert "\n" not in str(failed.value)
    assert not list((tmp_path / "vault").rglob("big.parquet*"))
    assert not list((tmp_path / "vault").rglob("*.partial"))  # a read stopped midway leaves nothing


def test_a_failed_read_stops_the_others_at_their_next_batch(pg_url: str, tmp_path: Path) -> None:
    """The largest table is being read on one connection when the next one fails on the other: its
    read ends there (no sealed checkpoint, no partial file) instead of running to its end."""
    owner = sa.create_engine(pg_url)
    with owner.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE huge (id integer PRIMARY KEY, note text);"
            "INSERT INTO huge SELECT g, repeat('x', 60) || g FROM generate_series(1, 600000) g;"
            "CREATE TABLE secret (id integer PRIMARY KEY, note text);"
            "INSERT INTO secret SELECT g, 'n' FROM generate_series(1, 2000) g;"
        )
    vault = tmp_path / "vault"
    try:
        reader = _role(owner, pg_url, "GRANT SELECT ON huge TO {role}")
        with reader as engine, pytest.raises(PipelineError, match="secret"):
            take_snapshot(
                engine,
                reflect(owner),
                CheckpointStore(vault, "snapshot"),
                retention=timedelta(days=1),
                connections=2,
            )
        assert not list(vault.rglob("huge.parquet")) and not list(vault.rglob("*.partial"))
    finally:
        owner.dispose()


def test_a_role_limited_to_one_connection_is_read_on_that_one(
    source: sa.Engine, pg_url: str, tmp_path: Path
) -> None:
    """A second connection the server refuses (CONNECTION LIMIT) is no reason to fail the snapshot."""
    one = _take(source, tmp_path / "one", 1)
    grants = "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"
    with _role(source, pg_url, grants, options="CONNECTION LIMIT 1") as engine:
        assert _take(engine, tmp_path / "limited", 3) == one
