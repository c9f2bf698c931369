# cython: language_level=3, cdivision=True
# (boundscheck, wraparound and initializedcheck are set by setup.py: off in the release build, on in the
# checked one, DP_KERNELS_CHECKED=1; scripts/test-kernels-checked.sh)
"""Compiled inner loops over Arrow string buffers and hashes, for the steps numpy cannot do without a
Python object per value or several passes per byte (hashing.py, formats.py and people.py wrap them).

- `siphash`, `siphash_int64`: SipHash-2-4 of each string (or integer's decimal text) under a 16-byte
  key, then pandas' splitmix finalizer: bit for bit what `pandas.util.hash_array(values,
  hash_key=key)` returns (the tests hold it to that), at a fifth of the cost, because no `bytes`
  object is made per value. `mix` derives further streams from a hash in one pass.
- `concat`: row-wise concatenation of string columns, pool picks and constants (what email, username
  and street addresses are built from); Arrow's `binary_join_element_wise` costs several times more.
- `pool_picks`: the keyed pick from a pool, drawn again while it is the row's own value.
- `phone_fakes`, `select`, `masked_text`, `radix`: the format-true byte work (phones, cards, IBANs).

Every entry point checks what its loops rely on before it enters them (`_strings`: offsets that start at
or after 0, never decrease and end within the data; masks as long as the data; picks within the pool)
and raises ValueError otherwise, so inconsistent buffers (issue 19: an array Arrow built wrong) are an
error, not a read or a write out of bounds. The checks are one pass over the offsets.
`CHECKED` is True in the bounds-checked, AddressSanitizer build the tests also run against.
"""

import numpy as np

from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.string cimport memcmp, memcpy


ctypedef fused offset_t:
    int32_t
    int64_t


cdef extern from *:
    """
    #ifndef DP_KERNELS_CHECKED
    #define DP_KERNELS_CHECKED 0
    #endif
    """
    const int DP_KERNELS_CHECKED

CHECKED = bool(DP_KERNELS_CHECKED)  # setup.py: bounds checks and AddressSanitizer compiled in


cdef Py_ssize_t _strings(const offset_t[::1] offsets, Py_ssize_t size, str what) except -1:
    """The number of strings in (offsets, a buffer of `size` bytes), once what every loop over them
    relies on holds: string i is bytes offsets[i] to offsets[i + 1], all within [0, size)."""
    cdef Py_ssize_t n = offsets.shape[0] - 1, i
    cdef bint ordered = True
    if n < 0:
        raise ValueError(f"{what}: no offsets (n strings have n + 1)")
    with nogil:
        for i in range(n):  # branch-free: one vectorized pass
            ordered &= offsets[i] <= offsets[i + 1]
    if not ordered:
        raise ValueError(f"{what}: offsets decrease")
    if offsets[0] < 0 or offsets[n] > size:
        raise ValueError(f"{what}: offsets span {offsets[0]}..{offsets[n]}, outside the {size} bytes of data")
    return n


cdef inline const uint8_t* _bytes(const uint8_t[::1] data) noexcept:
    """The first byte of `data` (NULL when there is none, so an empty buffer is no out-of-bounds index)."""
    return &data[0] if data.shape[0] else NULL


cdef int _within(const int64_t[::1] rows, Py_ssize_t n, int64_t count, str what) except -1:
    """That the first n rows index a pool of `count` strings."""
    cdef Py_ssize_t i
    cdef bint ok = True
    if rows.shape[0] < n:
        raise ValueError(f"{what}: {rows.shape[0]} pool rows for {n} outputs")
    with nogil:
        for i in range(n):
            ok &= <uint64_t>rows[i] < <uint64_t>count  # a negative row wraps past count
    if not ok:
        raise ValueError(f"{what}: a row outside the pool of {count}")
    return 0


cdef inline uint64_t _rotl(uint64_t x, int b) noexcept nogil:
    return (x << b) | (x >> (64 - b))


