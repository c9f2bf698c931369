"""Faker value pools, drawn once per Faker version and locale (kept in a cache directory between
processes and runs), then indexed by keyed hashes.

A seeded Faker gives a deterministic *sequence*, not a *mapping*; indexing a fixed, sorted pool with a
keyed hash of the value gives a mapping that does not depend on row order. Names come straight from the
locale's provider lists (complete and instant); other kinds are seeded draws. Pools depend on Faker's
version and locale, which is why both are pinned and a known-vector test watches the mapping.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import unicodedata
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
from faker import Faker

from data_pipeline.errors import BadInput

POOL_SEED = 20261127
FALLBACK_LOCALE = "en_US"
_LISTS = {"first_name": "first_names", "last_name": "last_names"}
_DRAWS = {"city": 3_000, "street_name": 3_000, "company": 2_000, "postcode": 3_000}
_MIN_SLUGS = 20  # a locale with fewer ASCII name slugs (ja_JP, say) uses the fallback's

# ISO 3166-1 alpha-2 -> Faker locale, for rules with `country_column`.
COUNTRY_LOCALES: dict[str, str] = {
    "US": "en_US", "GB": "en_GB", "UK": "en_GB", "IE": "en_IE", "CA": "en_CA", "AU": "en_AU",
    "NZ": "en_NZ", "IN": "en_IN", "DE": "de_DE", "AT": "de_AT", "CH": "de_CH", "FR": "fr_FR",
    "BE": "fr_BE", "NL": "nl_NL", "ES": "es_ES", "MX": "es_MX", "IT": "it_IT", "PT": "pt_PT",
    "BR": "pt_BR", "PL": "pl_PL", "CZ": "cs_CZ", "SE": "sv_SE", "DK": "da_DK", "NO": "no_NO",
    "FI": "fi_FI", "JP": "ja_JP",
}  # fmt: skip


def _provider_list(fake: Faker, attr: str) -> list[str]:
    for provider in fake.providers:
        values = getattr(provider, attr, None)
        if values:
            return list(values)  # tuples, lists, and OrderedDicts of weights (keys)
    return []


@cache
def pool(locale: str, kind: str) -> np.ndarray:
    """Sorted distinct values of `Faker(locale).<kind>()`; the same on every run."""
    cached = _cache_file(locale, kind)
    values = _read_cache(cached)
    if values is None:
        values = _draw(locale, kind)
        _write_cache(cached, values)
    return np.array(values, dtype=object)


def _draw(locale: str, kind: str) -> list[str]:
    fake = Faker(locale)
    fake.seed_instance(POOL_SEED)
    values = _provider_list(fake, _LISTS[kind]) if kind in _LISTS else []
    if not values:
        method = getattr(fake, kind)
        values = [method() for _ in range(_DRAWS.get(kind, 3_000))]
    cleaned = {" ".join(str(v).split()).replace(" ,", ",") for v in values}  # en_GB has '\n' inside
    return sorted(cleaned - {""})


def cache_dir() -> Path:
    """Where drawn pools are kept between processes (every step process of a run, every run):
    DP_POOL_CACHE, else the user's cache directory. Pools are Faker's public values, never data."""
    root = os.environ.get("DP_POOL_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(root) / "data_pipeline" / "pools"


def _cache_file(locale: str, kind: str) -> Path:
    """Named by everything a pool depends on: Faker's version, the seed, the draw count."""
    version = importlib.metadata.version("faker")
    return cache_dir() / f"faker-{version}-{POOL_SEED}" / f"{locale}.{kind}.{_DRAWS.get(kind, 3_000)}.json"


def _read_cache(path: Path) -> list[str] | None:
    """The cached pool if its digest still matches it (a damaged file is drawn again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    values = data.get("values") if isinstance(data, dict) else None
    if not isinstance(values, list) or data.get("sha256") != _digest(values):
        return None
    return values


def _write_cache(path: Path, values: list[str]) -> None:
    """Atomically, and never at the cost of the run: an unwritable cache only costs the next draw."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.partial")
        tmp.write_text(json.dumps({"sha256": _digest(values), "values": values}), encoding="utf-8")
        os.replace(tmp, path)


def _digest(values: list[str]) -> str:
    return hashlib.sha256("\n".join(values).encode()).hexdigest()


def slug(text: str) -> str:
    """Lowercase ASCII letters of a name, accents folded: 'Jérôme-Élie' -> 'jeromeelie'."""
    plain = unicodedata.normalize("NFKD", text.replace("ß", "ss")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", plain.lower())


@cache
def slug_pool(locale: str, kind: str) -> np.ndarray:
    """Distinct ASCII slugs of a name pool, for emails and usernames."""
    slugs = sorted({slug(v) for v in pool(locale, kind)} - {""})
    if len(slugs) < _MIN_SLUGS and locale != FALLBACK_LOCALE:
        return slug_pool(FALLBACK_LOCALE, kind)
    return np.array(slugs, dtype=object)


@cache
def _arrow(values: tuple[str, str, bool]) -> pa.Array:
    locale, kind, slugs = values
    found = (slug_pool if slugs else pool)(locale, kind)
    if not len(found):  # a keyed pick needs something to pick from
        raise BadInput(f"Faker's {locale} locale has no {kind} values: set another `locale` in the policy")
    return pa.array(found, type=pa.large_string())


@cache
def street_layout(locale: str) -> tuple[bool, str]:
    """(house number first?, text between number and street) of the locale's usual address format:
    '12 Main Street' (en_US), '12, rue de Paris' (fr_FR), 'Hauptstraße 12' (de_DE)."""
    formats = _provider_list(Faker(locale), "street_address_formats")
    both = [f for f in formats if "{{building_number}}" in f and "{{street_name}}" in f]
    if not both:
        return False, " "
    layout = max(set(both), key=both.count)
    number, street = layout.index("{{building_number}}"), layout.index("{{street_name}}")
    if number < street:
        return True, layout[number + len("{{building_number}}") : street]
    return False, layout[street + len("{{street_name}}") : number]


def locale_for(country: str | None, default: str) -> str:
    """The Faker locale of a country code; unknown countries get the policy's locale."""
    if not isinstance(country, str):
        return default
    return COUNTRY_LOCALES.get(country.strip().upper(), default)


class Pools:
    """Per-run access to pools: one default locale, others on demand (country-consistent rules)."""

    def __init__(self, locale: str = FALLBACK_LOCALE) -> None:
        self.locale = locale

    def __getitem__(self, kind: str) -> np.ndarray:
        return pool(self.locale, kind)

    def slugs(self, kind: str) -> np.ndarray:
        return slug_pool(self.locale, kind)

    def arrow(self, kind: str, locale: str | None = None, slugs: bool = False) -> pa.Array:
        """The pool as an Arrow string array (what rules index with `take`)."""
        return _arrow((locale or self.locale, kind, slugs))

    def warm(self, kinds: tuple[str, ...] = ("first_name", "last_name", "city", "street_name")) -> None:
        """Build pools ahead of the first chunk (the benchmark times this separately)."""
        for kind in kinds:
            self.arrow(kind)
        self.arrow("first_name", slugs=True)
        self.arrow("last_name", slugs=True)
