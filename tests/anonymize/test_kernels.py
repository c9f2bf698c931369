"""Property tests of every compiled kernel (anonymize/_kernels.pyx), through the wrappers the pipeline
calls, over the Arrow shapes the pipeline meets: sliced arrays, arrays at offset 0 whose offsets start
past 0 (what pandas hands back for a frame of a sliced table: issue 19), chunked, empty, all-NULL,
multi-byte UTF-8, string and large_string, string_view and dictionary input, pandas Series from sliced
tables. Every output validates in full and equals a plain-Python reference; inconsistent buffers are a
ValueError, never a crash.

scripts/test-kernels-checked.sh runs this file against the checked build (Cython's bounds checks and
AddressSanitizer); DP_TEST_KERNELS_CHECKED=1 makes it assert that that build is the one loaded.
"""

from __future__ import annotations

import os
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from anon_helpers import KEY, national_positions, reference_phone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_pipeline import checks
from data_pipeline.anonymize import _kernels
from data_pipeline.anonymize.formats import Chars, fake_phones, scramble
from data_pipeline.anonymize.hashing import (
    ALPHABET36,
    Picks,
    base36,
    concat,
    digit_matrix,
    keyed_hash,
    mix,
    radix_digits,
)
from data_pipeline.anonymize.people import REPICKS, pool_pick

HASH_KEY = KEY.hash_key("kernels")
M64 = 2**64 - 1
PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ASCII the kernels single out (digits, both cases, separators) beside multi-byte UTF-8 and characters
# whose Unicode lowercase is ASCII ('İ' -> 'i̇', the Kelvin sign -> 'k'): the leak check folds ASCII only
MIXED = "aZq09 -+().@/ÄéüßİK€😀\x00"
texts = st.one_of(st.text(alphabet=MIXED, max_size=14), st.text(max_size=6))
value_lists = st.lists(texts, max_size=30)
hashes = st.lists(st.integers(0, M64), max_size=30).map(lambda v: np.array(v, dtype=np.uint64))


def test_the_build_loaded_is_the_one_asked_for() -> None:
    assert bool(os.environ.get("DP_TEST_KERNELS_CHECKED")) == _kernels.CHECKED


# -- the shapes ------------------------------------------------------------------------------------


def _offsets_past_zero(values: list[str | None], type_: pa.DataType) -> pa.Array:
    """Offset 0, but an offsets buffer starting at 5 over a data buffer with bytes before and after."""
    encoded = [b"" if v is None else v.encode() for v in values]
    width = np.int64 if type_ == pa.large_string() else np.int32
    offsets = (np.cumsum([0, *map(len, encoded)]) + 5).astype(width)
    valid = np.array([v is not None for v in values], dtype=bool)
    validity = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    data = pa.py_buffer(b"Xx\xc3\xa4Y" + b"".join(encoded) + b"tail")
    arr = pa.Array.from_buffers(type_, len(values), [validity, pa.py_buffer(offsets), data])
    arr.validate(full=True)
    return arr


def _pandas_slice(values: list[str | None], large: bool = False) -> pd.Series:
    """The column of a frame made from a slice of a table, as CheckpointStore.batches_between gives."""
    padded = pa.array(["before", "ü", *values, "after"], pa.large_string() if large else pa.string())
    return pa.table({"s": padded}).slice(2, len(values)).to_pandas()["s"]


def shapes(values: list[str | None]) -> dict[str, pa.Array | pa.ChunkedArray]:
    """The same values in each Arrow layout the pipeline meets."""
    plain = pa.array(values, pa.string())
    padded = pa.array(["pad", "ü", *values, "tail"], pa.string())
    half = len(values) // 2
    out = {
        "string": plain,
        "large_string": plain.cast(pa.large_string()),
        "sliced": padded.slice(2, len(values)),
        "sliced_large": padded.cast(pa.large_string()).slice(2, len(values)),
        "offsets_past_0": _offsets_past_zero(values, pa.string()),
        "offsets_past_0_large": _offsets_past_zero(values, pa.large_string()),
        "chunked": pa.chunked_array([plain.slice(0, half), plain.slice(half)], pa.string()),
        "string_view": plain.cast(pa.string_view()),
        "dictionary": plain.dictionary_encode(),
        "from_pandas": pa.array(_pandas_slice(values).array),
        "from_pandas_large": pa.array(_pandas_slice(values, large=True).array),
    }
    for name, arr in out.items():
        assert arr.to_pylist() == values, name
    return out