cdef inline uint64_t _le64(const uint8_t* p) noexcept nogil:
    return (<uint64_t>p[0] | (<uint64_t>p[1] << 8) | (<uint64_t>p[2] << 16) | (<uint64_t>p[3] << 24)
            | (<uint64_t>p[4] << 32) | (<uint64_t>p[5] << 40) | (<uint64_t>p[6] << 48)
            | (<uint64_t>p[7] << 56))


cdef inline void _round(uint64_t* v) noexcept nogil:
    v[0] += v[1]; v[1] = _rotl(v[1], 13); v[1] ^= v[0]; v[0] = _rotl(v[0], 32)
    v[2] += v[3]; v[3] = _rotl(v[3], 16); v[3] ^= v[2]
    v[0] += v[3]; v[3] = _rotl(v[3], 21); v[3] ^= v[0]
    v[2] += v[1]; v[1] = _rotl(v[1], 17); v[1] ^= v[2]; v[2] = _rotl(v[2], 32)


cdef inline uint64_t _siphash24(const uint8_t* p, int64_t n, uint64_t k0, uint64_t k1) noexcept nogil:
    """The reference SipHash-2-4 (Aumasson & Bernstein), as pandas' hashing.pyx has it."""
    cdef uint64_t v[4]
    cdef uint64_t m
    cdef uint64_t b = (<uint64_t>n) << 56
    cdef const uint8_t* end = p + n - (n % 8)
    cdef int i
    v[0] = 0x736f6d6570736575ULL ^ k0
    v[1] = 0x646f72616e646f6dULL ^ k1
    v[2] = 0x6c7967656e657261ULL ^ k0
    v[3] = 0x7465646279746573ULL ^ k1
    while p != end:
        m = _le64(p)
        v[3] ^= m
        _round(v); _round(v)
        v[0] ^= m
        p += 8
    for i in range((n & 7) - 1, -1, -1):
        b |= (<uint64_t>p[i]) << (i * 8)
    v[3] ^= b
    _round(v); _round(v)
    v[0] ^= b
    v[2] ^= 0xff
    _round(v); _round(v); _round(v); _round(v)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


cdef inline uint64_t _splitmix(uint64_t x) noexcept nogil:
    """pandas' finalizer after SipHash (`_hash_ndarray`)."""
    x ^= x >> 30
    x *= 0xBF58476D1CE4E5B9ULL
    x ^= x >> 27
    x *= 0x94D049BB133111EBULL
    return x ^ (x >> 31)


cdef inline uint64_t _mix(uint64_t h, uint64_t salt) noexcept nogil:
    """`hashing.mix` of one hash: splitmix64 of h + salt * golden ratio."""
    return _splitmix(h + salt * 0x9E3779B97F4A7C15ULL)


cdef tuple _sip_key(bytes key):
    """The two 64-bit halves of a 16-byte SipHash key."""
    if len(key) != 16:
        raise ValueError("the SipHash key is 16 bytes")
    cdef const uint8_t* k = key
    return _le64(k), _le64(k + 8)


def siphash(const offset_t[::1] offsets, const uint8_t[::1] data, bytes key):
    """uint64 hash of each of the len(offsets) - 1 strings data[offsets[i]:offsets[i + 1]]."""
    cdef uint64_t k0, k1
    k0, k1 = _sip_key(key)
    cdef Py_ssize_t n = _strings(offsets, data.shape[0], "siphash"), i
    out = np.empty(n, dtype=np.uint64)
    cdef uint64_t[::1] h = out
    cdef const uint8_t* base = _bytes(data)
    with nogil:
        for i in range(n):
            h[i] = _splitmix(_siphash24(base + offsets[i], offsets[i + 1] - offsets[i], k0, k1))
    return out


DEF MAX_PIECES = 16
DEF BLOCK = 16  # bytes moved per row and piece in one go; the overshoot is overwritten by what follows


