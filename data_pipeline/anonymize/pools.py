"""Faker value pools, built once per run and locale, then indexed by keyed hashes.

A seeded Faker gives a deterministic *sequence*, not a *mapping*; indexing a fixed, sorted pool with a
keyed hash of the value gives a mapping that does not depend on row order. Pools depend on Faker's
version and locale, which is why both are pinned and recorded.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np
from faker import Faker

POOL_SEED = 20261127
_DRAWS = {"first_name": 30_000, "last_name": 30_000, "city": 8_000, "street_address": 8_000,
          "company": 8_000, "job": 3_000, "word": 5_000}


@cache
def pool(locale: str, kind: str) -> np.ndarray:
    """Sorted distinct values of `Faker(locale).<kind>()`; the same on every run."""
    fake = Faker(locale)
    fake.seed_instance(POOL_SEED)
    method = getattr(fake, kind)
    values = sorted({method() for _ in range(_DRAWS.get(kind, 5_000))})
    return np.array(values, dtype=object)


@cache
def slug_pool(locale: str, kind: str) -> np.ndarray:
    """Lowercase ASCII versions of a name pool, for emails and usernames."""
    slugs = sorted({re.sub(r"[^a-z]", "", v.lower()) for v in pool(locale, kind)} - {""})
    return np.array(slugs, dtype=object)


class Pools:
    """Per-run access to pools for one locale."""

    def __init__(self, locale: str = "en_US") -> None:
        self.locale = locale

    def __getitem__(self, kind: str) -> np.ndarray:
        return pool(self.locale, kind)

    def slugs(self, kind: str) -> np.ndarray:
        return slug_pool(self.locale, kind)
