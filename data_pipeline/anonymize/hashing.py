"""Keyed, vectorized hashing: the one source of determinism for every rule.

Every value is hashed as its canonical text (`as_text`: 42, 42.0 and '42' agree) with SipHash-2-4 under
a 16-byte sub-key, then a bijective splitmix finalizer: exactly what pandas' `hash_array(hash_key=...)`
computes, but run by the compiled `_kernels.siphash` straight over the Arrow buffers (pandas needs a
Python `bytes` object per value, which costs twice the hash). At about 30 ns a value, hashing every
row is as cheap as finding the distinct ones first.

`mix` derives further independent 64-bit streams from one hash (splitmix64), so a rule needs only one
SipHash pass per column. Builders at the bottom turn digit matrices into Arrow strings without Python
objects, so outputs stay columnar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data_pipeline.anonymize import _kernels

ALPHABET36 = b"0123456789abcdefghijklmnopqrstuvwxyz"


def as_text(values: pd.Series) -> np.ndarray:
    """Canonical text of each value, so 42, 42.0 (an int column with NULLs) and '42' agree."""
    return np.asarray(text_array(values).to_numpy(zero_copy_only=False), dtype=object)


def text_array(values: pd.Series) -> pa.Array:
    """`as_text` as an Arrow string array (no NULLs expected); cheap for Arrow-backed text."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return pa.array(np.where(values.to_numpy(dtype=bool), "True", "False"), type=pa.string())
    if pd.api.types.is_float_dtype(dtype):
        numbers = values.to_numpy(dtype="float64")
        if len(numbers) and np.isfinite(numbers).all() and (numbers % 1 == 0).all():
            return pc.cast(pa.array(numbers.astype(np.int64)), pa.string())
        return pa.array(values.astype(str).to_numpy(dtype=object), type=pa.string())
    if pd.api.types.is_integer_dtype(dtype):
        return pc.cast(pa.array(values, from_pandas=True), pa.string())  # nullable Int64 too
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return pa.array(values.dt.strftime("%Y-%m-%dT%H:%M:%S").to_numpy(dtype=object), type=pa.string())
    if isinstance(dtype, pd.StringDtype):
        return one_chunk(pa.array(values.array))  # large_string as pandas holds it: no cast
    try:
        return pa.array(values.to_numpy(dtype=object), type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed objects: their str()
        return pa.array(values.astype(str).to_numpy(dtype=object), type=pa.string())


def one_chunk(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The array itself, or a chunked array's chunks as one (no copy when there is one)."""
    if isinstance(arr, pa.ChunkedArray):
        return arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    return arr


def max_bytes(arr: pa.Array | pa.ChunkedArray) -> int:
    """The longest value in bytes (>= its length in characters), read from the offsets alone."""
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    return max((int(np.diff(string_buffers(c)[0]).max()) for c in chunks if len(c)), default=0)


def keyed_hash(values: pd.Series | pa.Array, hash_key: str) -> np.ndarray:
    """SipHash-2-4 of each value's text under `hash_key`: uint64, same order as `values`."""
    if isinstance(values, pd.Series) and _exact_int64(values.dtype):  # ids, keys: no text column needed
        return _kernels.siphash_int64(values.to_numpy(dtype=np.int64), hash_key.encode())
    text = values if isinstance(values, pa.Array | pa.ChunkedArray) else text_array(values)
    return _siphash(text, hash_key)


def _exact_int64(dtype: object) -> bool:
    """numpy integers that int64 holds exactly (pandas' nullable Int64 can hold NULLs: not these)."""
    return isinstance(dtype, np.dtype) and (dtype.kind == "i" or (dtype.kind == "u" and dtype.itemsize < 8))


def _siphash(text: pa.Array | pa.ChunkedArray, hash_key: str) -> np.ndarray:
    offsets, data = string_buffers(text)
    return _kernels.siphash(offsets, data, hash_key.encode())


def string_buffers(text: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data) of a string array without copying: row i is data[offsets[i]:offsets[i + 1]]
    (offsets are int32 or int64 as Arrow has them; a slice keeps its parent's buffer)."""
    text = one_chunk(text)
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        text = text.cast(pa.string())
    width = np.int64 if pa.types.is_large_string(text.type) else np.int32
    _, offsets, data = text.buffers()
    if offsets is None:  # an empty array
        return np.zeros(1, width), np.zeros(1, np.uint8)
    offsets = np.frombuffer(offsets, dtype=width)[text.offset : text.offset + len(text) + 1]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None and data.size else np.zeros(1, np.uint8)
    return offsets, raw


@dataclass(frozen=True)
class Picks:
    """Pool entries chosen per row, not yet copied out: `concat` reads them in place."""

    pool: pa.Array
    positions: np.ndarray  # int64, one per row

    def __len__(self) -> int:
        return len(self.positions)

    def array(self) -> pa.Array:
        return self.pool.take(pa.array(self.positions))


def concat(*pieces: pa.Array | Picks | str) -> pa.Array:
    """Row-wise concatenation of string arrays (no NULLs), pool picks and constants, e.g.
    concat(first, ".", last, "@", domain)."""
    n = next(len(p) for p in pieces if not isinstance(p, str))
    parts = []
    for piece in pieces:
        if isinstance(piece, str):
            parts.append((None, piece.encode(), None))
            continue
        strings, rows = (piece.pool, piece.positions) if isinstance(piece, Picks) else (piece, None)
        offsets, data = string_buffers(strings)
        parts.append((offsets.astype(np.int64, copy=False), data, rows))
    offsets, data = _kernels.concat(parts, n)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def mix(h: np.ndarray, salt: int) -> np.ndarray:
    """An independent 64-bit stream derived from `h` (splitmix64 of h + salt * golden ratio)."""
    return _kernels.mix(np.ascontiguousarray(h, dtype=np.uint64), salt)


def radix_digits(x: np.ndarray, width: int, base: int) -> np.ndarray:
    """(n, width) digits of each uint64 in `base`, most significant first: an exact encoding
    when base**width >= 2**64, otherwise the low `width` digits. (A compiled loop writing a
    (width, n) buffer, seen transposed.)"""
    return _kernels.radix(np.ascontiguousarray(x, dtype=np.uint64), width, base).T


def digit_matrix(h: np.ndarray, width: int, base: int = 10) -> np.ndarray:
    """(n, width) keyed digits in [0, base): every 64-bit stream yields as many as it holds."""
    per_stream = max(1, int(np.floor(64 / np.log2(base))) - 1)  # drop one: keeps the bias tiny
    parts = []
    for s in range(0, width, per_stream):
        parts.append(_leading_digits(mix(h, 1000 + s), min(per_stream, width - s), per_stream, base))
    if not parts:
        return np.empty((len(h), 0), np.uint8)
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def _leading_digits(x: np.ndarray, k: int, width: int, base: int) -> np.ndarray:
    """The first k of radix_digits(x, width, base), without computing the other width - k: they are
    the low k digits of x // base**(width - k) (exact: base**width < 2**64)."""
    if k == width:
        return radix_digits(x, width, base)
    return radix_digits(x // np.uint64(base ** (width - k)), k, base)


def fixed_strings(chars: np.ndarray) -> pa.Array:
    """(n, w) ASCII byte matrix -> Arrow strings of length w, built from buffers (no objects)."""
    n, w = chars.shape
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int64) if n else np.zeros(1, np.int64)
    data = np.ascontiguousarray(chars, dtype=np.uint8)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def base36(x: np.ndarray, width: int) -> pa.Array:
    """Fixed-width lowercase base-36 text of each uint64 (zero-padded)."""
    return fixed_strings(_kernels.radix_text(np.ascontiguousarray(x, dtype=np.uint64), width, ALPHABET36))


def index(h: np.ndarray, size: int) -> np.ndarray:
    """A position in [0, size) chosen by each hash."""
    return (h % np.uint64(size)).astype(np.int64)


def picks(pool: pa.Array, h: np.ndarray) -> Picks:
    """Pool entry chosen by each hash, for `concat` to read in place."""
    return Picks(pool, index(h, len(pool)))


def as_series(values: pa.Array | np.ndarray, like: pd.Series) -> pd.Series:
    """Rule output with the input's index (Arrow-backed text stays Arrow-backed)."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        out = values.to_pandas()
        out.index = like.index
        return out
    return pd.Series(values, index=like.index)