def concat(list pieces, Py_ssize_t n):
    """(int64 offsets, uint8 data) of n strings, each the concatenation of its row's pieces.

    A piece is (int64 offsets, uint8 data, None) for a column of n strings, (int64 offsets, uint8
    data, int64 rows) for a pool of strings of which row i takes entry rows[i] (read in place: no
    `take` copies it out first), or (None, bytes, None) for a constant. Rows are written in order,
    piece after piece, so copying a fixed block and overshooting a short value is safe: the next
    write starts where the value ends (a libc memcpy per value costs more).
    """
    if len(pieces) > MAX_PIECES:
        raise ValueError(f"concat takes at most {MAX_PIECES} pieces")
    if n < 0:
        raise ValueError("concat: a negative number of rows")
    cdef const int64_t* offsets[MAX_PIECES]
    cdef const int64_t* picks[MAX_PIECES]
    cdef const uint8_t* data[MAX_PIECES]
    cdef int64_t size[MAX_PIECES]
    cdef const int64_t[::1] column_offsets
    cdef const int64_t[::1] column_rows
    cdef const uint8_t[::1] column_data
    cdef int count = len(pieces), p
    cdef int64_t constant = 0, at = 0, start, k, j, strings
    padded = []  # constants with room for a whole block
    for p, (piece_offsets, piece_data, piece_rows) in enumerate(pieces):
        picks[p] = NULL
        if piece_offsets is None:
            piece_data = np.frombuffer(piece_data + bytes(BLOCK), dtype=np.uint8)
            padded.append(piece_data)
            offsets[p], size[p] = NULL, len(piece_data) - BLOCK
            constant += size[p]
        else:
            column_offsets, column_data = piece_offsets, piece_data
            strings = _strings(column_offsets, column_data.shape[0], "concat")
            offsets[p], size[p] = &column_offsets[0], column_data.shape[0]
            if piece_rows is not None:
                column_rows = piece_rows
                _within(column_rows, n, strings, "concat")
                picks[p] = &column_rows[0] if n else NULL
            elif strings < n:
                raise ValueError(f"concat: a column of {strings} strings for {n} rows")
        column_data = piece_data
        data[p] = _bytes(column_data)
    out_offsets = np.empty(n + 1, dtype=np.int64)
    cdef int64_t[::1] ends = out_offsets
    cdef Py_ssize_t i
    with nogil:
        ends[0] = 0
        for i in range(n):
            at += constant
            for p in range(count):
                if offsets[p] != NULL:
                    j = picks[p][i] if picks[p] != NULL else i
                    at += offsets[p][j + 1] - offsets[p][j]
            ends[i + 1] = at
    out_data = np.empty(at + BLOCK, dtype=np.uint8)
    cdef uint8_t[::1] out_view = out_data
    cdef uint8_t* out = &out_view[0]
    at = 0
    with nogil:
        for i in range(n):
            for p in range(count):
                if offsets[p] == NULL:  # a constant, padded: start + BLOCK is always in bounds
                    start, k = 0, size[p]
                else:
                    j = picks[p][i] if picks[p] != NULL else i
                    start, k = offsets[p][j], offsets[p][j + 1] - offsets[p][j]
                if k <= BLOCK and (offsets[p] == NULL or start + BLOCK <= size[p]):
                    memcpy(out + at, data[p] + start, BLOCK)
                else:
                    memcpy(out + at, data[p] + start, k)
                at += k
    return out_offsets, out_data[:at]


def mix(const uint64_t[::1] h, uint64_t salt):
    """splitmix64 of h + salt * golden ratio: an independent 64-bit stream per salt (one pass;
    numpy needs eight, each with a temporary)."""
    cdef Py_ssize_t n = h.shape[0], i
    out = np.empty(n, dtype=np.uint64)
    cdef uint64_t[::1] z = out
    with nogil:
        for i in range(n):
            z[i] = _mix(h[i], salt)
    return out


