"""Keyed hashing: SipHash-2-4 under a per-domain sub-key of DP_ANON_KEY, the same for a value wherever
and however it arrives, refused without a key, and never showing the key."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from anon_helpers import KEY, OTHER_KEY, SECRET

from data_pipeline.anonymize import _kernels
from data_pipeline.anonymize.hashing import (
    as_text,
    base36,
    concat,
    digit_matrix,
    keyed_hash,
    mix,
    radix_digits,
    string_buffers,
)
from data_pipeline.errors import BadInput
from data_pipeline.keys import KEY_ENV, load_key
from data_pipeline.scrub import RawValueError


def test_a_run_without_a_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(BadInput, match="no anonymization key"):
        load_key(tmp_path / "anon.key")


def test_a_short_key_or_a_key_file_others_can_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(BadInput, match="shorter than"):
        load_key(tmp_path / "anon.key")
    monkeypatch.delenv(KEY_ENV)
    path = tmp_path / "anon.key"
    path.write_text("x" * 40)
    os.chmod(path, 0o644)
    with pytest.raises(BadInput, match="readable by others"):
        load_key(path)
    os.chmod(path, 0o600)
    assert load_key(path).secret == b"x" * 40


def test_the_key_never_shows_in_repr_str_or_sub_keys() -> None:
    from data_pipeline.anonymize import RuleContext
    from data_pipeline.policy import ColumnPolicy
    from data_pipeline.schema import Column

    ctx = RuleContext(
        key=KEY,
        policy=ColumnPolicy("t", "c", "pii", "email", "email"),
        column=Column("c", "TEXT", "string", True),
        frame=pd.DataFrame(),
        anonymized={},
    )
    for text in (repr(KEY), str(KEY), repr(ctx), KEY.hash_key("email"), KEY.epoch):
        assert SECRET.decode() not in text and "secret" not in text
    assert KEY.hash_key("email") != KEY.hash_key("phone")  # one sub-key per domain
    assert len(KEY.hash_key("email")) == 16  # what pandas' SipHash takes


def test_the_key_never_shows_in_outputs_or_errors(run_rule) -> None:
    secret = SECRET.decode()
    values = pd.Series(["Alice", "alice@example.org", "+1 555 010 1234"])
    for rule in ("email", "username", "token", "phone", "first_name", "mask", "free_text"):
        out = run_rule(rule, values)
        assert not out.astype(str).str.contains(secret, regex=False).any(), rule
        assert not out.astype(str).str.contains(KEY.hash_key(rule), regex=False).any(), rule
    with pytest.raises(RawValueError) as failure:
        run_rule("generalize_date", pd.Series(["not a date"]), cls="quasi", format="iso")
    assert secret not in str(failure.value) and KEY.hash_key("generalize_date") not in str(failure.value)


def test_the_hash_is_pandas_siphash_of_the_canonical_text() -> None:
    """Repetitive and distinct values alike equal pandas' own SipHash-2-4."""
    hash_key = KEY.hash_key("x")
    repetitive = pd.Series(np.arange(20_000) % 37).astype(str)
    distinct = pd.Series(np.arange(20_000)).astype(str) + "é"
    for values in (repetitive, distinct, pd.Series(["", "a", "ü€😀"])):
        expected = pd.util.hash_array(as_text(values), hash_key=hash_key, categorize=False)
        assert (keyed_hash(values, hash_key) == expected).all()


def test_the_compiled_hash_reads_any_arrow_string_layout_like_pandas() -> None:
    """Every length around SipHash's 8-byte blocks, sliced arrays, large_string and empty input."""
    hash_key = KEY.hash_key("x")
    values = ["".join(chr(97 + (i * 7 + j) % 26) for j in range(i % 40)) for i in range(500)]
    expected = pd.util.hash_array(np.array(values, dtype=object), hash_key=hash_key, categorize=False)
    for arrow in (pa.array(values), pa.array(values, pa.large_string())):
        assert (keyed_hash(arrow, hash_key) == expected).all()
        assert (keyed_hash(arrow.slice(123, 200), hash_key) == expected[123:323]).all()
    assert len(keyed_hash(pa.array([], pa.string()), hash_key)) == 0


def test_integers_hash_as_their_decimal_text() -> None:
    """Integers are hashed from their digits written on the stack: the same as their text."""
    hash_key = KEY.hash_key("x")
    extremes = [0, 1, -1, 9, 10, -10, 2**63 - 1, -(2**63), 10**18, -(10**18) + 7]
    for values in (pd.Series(extremes, dtype=np.int64), pd.Series(np.arange(-5000, 5000, dtype=np.int32))):
        text = np.array([str(v) for v in values], dtype=object)
        expected = pd.util.hash_array(text, hash_key=hash_key, categorize=False)
        assert (keyed_hash(values, hash_key) == expected).all()
        assert (keyed_hash(values.astype(str), hash_key) == expected).all()


