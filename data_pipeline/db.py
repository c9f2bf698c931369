"""Engines for any SQLAlchemy URL, with real transactions everywhere.

pysqlite's legacy transaction handling autocommits DDL and never BEGINs before a SELECT, which would
break both the consistent snapshot and the atomic publish; we take over BEGIN ourselves.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import event

from data_pipeline.config import redact_url
from data_pipeline.errors import BadInput


def normalize_url(url: str) -> str:
    """`postgresql://` means psycopg2 here (SQLAlchemy 2.1 defaults to psycopg 3)."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, role: str = "database") -> sa.Engine:
    try:
        engine = sa.create_engine(normalize_url(url))
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError) as exc:
        raise BadInput(f"bad {role} URL {redact_url(url)}: {exc.__class__.__name__}") from None
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _no_legacy_transactions(dbapi_connection, _record):  # noqa: ANN001
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA busy_timeout = 30000")

        @event.listens_for(engine, "begin")
        def _begin(conn):  # noqa: ANN001
            conn.exec_driver_sql("BEGIN")

    return engine


def error_reason(exc: Exception) -> str:
    """The driver's own first line (no SQL echo, no traceback): what users need, nothing secret."""
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]


def check_reachable(engine: sa.Engine, role: str) -> None:
    """One clear line (password hidden) instead of a driver traceback."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        raise BadInput(
            f"cannot connect to {role} {redact_url(str(engine.url))}: {error_reason(exc)}"
        ) from None