def pool_picks(const int64_t[::1] offsets, const uint8_t[::1] data, const uint64_t[::1] h,
               const int64_t[::1] pool_offsets, const uint8_t[::1] pool_data,
               const int64_t[::1] starts, const int64_t[::1] sizes, int repicks):
    """Where in the pool each row's keyed pick is: starts[r] + h[r] % sizes[r] (a row's own locale
    pool among several laid end to end), drawn again from mix(h[r], attempt) for attempt = 1 ..
    repicks while the pick is the row's own value. One pass: no picked text to compare first."""
    cdef Py_ssize_t n = _strings(offsets, data.shape[0], "pool_picks"), r
    cdef Py_ssize_t pool_size = _strings(pool_offsets, pool_data.shape[0], "pool_picks: the pool")
    cdef int attempt
    cdef uint64_t x
    cdef int64_t j = 0, size
    cdef bint ok = True
    if h.shape[0] != n or starts.shape[0] != n or sizes.shape[0] != n:
        raise ValueError(f"pool_picks: {n} values, {h.shape[0]} hashes, {starts.shape[0]} starts, "
                         f"{sizes.shape[0]} sizes")
    if repicks < 0:
        raise ValueError("pool_picks: a negative number of repicks")
    with nogil:
        for r in range(n):  # each row's pool is non-empty and lies within the pools
            ok &= (sizes[r] > 0) & (starts[r] >= 0) & (starts[r] <= pool_size - sizes[r])
    if not ok:
        raise ValueError(f"pool_picks: a row's pool (start, size) is empty or outside the {pool_size} entries")
    out = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] pos = out
    if n == 0:
        return out
    cdef const uint8_t* values = _bytes(data)
    cdef const uint8_t* pool = _bytes(pool_data)
    with nogil:
        for r in range(n):
            size = offsets[r + 1] - offsets[r]
            for attempt in range(repicks + 1):
                x = h[r] if attempt == 0 else _mix(h[r], attempt)
                j = starts[r] + <int64_t>(x % <uint64_t>sizes[r])
                if pool_offsets[j + 1] - pool_offsets[j] != size:
                    break
                if memcmp(pool + pool_offsets[j], values + offsets[r], size) != 0:
                    break
            pos[r] = j
    return out


def select(const int64_t[::1] offsets, const uint8_t[::1] mask):
    """(positions, row, rank within the row, count per row) of the bytes where `mask` is 1: what
    format-true rules replace (numpy needs a searchsorted and two repeats for it). Branch-free: every
    byte is written and only a selected one advances, so the last slot is spare."""
    cdef Py_ssize_t n = _strings(offsets, mask.shape[0], "select"), r
    cdef int64_t b, k = 0
    cdef int32_t c
    cdef uint8_t m
    total = int(np.count_nonzero(mask))
    positions = np.empty(total + 1, np.int64)
    rows, ranks = np.empty(total + 1, np.int32), np.empty(total + 1, np.int32)
    counts = np.empty(n, np.int32)
    cdef int64_t[::1] pos = positions
    cdef int32_t[::1] row = rows, rank = ranks, count = counts
    with nogil:
        for r in range(n):
            c = 0
            for b in range(offsets[r], offsets[r + 1]):
                m = mask[b] != 0
                pos[k], row[k], rank[k] = b, <int32_t>r, c
                k += m
                c += m
            count[r] = c
    return positions[:total], rows[:total], ranks[:total], counts


def siphash_int64(const int64_t[::1] values, bytes key):
    """`siphash` of each integer's decimal text ('-42'), written on the stack instead of into an
    Arrow string column first (integer keys are hashed as text so 42, 42.0 and '42' agree)."""
    cdef uint64_t k0, k1, u
    k0, k1 = _sip_key(key)
    cdef Py_ssize_t n = values.shape[0], i
    cdef uint8_t text[24]
    cdef int at
    out = np.empty(n, dtype=np.uint64)
    cdef uint64_t[::1] h = out
    with nogil:
        for i in range(n):
            u = <uint64_t>values[i]
            if values[i] < 0:
                u = 0 - u  # two's complement: also right for the most negative value
            at = 24
            while True:
                at -= 1
                text[at] = 48 + <uint8_t>(u % 10)
                u //= 10
                if u == 0:
                    break
            if values[i] < 0:
                at -= 1
                text[at] = 45
            h[i] = _splitmix(_siphash24(text + at, 24 - at, k0, k1))
    return out


