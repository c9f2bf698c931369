"""Keyed, vectorized hashing: the one source of determinism for every rule.

pandas' `hash_array` is SipHash-2-4 keyed by a 16-byte key, but it ignores the key for numeric
dtypes, so every value is hashed as text. `mix` derives further independent 64-bit streams from one
hash (splitmix64), so a rule needs only one pass of SipHash per column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
ALPHABET36 = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)


def as_text(values: pd.Series) -> np.ndarray:
    """Canonical text of each value, so 42, 42.0 (an int column with NULLs) and '42' agree."""
    if pd.api.types.is_float_dtype(values.dtype) and (values % 1 == 0).all():
        values = values.astype("int64")
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.dt.strftime("%Y-%m-%dT%H:%M:%S").to_numpy(dtype=object)
    return values.astype(str).to_numpy(dtype=object)


def keyed_hash(values: pd.Series, hash_key: str) -> np.ndarray:
    """SipHash-2-4 of each value's text under `hash_key`: uint64, same order as `values`."""
    return pd.util.hash_array(as_text(values), hash_key=hash_key, categorize=True)


def mix(h: np.ndarray, salt: int) -> np.ndarray:
    """An independent 64-bit stream derived from `h` (splitmix64 finalizer)."""
    with np.errstate(over="ignore"):
        z = h + np.uint64(salt) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def digit_matrix(h: np.ndarray, width: int, base: int = 10) -> np.ndarray:
    """(n, width) keyed digits in [0, base): column j comes from stream j of each hash."""
    out = np.empty((len(h), width), dtype=np.uint8)
    for j in range(width):
        out[:, j] = mix(h, 1000 + j) % np.uint64(base)
    return out


def base36(x: np.ndarray, width: int) -> np.ndarray:
    """Fixed-width lowercase base-36 text of each uint64 (zero-padded), as an object array."""
    digits = np.empty((len(x), width), dtype=np.uint8)
    x = x.copy()
    for j in range(width - 1, -1, -1):
        digits[:, j] = ALPHABET36[(x % np.uint64(36)).astype(np.intp)]
        x //= np.uint64(36)
    return digits.view(f"S{width}").ravel().astype(str).astype(object)


def pick(pool: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Pool entry chosen by each hash."""
    return pool[(h % np.uint64(len(pool))).astype(np.intp)]
