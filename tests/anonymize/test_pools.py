"""Faker pools: built once per locale, sorted and distinct, so a hash indexes the same value every run."""

from __future__ import annotations

import numpy as np
import pytest

from data_pipeline.anonymize.pools import COUNTRY_LOCALES, Pools, locale_for, pool, slug_pool
from data_pipeline.errors import BadInput


def test_pools_are_sorted_distinct_and_cached() -> None:
    for kind in ("first_name", "last_name", "city", "street_address", "company"):
        values = pool("en_US", kind)
        assert list(values) == sorted(set(values)) and len(values) > 300, kind
        assert pool("en_US", kind) is values  # built once per run and locale
    assert not any("\n" in v for v in pool("en_GB", "street_address"))


def test_name_pools_are_the_locales_whole_name_lists() -> None:
    assert len(pool("en_US", "first_name")) >= 690 and len(pool("de_DE", "first_name")) >= 1900


def test_slugs_are_ascii_letters_with_accents_folded() -> None:
    slugs = slug_pool("fr_FR", "first_name")
    assert all(s.isascii() and s.isalpha() and s.islower() for s in slugs)
    assert "jerome" in set(slugs) or "helene" in set(slugs)
    assert len(slug_pool("ja_JP", "last_name")) >= 20  # no Latin names: the fallback locale's slugs


def test_countries_map_to_locales_and_unknown_ones_to_the_default() -> None:
    assert locale_for("de", "en_US") == "de_DE" and locale_for(" GB ", "en_US") == "en_GB"
    assert locale_for("ZZ", "fr_FR") == "fr_FR" and locale_for(None, "fr_FR") == "fr_FR"
    assert all(len(code) == 2 for code in COUNTRY_LOCALES)
    arrow = Pools("en_US").arrow("city", "de_DE")
    assert arrow.to_pylist() == list(pool("de_DE", "city"))


def test_an_empty_pool_is_refused_with_the_locale_and_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """A keyed pick from nothing would divide by zero: refused before any rule runs."""
    from data_pipeline.anonymize import pools

    monkeypatch.setattr(pools, "pool", lambda locale, kind: np.array([], dtype=object))
    pools._arrow.cache_clear()
    try:
        with pytest.raises(BadInput, match="en_US locale has no city values"):
            Pools("en_US").arrow("city")
    finally:
        pools._arrow.cache_clear()
