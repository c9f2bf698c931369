"""The Dagster instance a CLI run records itself in: the one DAGSTER_HOME/dagster.yaml configures, with
the embedded SQLite storage's event log kept on open connections, committing without an fsync each.

A small run stores hundreds of events (each step's start, outputs, planned and evaluated checks,
materializations), each its own transaction; Dagster's SQLite event log builds a new SQLAlchemy engine
for every one, and each commit waits for the disk: that, not the rows, was where a small database's
run spent most of its time. Here each database file keeps one engine, and its WAL is synced at
checkpoints only (`synchronous=NORMAL`): an application crash loses nothing committed, a power loss
at most the run's last events (its history, never the release: the ledger and the target are apart,
and a resumed run verifies its checkpoints anyway). The files, tables and rows are Dagster's own, so
`dagster dev` reads the run as before; any other storage (PostgreSQL, a custom class) is used as
configured.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster._serdes import ConfigurableClassData
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection

DEFAULT_STORAGE = ("dagster._core.storage.sqlite_storage", "DagsterSqliteStorage")


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """One engine (and its pool of open connections) per database file, for the storage's life;
    commits synced at WAL checkpoints."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: dict[str, Engine] = {}
        self._tables: set[str] = set()
        super().__init__(base_dir, inst_data)

    def has_table(self, table_name: str) -> bool:
        """Asked for every check evaluation and asset event stored, each time on a new engine; a
        table that exists keeps existing (one that does not yet is asked again)."""
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)
        return table_name in self._tables

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engines.get(shard)
            if engine is None:
                engine = create_engine(
                    self.conn_string_for_shard(shard), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
                )
                event.listen(engine, "connect", _sync_at_checkpoints)
                if shard not in self._initialized_dbs:
                    self._initdb(engine)  # a new file is switched to WAL here
                    self._initialized_dbs.add(shard)
                    engine.dispose()  # connections opened before that were not relaxed
                self._engines[shard] = engine
            with engine.connect() as conn, conn.begin():
                yield conn

    def _close(self) -> None:
        engines, self._engines = self._engines, {}
        for engine in engines.values():
            engine.dispose()

    def wipe(self) -> None:
        self._close()  # its files are deleted
        super().wipe()

    def dispose(self) -> None:
        self._close()
        super().dispose()


def _sync_at_checkpoints(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    """Only in WAL mode, where a power loss cannot corrupt the file (Dagster makes its files WAL)."""
    (mode,) = dbapi_connection.execute("PRAGMA journal_mode").fetchone()
    if str(mode).lower() == "wal":
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class PooledSqliteStorage(DagsterSqliteStorage):
    """Dagster's default storage, with the event log above."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data)
        self._event_log_storage = PooledSqliteEventLogStorage(self._event_log_storage._base_dir)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: dict) -> PooledSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)


def run_instance(dagster_home: Path) -> dg.DagsterInstance:
    """The instance `dagster_home` configures; its default SQLite storage as PooledSqliteStorage."""
    ref = InstanceRef.from_dir(os.fspath(dagster_home))
    data = ref.storage_data
    if data is not None and (data.module_name, data.class_name) == DEFAULT_STORAGE:
        pooled = ConfigurableClassData(__name__, PooledSqliteStorage.__name__, data.config_yaml)
        ref = ref._replace(storage_data=pooled)
    return dg.DagsterInstance.from_ref(ref)
