"""Format-true replacement of characters, on the UTF-8 buffers of whole Arrow columns.

Phones, postal codes, card numbers and IBANs keep their layout (separators, spaces, case, length) and
only their ASCII letters/digits change. Working on the flat byte buffer, with each character's row and
its rank among the row's letters or digits, keeps this vectorized: no Python loop over rows. ASCII
bytes never occur inside multi-byte UTF-8 sequences, so other characters pass through untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from data_pipeline.anonymize import _kernels
from data_pipeline.anonymize.hashing import digit_matrix, mix, string_buffers


@dataclass(frozen=True)
class Chars:
    """The bytes of a string column and where each row starts."""

    offsets: np.ndarray  # int64, n + 1
    data: np.ndarray  # uint8

    @classmethod
    def of(cls, text: pa.Array) -> Chars:
        offsets, raw = string_buffers(text)
        offsets = offsets.astype(np.int64)
        data = raw[offsets[0] : offsets[-1]].copy()
        return cls(offsets - offsets[0], data)

    @property
    def digits(self) -> np.ndarray:
        return (self.data >= 48) & (self.data <= 57)

    @property
    def letters(self) -> np.ndarray:
        upper = (self.data >= 65) & (self.data <= 90)
        return upper | ((self.data >= 97) & (self.data <= 122))

    def select(self, mask: np.ndarray) -> Selection:
        """Where `mask` holds: positions, their rows, their rank among the row's masked bytes."""
        return Selection(*_kernels.select(self.offsets, mask.view(np.uint8)))

    def masked(self, mask: np.ndarray) -> pa.Array:
        """The bytes of each row where `mask` holds, as strings (what gets hashed: e.g. a number's
        digits, so its layout does not change its fake)."""
        return to_arrow(*_kernels.masked_text(self.offsets, self.data, mask.view(np.uint8)))

    def with_data(self, data: np.ndarray) -> pa.Array:
        return to_arrow(self.offsets, data)


@dataclass(frozen=True)
class Selection:
    pos: np.ndarray  # byte positions
    rows: np.ndarray  # row of each position
    rank: np.ndarray  # rank of each position among its row's selected bytes
    counts: np.ndarray  # selected bytes per row

    @property
    def width(self) -> int:
        return int(self.counts.max()) if len(self.counts) else 0


def to_arrow(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    """Large strings (int64 offsets, as pandas holds Arrow text: no cast on the way out)."""
    data = np.ascontiguousarray(data, dtype=np.uint8)
    offsets = offsets.astype(np.int64, copy=False)
    return pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))


def fill(chars: Chars, sel: Selection, replacement: np.ndarray) -> pa.Array:
    """The k-th selected byte of row r becomes replacement[r, k]; everything else stays."""
    data = chars.data.copy()
    if len(sel.pos):
        data[sel.pos] = replacement[sel.rows, sel.rank]
    return chars.with_data(data)


def keyed_chars(chars: Chars, sel: Selection, h: np.ndarray, *, nonzero_lead: bool = False) -> np.ndarray:
    """New bytes for the selected positions: digit for digit, letter for letter (case kept).

    The k-th selected character of a row comes from stream k of its hash, so two layouts of the same
    characters (e.g. '020 7946 0000' and '0207 946 0000') get the same replacement characters.
    `nonzero_lead` keeps '0' from opening a run of digits.
    """
    data = chars.data.copy()
    if not len(sel.pos):
        return data
    original = data[sel.pos]
    is_digit = _isdigit(original)
    new = np.zeros(len(sel.pos), dtype=np.uint8)
    if is_digit.any():
        digits = _at(digit_matrix(h, sel.width, 10), sel)
        if nonzero_lead:
            at_start = sel.pos == chars.offsets[sel.rows]
            lead = at_start | ~_isdigit(chars.data[np.maximum(sel.pos - 1, 0)])
            digits = np.where(lead, 1 + digits % 9, digits)
        new = 48 + digits
    if not is_digit.all():
        letters = _at(digit_matrix(mix(h, 77), sel.width, 26), sel)
        new = np.where(is_digit, new, np.where(original >= 97, 97, 65) + letters)
    data[sel.pos] = new
    return data


def _at(matrix: np.ndarray, sel: Selection) -> np.ndarray:
    """matrix[rows, rank] through one flat `take` (2-D fancy indexing is several times slower)."""
    n = matrix.shape[0]
    if matrix.T.flags.c_contiguous:  # digit matrices are (width, n) buffers seen transposed
        return matrix.T.ravel()[sel.rank.astype(np.int64) * n + sel.rows]
    return matrix.ravel()[sel.rows.astype(np.int64) * matrix.shape[1] + sel.rank]


def _isdigit(b: np.ndarray) -> np.ndarray:
    return (b >= 48) & (b <= 57)


def scramble(text: pa.Array, h: np.ndarray, *, letters: bool = True, nonzero_lead: bool = False) -> pa.Array:
    """Every ASCII digit (and letter) replaced by a keyed one; layout, case and length kept."""
    chars = Chars.of(text)
    sel = chars.select(chars.digits | chars.letters if letters else chars.digits)
    return chars.with_data(keyed_chars(chars, sel, h, nonzero_lead=nonzero_lead))


def fake_phones(chars: Chars, hash_key: str) -> pa.Array:
    """Phone numbers with keyed national digits; country code, trunk '0' and layout kept.

    Only the national significant number changes: not a leading '+' country code (the digits up to
    the first separator, at most 3), a national trunk '0' opening a number written without '+'
    ('020 ...', '(030) ...'), nor the '(0)' of '+49 (0)30 ...'. Its digits, as text, are what is
    hashed, so one number written in several formats gets the same fake digits: the k-th is digit k
    of `digit_matrix(h, k + 1)` (never 0 for k = 0). A number that came out as itself (a very short
    one) is drawn again from `mix(h, 1)`. One compiled pass over the bytes.
    """
    return chars.with_data(_kernels.phone_fakes(chars.offsets, chars.data, hash_key.encode()))


def luhn_complete(digits: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Sets digit lengths-1 of each row so the first `lengths` digits pass the Luhn check."""
    n, width = digits.shape
    k = np.arange(width)[None, :]
    last = (lengths - 1)[:, None]
    body = k < last
    doubled = body & ((last - k) % 2 == 1)
    values = digits.astype(np.int64) * np.where(doubled, 2, 1)
    values = np.where(values > 9, values - 9, values) * body
    check = (10 - values.sum(axis=1) % 10) % 10
    out = digits.copy()
    rows = np.flatnonzero(lengths > 0)
    out[rows, lengths[rows] - 1] = check[rows]
    return out


def mod97_check(chars: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """ISO 13616 check digits for (n, w) uppercase IBAN bytes (positions 2-3 ignored), vectorized."""
    n, width = chars.shape
    values = np.where(chars >= 65, chars.astype(np.int64) - 55, chars.astype(np.int64) - 48)
    scale = np.where(chars >= 65, 100, 10)
    rem = np.zeros(n, dtype=np.int64)
    for k in range(4, width):
        live = k < lengths
        rem = np.where(live, (rem * scale[:, k] + values[:, k]) % 97, rem)
    for k in (0, 1):  # the country letters, then '00'
        rem = (rem * 100 + values[:, k]) % 97
    return 98 - (rem * 100) % 97