def test_the_pandas_shape_is_the_one_of_issue_19() -> None:
    """A frame of a sliced table of strings gives large strings at offset 0 whose offsets do not start
    at 0 (pandas casts them to large_string; the cast keeps the offsets as they were)."""
    arr = shapes([f"v{i}" for i in range(20)])["from_pandas"]
    chunk = arr.chunk(0) if isinstance(arr, pa.ChunkedArray) else arr
    offsets = np.frombuffer(chunk.buffers()[1], np.int64)
    assert chunk.offset == 0 and offsets[0] > 0


def _valid(arr: pa.Array) -> pa.Array:
    arr.validate(full=True)
    return arr


# -- plain-Python references -----------------------------------------------------------------------


def py_splitmix(x: int) -> int:
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def py_mix(h: int, salt: int) -> int:
    return py_splitmix((h + salt * 0x9E3779B97F4A7C15) & M64)


def py_digits(x: int, width: int, base: int) -> list[int]:
    return [(x // base ** (width - 1 - j)) % base for j in range(width)]


def py_hash(values: list[str]) -> np.ndarray:
    return pd.util.hash_array(np.array(values, dtype=object), hash_key=HASH_KEY, categorize=False)


def py_fold(value: str) -> str:
    """The leak check's folding: ASCII letters lowercased, then only [0-9a-z] kept."""
    return re.sub("[^0-9a-z]", "", "".join(c.lower() if "A" <= c <= "Z" else c for c in value))


# -- hashing ---------------------------------------------------------------------------------------


@PROPERTY
@given(value_lists)
def test_keyed_hash_is_pandas_siphash_in_every_shape(values: list[str]) -> None:
    expected = py_hash(values)
    for name, arr in shapes(values).items():
        assert (keyed_hash(arr, HASH_KEY) == expected).all(), name
    assert (keyed_hash(_pandas_slice(values), HASH_KEY) == expected).all()


@PROPERTY
@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=30))
def test_keyed_hash_of_integers_is_the_hash_of_their_text(numbers: list[int]) -> None:
    got = keyed_hash(pd.Series(numbers, dtype=np.int64), HASH_KEY)
    assert (got == py_hash([str(n) for n in numbers])).all()