def masked_text(const int64_t[::1] offsets, const uint8_t[::1] data, const uint8_t[::1] mask):
    """(int64 offsets, data) of each row's bytes where `mask` is 1, e.g. a card number's digits
    (what its fake digits are keyed on)."""
    cdef Py_ssize_t n = _strings(offsets, data.shape[0], "masked_text"), r
    cdef int64_t b, k = 0
    if mask.shape[0] != data.shape[0]:
        raise ValueError(f"masked_text: a mask of {mask.shape[0]} bytes for {data.shape[0]} bytes of data")
    out_data = np.empty(int(np.count_nonzero(mask)) + 1, np.uint8)
    out_offsets = np.empty(n + 1, np.int64)
    cdef uint8_t[::1] out = out_data
    cdef int64_t[::1] ends = out_offsets
    with nogil:
        ends[0] = 0
        for r in range(n):
            for b in range(offsets[r], offsets[r + 1]):
                out[k] = data[b]
                k += mask[b] != 0
            ends[r + 1] = k
    return out_offsets, out_data[:k]


cdef inline void _radix(const uint64_t* x, Py_ssize_t n, int width, uint64_t base, const uint8_t* alphabet,
                        Py_ssize_t row_step, Py_ssize_t digit_step, uint8_t* out) noexcept nogil:
    """Digit j (most significant first) of x[i] at out[i * row_step + j * digit_step], as the
    alphabet's symbol when there is one."""
    cdef Py_ssize_t i
    cdef int j
    cdef uint64_t v, d
    for i in range(n):
        v = x[i]
        for j in range(width - 1, -1, -1):
            d = v % base
            out[i * row_step + j * digit_step] = alphabet[d] if alphabet != NULL else <uint8_t>d
            v //= base


cdef void _radix_by_base(const uint64_t* x, Py_ssize_t n, int width, uint64_t base, const uint8_t* alphabet,
                         Py_ssize_t row_step, Py_ssize_t digit_step, uint8_t* out) noexcept nogil:
    """_radix inlined for the bases the rules use, so the compiler turns each division by the base
    into a multiplication."""
    if base == 10:
        _radix(x, n, width, 10, alphabet, row_step, digit_step, out)
    elif base == 26:
        _radix(x, n, width, 26, alphabet, row_step, digit_step, out)
    elif base == 36:
        _radix(x, n, width, 36, alphabet, row_step, digit_step, out)
    else:
        _radix(x, n, width, base, alphabet, row_step, digit_step, out)


def radix(const uint64_t[::1] x, int width, int base):
    """(width, n) uint8 digits of each value in `base`, most significant first: the low `width`
    digits (all of them when base**width >= 2**64)."""
    cdef Py_ssize_t n = x.shape[0]
    if base < 2 or width < 0:
        raise ValueError(f"radix: base {base}, width {width}")
    out = np.empty((width, n), dtype=np.uint8)
    if n == 0 or width == 0:
        return out
    cdef uint8_t[:, ::1] view = out
    with nogil:
        _radix_by_base(&x[0], n, width, base, NULL, 1, n, &view[0, 0])
    return out


def radix_text(const uint64_t[::1] x, int width, bytes alphabet):
    """(n, width) bytes: each value's low `width` digits in base len(alphabet), written with the
    alphabet's symbols, row after row (the data buffer of fixed-width Arrow strings)."""
    cdef Py_ssize_t n = x.shape[0]
    if len(alphabet) < 2 or width < 0:
        raise ValueError(f"radix_text: an alphabet of {len(alphabet)} symbols, width {width}")
    out = np.empty((n, width), dtype=np.uint8)
    if n == 0 or width == 0:
        return out
    cdef uint8_t[:, ::1] view = out
    cdef const uint8_t* symbols = alphabet
    cdef uint64_t base = len(alphabet)
    with nogil:
        _radix_by_base(&x[0], n, width, base, symbols, width, 1, &view[0, 0])
    return out


