"""Helpers shared by tests (importable module: pytest's conftest is not)."""

from __future__ import annotations

import sqlalchemy as sa

from data_pipeline.checksums import luhn_valid
from data_pipeline.config import Settings
from data_pipeline.schema import reflect


def dump(url: str) -> dict[str, list[tuple]]:
    """Every table of a database, rows sorted: equal dumps mean equal databases."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        out = {
            t.name: sorted((tuple(r) for r in conn.execute(sa.text(f'SELECT * FROM "{t.name}"'))), key=repr)
            for t in reflect(engine).tables
        }
    engine.dispose()
    return out


def dump_target(settings: Settings) -> dict[str, list[tuple]]:
    return dump(settings.target_url)


def target_tables(settings: Settings) -> list[str]:
    """Tables in the (SQLite) target; [] when nothing was ever published."""
    import sqlite3
    from pathlib import Path

    path = Path(settings.target_url.removeprefix("sqlite:///"))
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]


def luhn_check_digit(payload: str) -> str:
    """The digit that makes `payload` + it a valid card number (test data)."""
    return next(d for d in "0123456789" if luhn_valid(payload + d))
