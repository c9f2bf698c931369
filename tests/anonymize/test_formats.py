"""Format-true character replacement on Arrow buffers: check digits right, kept parts kept."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from data_pipeline.anonymize.formats import (
    Chars,
    keyed_digits,
    luhn_complete,
    mod97_check,
    national_digits,
)
from data_pipeline.anonymize.hashing import digit_matrix
from data_pipeline.checksums import iban_check_digits, luhn_valid


def test_luhn_complete_makes_every_length_valid() -> None:
    rng = np.random.default_rng(3)
    digits = rng.integers(0, 10, (500, 19)).astype(np.uint8)
    lengths = rng.integers(2, 20, 500)
    done = luhn_complete(digits, lengths)
    for row, n in zip(done, lengths, strict=True):
        assert luhn_valid("".join(map(str, row[:n])))


def test_mod97_check_matches_iso_13616() -> None:
    bbans = {"DE": "370400440532013000", "GB": "NWBK60161331926819", "NL": "ABNA0417164300"}
    ibans = [c + "00" + b for c, b in bbans.items()]
    width = max(map(len, ibans))
    chars = np.zeros((len(ibans), width), dtype=np.uint8)
    for i, iban in enumerate(ibans):
        chars[i, : len(iban)] = np.frombuffer(iban.encode(), dtype=np.uint8)
    check = mod97_check(chars, np.array([len(i) for i in ibans]))
    assert [f"{c:02d}" for c in check] == [iban_check_digits(c, b) for c, b in bbans.items()]


def test_national_digits_leave_out_country_code_and_trunk_prefix() -> None:
    text = pa.array(["+44 20 7946", "020 7946", "+49 (0)30 12", "(030) 12", "+4930123", ""])
    chars = Chars.of(text)
    free = national_digits(chars)
    keep = chars.digits & ~free
    kept = [
        bytes(chars.data[s:e][keep[s:e]]).decode()
        for s, e in zip(chars.offsets[:-1], chars.offsets[1:], strict=True)
    ]
    assert kept == ["44", "0", "490", "0", "493", ""]
    replaced = chars.masked(free).to_pylist()
    assert replaced == ["207946", "207946", "3012", "3012", "0123", ""]
    sel = chars.select(free)
    assert sel.rows.tolist() == [0] * 6 + [1] * 6 + [2] * 4 + [3] * 4 + [4] * 4
    assert sel.rank.tolist() == [*range(6), *range(6), *range(4), *range(4), *range(4)]
    assert bytes(chars.data[sel.pos]).decode() == "".join(replaced)


def test_keyed_digits_write_digit_k_of_the_hash_at_the_kth_free_digit() -> None:
    """Layout kept; the k-th free digit of a row is digit k of its keyed digits (the first never 0),
    also past the 18 digits one 64-bit stream holds."""
    text = pa.array(["+44 20 7946 0000", "020 7946", "", "(030) 12-34-56-78-90-12-34-56-78-90", "x"])
    chars = Chars.of(text)
    free = national_digits(chars)
    h = np.array([1, 2**63, 3, 2**64 - 1, 5], dtype=np.uint64)
    width = int(free.view(np.uint8).sum())  # wide enough for any row
    out = keyed_digits(chars, free, h, width)
    digits = digit_matrix(h, width, 10)
    for row, (start, end) in enumerate(zip(chars.offsets[:-1], chars.offsets[1:], strict=True)):
        at = np.flatnonzero(free[start:end])
        expected = digits[row, : len(at)].copy()
        if len(at):
            expected[0] = 1 + expected[0] % 9
        assert (out[start:end][at] == 48 + expected).all()
        assert (np.delete(out[start:end], at) == np.delete(chars.data[start:end], at)).all()
