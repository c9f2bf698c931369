"""Sets of 64-bit keyed hashes that stay near 8 bytes per distinct hash.

Checks over a whole table (is a key unique? did any original value leak?) need every row's hash at
once. A Python set entry costs several times the hash's 8 bytes and `np.unique` over everything
doubles the peak, so big tables outgrew the memory budget. Here hashes arrive batch by batch; every
MERGE_EVERY of them are sorted, stripped of values the set already holds (counted as repeats), and
merged into sorted runs of at most RUN_MAX hashes. A merge never copies more than one run, so the
peak stays near the set's size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

MERGE_EVERY = 1 << 20  # pending hashes are folded into the runs at this count (8 MB)
RUN_MAX = 1 << 22  # hashes per sorted run (32 MB): the most a merge copies


class HashSet:
    """Distinct uint64 values, added in batches; `repeats` counts values added more than once."""

    def __init__(self, merge_every: int = MERGE_EVERY, run_max: int = RUN_MAX) -> None:
        self._runs: list[np.ndarray] = []
        self._pending: list[np.ndarray] = []
        self._pending_count = 0
        self._merge_every, self._run_max = merge_every, run_max
        self.added = 0

    def add(self, hashes: np.ndarray) -> None:
        self.added += len(hashes)
        if len(hashes):
            self._pending.append(np.asarray(hashes, dtype=np.uint64))
            self._pending_count += len(hashes)
        if self._pending_count >= self._merge_every:
            self._flush()

    def __len__(self) -> int:
        self._flush()
        return sum(len(run) for run in self._runs)

    @property
    def repeats(self) -> int:
        """Values added more than once (a unique key's duplicates)."""
        return self.added - len(self)

    def array(self) -> np.ndarray:
        """The distinct values as one sorted array (ready for `contains`); the runs are released."""
        self._flush()
        runs, self._runs = self._runs, []
        out = np.empty(sum(len(r) for r in runs), dtype=np.uint64)
        at = 0
        while runs:  # each run is freed once copied, so the peak is the set plus one run
            run = runs.pop(0)
            out[at : at + len(run)] = run
            at += len(run)
            del run
        out.sort()  # in place (the runs are disjoint; a stable sort would need half again)
        self._runs = [out]
        return out

    def _flush(self) -> None:
        if not self._pending:
            return
        new = _sorted_distinct(self._pending)
        self._pending_count = 0
        for run in self._runs:
            new = new[~contains(run, new)]
        if self._runs and len(self._runs[-1]) + len(new) <= self._run_max:
            self._runs[-1] = _merge_sorted(self._runs[-1], new)
        elif len(new):
            self._runs.append(new)


def sorted_runs(batches: Iterable[np.ndarray], run_max: int = MERGE_EVERY) -> Iterator[np.ndarray]:
    """Hashes from `batches` as sorted, de-duplicated runs of about `run_max` each, yielded as each
    fills: a caller that writes them out holds one run at a time. (A value may recur across runs.)"""
    pending: list[np.ndarray] = []
    count = 0
    for batch in batches:
        pending.append(np.asarray(batch, dtype=np.uint64))
        count += len(batch)
        if count >= run_max:
            yield _sorted_distinct(pending)
            pending, count = [], 0
    if count:
        yield _sorted_distinct(pending)


def _sorted_distinct(parts: list[np.ndarray]) -> np.ndarray:
    values = np.concatenate(parts)
    parts.clear()
    values.sort()
    return _dedupe_sorted(values)


def _merge_sorted(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Two sorted arrays with no value in common as one sorted array."""
    merged = np.concatenate([old, new])
    merged.sort(kind="stable")  # two sorted runs: timsort merges them in one pass
    return merged


def _dedupe_sorted(values: np.ndarray) -> np.ndarray:
    """A sorted array without repeats."""
    if len(values) < 2:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def contains(sorted_set: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Membership of each value in a sorted array, without `np.isin`'s copy of the whole set."""
    if not len(sorted_set) or not len(values):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[at] == values
