"""The pool cache: a pool read back is exactly the pool drawn (the keyed mapping depends on every
value and its position), a damaged cache file is drawn again, and no cache at all still works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_pipeline.anonymize import pools


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DP_POOL_CACHE", str(tmp_path))
    pools.pool.cache_clear()
    yield tmp_path
    pools.pool.cache_clear()


def test_a_cached_pool_is_the_drawn_pool(cache: Path) -> None:
    drawn = pools._draw("fr_FR", "city")
    first = pools.pool("fr_FR", "city")
    files = list(cache.rglob("fr_FR.city.*.json"))
    assert len(files) == 1
    pools.pool.cache_clear()
    again = pools.pool("fr_FR", "city")
    assert list(first) == list(again) == drawn


def test_a_damaged_cache_is_drawn_again(cache: Path) -> None:
    drawn = list(pools.pool("de_DE", "company"))
    [file] = cache.rglob("de_DE.company.*.json")
    data = json.loads(file.read_text())
    file.write_text(json.dumps({**data, "values": data["values"][::-1]}))  # digest no longer matches
    pools.pool.cache_clear()
    assert list(pools.pool("de_DE", "company")) == drawn
    file.write_text("{not json")
    pools.pool.cache_clear()
    assert list(pools.pool("de_DE", "company")) == drawn


def test_an_unwritable_cache_costs_only_the_draw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("DP_POOL_CACHE", str(blocked))
    pools.pool.cache_clear()
    try:
        assert list(pools.pool("en_GB", "city")) == pools._draw("en_GB", "city")
    finally:
        pools.pool.cache_clear()
