"""Sets of 64-bit keyed hashes that stay near 8 bytes per distinct hash.

Checks over a whole table (is a key unique? did any original value leak?) need every row's hash at
once. A Python set costs ~70 bytes an entry and `np.unique` over everything doubles the peak, so a
5M-row table blew the memory budget. Here hashes arrive batch by batch, are merged into one sorted
array every ~1M hashes and de-duplicated in place: the peak is the set twice, briefly, at the
last merge.
"""

from __future__ import annotations

import numpy as np

MERGE_EVERY = 1 << 20  # pending hashes merged into the sorted array at this size (8 MB)
_BLOCK = 1 << 20  # de-duplication works through the array in blocks this long


class HashSet:
    """Distinct uint64 values, added in batches; `added - len()` counts the repeats seen."""

    def __init__(self, merge_every: int = MERGE_EVERY) -> None:
        self._sorted = np.empty(0, dtype=np.uint64)
        self._pending: list[np.ndarray] = []
        self._pending_count = 0
        self._merge_every = merge_every
        self.added = 0

    def add(self, hashes: np.ndarray) -> None:
        self.added += len(hashes)
        if len(hashes):
            self._pending.append(np.asarray(hashes, dtype=np.uint64))
            self._pending_count += len(hashes)
        if self._pending_count >= self._merge_every:
            self._merge()

    def array(self) -> np.ndarray:
        """The distinct hashes, sorted (ready for `contains`)."""
        self._merge()
        return self._sorted

    def __len__(self) -> int:
        return len(self.array())

    @property
    def repeats(self) -> int:
        """Hashes added more than once (a unique key's duplicates)."""
        return self.added - len(self)

    def _merge(self) -> None:
        if not self._pending:
            return
        new = _dedupe_sorted(np.sort(np.concatenate(self._pending)))
        self._pending, self._pending_count = [], 0
        self._sorted = _dedupe_sorted(_merge_sorted(self._sorted, new))


def _merge_sorted(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Two sorted arrays as one, a block of `old` at a time with the `new` values that fall in it:
    the only large allocation is the result."""
    out = np.empty(len(old) + len(new), dtype=np.uint64)
    written = taken = 0
    for start in range(0, len(old), _BLOCK):
        block = old[start : start + _BLOCK]
        last = start + _BLOCK >= len(old)
        upto = len(new) if last else int(np.searchsorted(new, block[-1], side="right"))
        part = np.concatenate([block, new[taken:upto]])
        part.sort(kind="stable")  # two sorted runs: timsort merges them in one pass
        out[written : written + len(part)] = part
        written, taken = written + len(part), upto
    out[written:] = new[taken:]  # all of `new` when `old` is empty
    return out


def _dedupe_sorted(values: np.ndarray) -> np.ndarray:
    """`values` (sorted, owning its memory) without repeats, compacted in place block by block."""
    if len(values) < 2:
        return values
    write = 1
    for start in range(1, len(values), _BLOCK):
        block = values[start : start + _BLOCK]
        keep = block != values[start - 1 : start - 1 + len(block)]  # before anything here is overwritten
        kept = block[keep]
        values[write : write + len(kept)] = kept
        write += len(kept)
    values.resize(write, refcheck=False)
    return values


def contains(sorted_set: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Membership of each value in a sorted array, without `np.isin`'s copy of the whole set."""
    if not len(sorted_set) or not len(values):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[at] == values