def test_concat_joins_rows_like_arrow_for_every_length_and_layout() -> None:
    """Short and long values (the kernel copies fixed blocks), multi-byte text, sliced and large
    arrays, values at the very end of their buffer, and constants."""
    left = pa.array(["", "a", "ü€😀", "x" * 15, "y" * 16, "z" * 17, "w" * 100, "end"])
    right = pa.array(["q" * 40, "", "b", "é", "", "c" * 16, "d", "!"], pa.large_string())
    expected = pc.binary_join_element_wise(left, "-", right.cast(pa.string()), "").to_pylist()
    assert concat(left, "-", right).to_pylist() == expected
    assert concat(left.slice(2, 5), "-", right.slice(2, 5)).to_pylist() == expected[2:7]
    long_constant = "<" + "=" * 30 + ">"
    assert concat(long_constant, left).to_pylist() == [long_constant + v for v in left.to_pylist()]
    assert len(concat(pa.array([], pa.string()), "x")) == 0


def test_numbers_and_their_text_hash_alike() -> None:
    """An int key column, the same column read with NULLs (floats), and text ids agree."""
    hash_key = KEY.hash_key("customers.id")
    ints = keyed_hash(pd.Series([1, 42, 1000000]), hash_key)
    floats = keyed_hash(pd.Series([1.0, 42.0, 1000000.0]), hash_key)
    text = keyed_hash(pd.Series(["1", "42", "1000000"]), hash_key)
    arrow_text = keyed_hash(pd.Series(["1", "42", "1000000"], dtype="str"), hash_key)
    assert (ints == floats).all() and (ints == text).all() and (ints == arrow_text).all()


def test_a_value_hashes_alike_whatever_its_neighbours_and_order() -> None:
    hash_key = KEY.hash_key("email")
    values = pd.Series([f"user{i}@example.org" for i in range(10_000)])
    whole = dict(zip(values, keyed_hash(values, hash_key), strict=True))
    shuffled = values.sample(frac=1, random_state=3)
    for part in np.array_split(shuffled.to_numpy(), 7):
        part_hashes = keyed_hash(pd.Series(part), hash_key)
        assert all(whole[v] == h for v, h in zip(part, part_hashes, strict=True))


def test_another_key_or_domain_gives_other_hashes() -> None:
    values = pd.Series([f"v{i}" for i in range(1000)])
    mine = keyed_hash(values, KEY.hash_key("email"))
    assert (mine != keyed_hash(values, OTHER_KEY.hash_key("email"))).all()
    assert (mine != keyed_hash(values, KEY.hash_key("username"))).all()


def test_radix_digits_encode_every_64_bit_value_exactly() -> None:
    x = np.array([0, 1, 35, 36, 2**63, 2**64 - 1, 0x9E3779B97F4A7C15], dtype=np.uint64)
    for base, width in ((36, 13), (10, 20), (26, 14)):
        digits = radix_digits(x, width, base)
        decoded = [sum(int(d) * base ** (width - 1 - j) for j, d in enumerate(row)) for row in digits]
        assert decoded == [int(v) for v in x]
    text = base36(x, 13).to_pylist()
    assert [int(t, 36) for t in text] == [int(v) for v in x]


def test_keyed_digits_are_close_to_uniform() -> None:
    h = keyed_hash(pd.Series(np.arange(100_000)), KEY.hash_key("d"))
    digits = digit_matrix(h, 30)
    counts = np.bincount(digits.ravel(), minlength=10) / digits.size
    assert np.abs(counts - 0.1).max() < 0.003


def _splitmix(x: int, salt: int) -> int:
    """splitmix64 of x + salt * golden ratio, in Python integers."""
    m = (1 << 64) - 1
    z = (x + salt * 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


def test_mix_is_splitmix64_of_the_hash_plus_the_salted_golden_ratio() -> None:
    h = np.array([0, 1, 2**63, 2**64 - 1, 123456789], dtype=np.uint64)
    for salt in (0, 1, 31, 1000, 2**40):
        assert mix(h, salt).tolist() == [_splitmix(int(x), salt) for x in h]


def test_pool_picks_draw_again_only_while_the_pick_is_the_rows_own_value() -> None:
    """The compiled pick against the rule read in Python: position h % size in the row's pool,
    then mix(h, 1), mix(h, 2), ... up to `repicks` while it equals the row's value."""
    pool = ["ann", "bob", "eve"]
    offsets, data = string_buffers(pa.array(pool, pa.large_string()))
    rng = np.random.default_rng(2)
    values = rng.choice(pool + ["zoe"], 3000).tolist()
    h = rng.integers(0, 2**63, 3000, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
    v_offsets, v_data = string_buffers(pa.array(values, pa.large_string()))
    starts, sizes = np.zeros(3000, np.int64), np.full(3000, 3, np.int64)
    got = _kernels.pool_picks(v_offsets, v_data, h, offsets, data, starts, sizes, 4)
    for value, x, position in zip(values, h.tolist(), got.tolist(), strict=True):
        for attempt in range(5):
            j = (x if attempt == 0 else _splitmix(x, attempt)) % 3
            if pool[j] != value:
                break
        assert position == j
    assert (np.array(pool)[got] != np.array(values)).mean() > 0.99  # redraws almost always escape