cdef inline bint _digit(uint8_t b) noexcept nogil:
    return 48 <= b <= 57


DEF STREAM_DIGITS = 18  # decimal digits hashing.digit_matrix takes from one 64-bit stream


cdef inline void _keyed_digits(uint64_t h, Py_ssize_t m, uint8_t* out) noexcept nogil:
    """The first m digits hashing.digit_matrix(h, m, 10) gives (stream s is mix(h, 1000 + s)), the
    first one never 0 (a national number does not open with its trunk prefix). Writes up to 17
    digits past m."""
    cdef Py_ssize_t s
    cdef uint64_t x
    for s in range(0, m, STREAM_DIGITS):
        x = _mix(h, 1000 + s)
        _radix(&x, 1, STREAM_DIGITS, 10, NULL, 0, 1, out + s)
    if m:
        out[0] = 1 + out[0] % 9


def phone_fakes(const int64_t[::1] offsets, const uint8_t[::1] data, bytes key):
    """A copy of `data` (phone numbers) where each number's national significant digits are replaced
    by keyed digits, in one pass: no mask, no digit text, no digit matrix in between.

    Kept: separators, a leading '+' country code (up to three digits right after '+'), a trunk '0'
    opening a number written without '+' ('020 ...', '(030) ...') and the 0 of '(0)'. The national
    digits, as text, are what is hashed (SipHash-2-4 under `key`, as `siphash`), so one number in
    several layouts gets the same digits. A number whose fake digits equal its own is drawn again
    from mix(h, 1).
    """
    cdef uint64_t k0, k1, h
    k0, k1 = _sip_key(key)
    cdef Py_ssize_t n = _strings(offsets, data.shape[0], "phone_fakes"), r, m, j
    cdef int64_t start, stop, b, kept_to, trunk
    cdef bint same
    longest = int(np.diff(offsets).max()) if n > 0 else 0
    national_buffer = np.empty(longest + 1, np.uint8)
    positions_buffer = np.empty(longest + 1, np.int64)
    digits_buffer = np.empty(longest + STREAM_DIGITS, np.uint8)
    cdef uint8_t[::1] national = national_buffer, digits = digits_buffer
    cdef int64_t[::1] pos = positions_buffer
    out_data = np.array(data, dtype=np.uint8, copy=True)
    cdef uint8_t[::1] out = out_data
    with nogil:
        for r in range(n):
            start, stop = offsets[r], offsets[r + 1]
            kept_to, trunk = start, -1
            if stop > start:
                if data[start] == 43:  # '+': the country code
                    kept_to = start + 1
                    while kept_to < stop and kept_to <= start + 3 and _digit(data[kept_to]):
                        kept_to += 1
                elif data[start] == 48:  # trunk '0'
                    trunk = start
                elif data[start] == 40 and stop - start > 1 and data[start + 1] == 48:  # '(0'
                    trunk = start + 1
            m = 0
            for b in range(kept_to, stop):
                if not _digit(data[b]) or b == trunk:
                    continue
                if data[b] == 48 and b > start and b + 1 < stop and data[b - 1] == 40 and data[b + 1] == 41:
                    continue  # the 0 of '(0)'
                pos[m], national[m] = b, data[b]
                m += 1
            h = _splitmix(_siphash24(&national[0], m, k0, k1))
            _keyed_digits(h, m, &digits[0])
            same = m > 0
            for j in range(m):
                if digits[j] + 48 != national[j]:
                    same = False
                    break
            if same:
                _keyed_digits(_mix(h, 1), m, &digits[0])
            for j in range(m):
                out[pos[j]] = 48 + digits[j]
    return out_data