@PROPERTY
@given(hashes, st.integers(0, 5000), st.integers(0, 25), st.sampled_from([2, 10, 26, 36, 97]))
def test_mix_and_digits_match_python(h: np.ndarray, salt: int, width: int, base: int) -> None:
    assert mix(h, salt).tolist() == [py_mix(int(x), salt) for x in h]
    assert radix_digits(h, width, base).tolist() == [py_digits(int(x), width, base) for x in h]
    per_stream = max(1, int(np.floor(64 / np.log2(base))) - 1)
    expected = []
    for x in h:
        row = []
        for s in range(0, width, per_stream):
            k = min(per_stream, width - s)
            row += py_digits(py_mix(int(x), 1000 + s) // base ** (per_stream - k), k, base)
        expected.append(row)
    assert digit_matrix(h, width, base).reshape(len(h), width).tolist() == expected
    wide = max(width, 1)
    text = _valid(base36(h, wide))
    assert text.to_pylist() == ["".join(chr(ALPHABET36[d]) for d in py_digits(int(x), wide, 36)) for x in h]


# -- concat ----------------------------------------------------------------------------------------


@PROPERTY
@given(
    st.lists(st.tuples(texts, texts, st.integers(0, 10**6)), max_size=30),
    st.lists(texts, min_size=1, max_size=8),
    texts,
)
def test_concat_of_columns_pool_picks_and_constants(
    rows: list[tuple[str, str, int]], pool: list[str], constant: str
) -> None:
    first, second = [r[0] for r in rows], [r[1] for r in rows]
    positions = np.array([r[2] % len(pool) for r in rows], dtype=np.int64)
    expected = [a + constant + pool[p] + "@" + b for a, b, p in zip(first, second, positions, strict=True)]
    pools = shapes(pool)
    for name, left in shapes(first).items():
        right, picks = shapes(second)[name], Picks(pools[name], positions)
        out = _valid(concat(left, constant, picks, "@", right))
        assert out.to_pylist() == expected, name


# -- Chars, select, masked_text --------------------------------------------------------------------


def _masks(chars: Chars, seed: int) -> dict[str, np.ndarray]:
    """ASCII classes (whose bytes never split a UTF-8 sequence) and arbitrary bytes."""
    rng = np.random.default_rng(seed)
    return {
        "digits": chars.digits,
        "letters": chars.letters,
        "alnum": chars.digits | chars.letters,
        "random": rng.random(len(chars.data)) < 0.5,
    }


@PROPERTY
@given(value_lists, st.integers(0, 2**32 - 1))
def test_chars_select_and_masked_match_python_loops(values: list[str], seed: int) -> None:
    encoded = [v.encode() for v in values]
    bounds = np.cumsum([0, *map(len, encoded)])
    for name, arr in shapes(values).items():
        chars = Chars.of(arr)
        assert chars.offsets.tolist() == bounds.tolist() and chars.data.tobytes() == b"".join(encoded), name
        for kind, mask in _masks(chars, seed).items():
            picked = [[b for b in range(bounds[r], bounds[r + 1]) if mask[b]] for r in range(len(values))]
            sel = chars.select(mask)
            assert sel.pos.tolist() == [b for row in picked for b in row]
            assert sel.rows.tolist() == [r for r, row in enumerate(picked) for _ in row]
            assert sel.rank.tolist() == [k for row in picked for k in range(len(row))]
            assert sel.counts.tolist() == [len(row) for row in picked]
            masked = chars.masked(mask)
            data = chars.data
            expected = [bytes(data[b] for b in row) for row in picked]
            assert masked.cast(pa.large_binary()).to_pylist() == expected, (name, kind)
            if kind != "random":  # whole characters: valid UTF-8
                _valid(masked)


# -- format-true rules ----------------------------------------------------------------------------

PHONE_ALPHABET = "0123456789 -()+./xé"
phones = st.lists(st.text(alphabet=PHONE_ALPHABET, max_size=30), max_size=25)


@PROPERTY
@given(phones)
def test_fake_phones_follow_the_rules_in_every_shape(numbers: list[str]) -> None:
    expected = []
    for number in numbers:
        at = national_positions(number)
        national = "".join(number[i] for i in at)
        layout = "".join("#" if i in set(at) else c for i, c in enumerate(number))
        fake = reference_phone(layout, national, HASH_KEY)
        if fake == number and national:
            fake = reference_phone(layout, national, HASH_KEY, redraw=True)
        expected.append(fake)
    for name, arr in shapes(numbers).items():
        assert _valid(fake_phones(Chars.of(arr), HASH_KEY)).to_pylist() == expected, name


@PROPERTY
@given(value_lists, st.booleans())
def test_scramble_keeps_layout_and_case_in_every_shape(values: list[str], letters: bool) -> None:
    h = keyed_hash(pa.array(values, pa.string()), HASH_KEY)
    outs = {
        name: _valid(scramble(arr, h, letters=letters)).to_pylist() for name, arr in shapes(values).items()
    }
    reference = outs["string"]
    assert all(out == reference for out in outs.values()), outs
    for before, after in zip(values, reference, strict=True):
        assert len(before.encode()) == len(after.encode())
        for a, b in zip(before, after, strict=True):
            if "0" <= a <= "9":
                assert "0" <= b <= "9"
            elif letters and "a" <= a <= "z":
                assert "a" <= b <= "z"
            elif letters and "A" <= a <= "Z":
                assert "A" <= b <= "Z"
            else:
                assert a == b


# -- pool picks ------------------------------------------------------------------------------------


def _pools(by_locale: dict[str | None, list[str]]) -> SimpleNamespace:
    """What pool_pick reads of a RuleContext: its pools, one per locale."""
    arrays = {locale: pa.array(pool, pa.large_string()) for locale, pool in by_locale.items()}
    return SimpleNamespace(pools=SimpleNamespace(arrow=lambda kind, locale=None: arrays[locale]))


def py_pool_pick(value: str, h: int, pool: list[str]) -> str:
    for attempt in range(REPICKS + 1):
        pick = pool[(h if attempt == 0 else py_mix(h, attempt)) % len(pool)]
        if pick != value:
            break
    return pick


SMALL_POOL = st.lists(st.sampled_from(["Ann", "Bo", "Zoë", "İlke", "", "Jo"]), min_size=1, max_size=4)


@PROPERTY
@given(
    st.lists(st.sampled_from(["Ann", "Bo", "Zoë", "İlke", "", "Jo", "x"]), min_size=1, max_size=30),
    SMALL_POOL,
    SMALL_POOL,
)
def test_pool_picks_redraw_a_rows_own_value(values: list[str], pool_a: list[str], pool_b: list[str]) -> None:
    """Small pools holding the values themselves: the redraws happen."""
    h = keyed_hash(pa.array(values, pa.string()), HASH_KEY)
    locales = np.array(["a" if i % 3 else "b" for i in range(len(values))], dtype=object)
    by_locale = {"a": pool_a, "b": pool_b}
    expected_one = [py_pool_pick(v, int(x), pool_a) for v, x in zip(values, h, strict=True)]
    expected_two = [
        py_pool_pick(v, int(x), by_locale[loc]) for v, x, loc in zip(values, h, locales, strict=True)
    ]
    for name, arr in shapes(values).items():
        one = _valid(pool_pick(arr, h, None, _pools({None: pool_a}), "first_name"))
        assert one.to_pylist() == expected_one, name
        two = _valid(pool_pick(arr, h, locales, _pools(by_locale), "first_name"))
        assert two.to_pylist() == expected_two, name


# -- the leak check's folding ----------------------------------------------------------------------


@PROPERTY
@given(st.lists(st.one_of(texts, st.none()), max_size=30))
def test_normalize_and_fingerprints_of_every_shape(values: list[str | None]) -> None:
    present = [v for v in values if v is not None]
    folded = [py_fold(v) for v in present]
    long = [f for f in folded if len(f) >= 6]
    prints = np.unique(py_hash_with(long, KEY.hash_key(checks.FINGERPRINT_DOMAIN)))
    series = {name: pa.table({"s": arr}).to_pandas()["s"] for name, arr in shapes(values).items()}
    series["pandas_slice"] = _pandas_slice(values)
    series["object"] = pd.Series(values, dtype=object)
    for name, s in series.items():
        assert _valid(checks.normalize(s)).to_pylist() == folded, name
        assert checks.fingerprints(s, KEY).tolist() == prints.tolist(), name


def py_hash_with(values: list[str], hash_key: str) -> np.ndarray:
    return pd.util.hash_array(np.array(values, dtype=object), hash_key=hash_key, categorize=False)


def test_empty_and_all_null_input() -> None:
    for values in ([], [None, None, None]):
        for name, s in {"object": pd.Series(values, dtype=object), "slice": _pandas_slice(values)}.items():
            assert checks.normalize(s).to_pylist() == [], name
            assert len(checks.fingerprints(s, KEY)) == 0, name
    for name, arr in shapes([]).items():
        assert len(keyed_hash(arr, HASH_KEY)) == 0, name
        assert _valid(concat(arr, "x", arr)).to_pylist() == [], name
        assert _valid(fake_phones(Chars.of(arr), HASH_KEY)).to_pylist() == [], name
        assert _valid(Chars.of(arr).masked(Chars.of(arr).digits)).to_pylist() == [], name
        assert (
            _valid(pool_pick(arr, np.zeros(0, np.uint64), None, _pools({None: ["a"]}), "x")).to_pylist() == []
        )


# -- inconsistent buffers: a ValueError, never a read or write out of bounds ----------------------

U8 = np.frombuffer(b"abcdefgh", np.uint8)
KEY16 = b"0123456789abcdef"


def _o(*offsets: int, width: type = np.int64) -> np.ndarray:
    return np.array(offsets, dtype=width)


BAD_OFFSETS = {
    "past the data": _o(0, 4, 9),
    "past the data, int32": _o(0, 4, 9, width=np.int32),
    "decreasing": _o(0, 5, 3, 8),
    "negative start": _o(-1, 3),
    "none": _o(),
}


@pytest.mark.parametrize("offsets", BAD_OFFSETS.values(), ids=BAD_OFFSETS.keys())
def test_every_kernel_refuses_offsets_outside_the_data(offsets: np.ndarray) -> None:
    mask = np.ones(len(U8), np.uint8)
    with pytest.raises(ValueError, match="siphash"):
        _kernels.siphash(offsets, U8, KEY16)
    if offsets.dtype != np.int64:
        return
    n = max(len(offsets) - 1, 0)
    h, starts, sizes = np.zeros(n, np.uint64), np.zeros(n, np.int64), np.ones(n, np.int64)
    calls = {
        "select": lambda: _kernels.select(offsets, mask),
        "masked_text": lambda: _kernels.masked_text(offsets, U8, mask),
        "phone_fakes": lambda: _kernels.phone_fakes(offsets, U8, KEY16),
        "concat": lambda: _kernels.concat([(offsets, U8, None)], n),
        "pool_picks": lambda: _kernels.pool_picks(offsets, U8, h, _o(0, 2), U8, starts, sizes, 4),
        "pool_picks: the pool": lambda: _kernels.pool_picks(_o(0, 2), U8, h[:1], offsets, U8, *_one(), 4),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=name):
            call()


def _one() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(1, np.int64), np.ones(1, np.int64)


def test_kernels_refuse_inconsistent_lengths_and_picks() -> None:
    offsets = _o(0, 3, 8)
    two = np.zeros(2, np.uint64)
    with pytest.raises(ValueError, match="mask of 7 bytes"):
        _kernels.masked_text(offsets, U8, np.ones(7, np.uint8))
    with pytest.raises(ValueError, match="a column of 2 strings for 3 rows"):
        _kernels.concat([(offsets, U8, None)], 3)
    for rows in (_o(0, 2), _o(0, -1), _o(0)):  # outside the pool of 2, negative, one row short
        with pytest.raises(ValueError, match="concat"):
            _kernels.concat([(offsets, U8, rows)], 2)
    with pytest.raises(ValueError, match="negative number of rows"):
        _kernels.concat([], -1)
    bad_pools = {  # (starts, sizes) for the 2 values over a pool of 2 entries
        "an empty pool": (_o(0, 0), _o(2, 0)),
        "past the pool": (_o(0, 1), _o(2, 2)),
        "a negative start": (_o(-1, 0), _o(2, 2)),
        "one size short": (_o(0, 0), _o(2)),
    }
    for name, (starts, sizes) in bad_pools.items():
        with pytest.raises(ValueError, match="pool_picks"):
            _kernels.pool_picks(offsets, U8, two, offsets, U8, starts, sizes, 4)
            pytest.fail(name)
    with pytest.raises(ValueError, match="3 hashes"):
        _kernels.pool_picks(offsets, U8, np.zeros(3, np.uint64), offsets, U8, _o(0, 0), _o(2, 2), 4)
    with pytest.raises(ValueError, match="radix"):
        _kernels.radix(two, 3, 1)
    with pytest.raises(ValueError, match="radix_text"):
        _kernels.radix_text(two, 3, b"0")
    with pytest.raises(ValueError, match="16 bytes"):
        _kernels.siphash_int64(np.zeros(2, np.int64), b"short")


def test_a_mask_byte_other_than_0_or_1_counts_as_1() -> None:
    """A uint8 mask of any non-zero bytes selects like a boolean one (no count past the buffers)."""
    offsets, mask = _o(0, 3, 8), np.array([0, 2, 255, 1, 0, 7, 0, 1], np.uint8)
    out_offsets, out_data = _kernels.masked_text(offsets, U8, mask)
    assert out_offsets.tolist() == [0, 2, 5] and out_data.tobytes() == b"bcdfh"
    assert _kernels.select(offsets, mask)[3].tolist() == [2, 3]
