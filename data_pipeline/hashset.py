"""Sets of 64-bit keyed hashes that stay near 8 bytes per distinct hash.

Checks over a whole table (is a key unique? did any original value leak?) need every row's hash at
once. A Python set entry costs several times the hash's 8 bytes and `np.unique` over everything
doubles the peak, so big tables outgrew the memory budget. Here hashes arrive batch by batch; every
MERGE_EVERY of them are sorted, stripped of values the set already holds (counted as repeats), and
merged into sorted runs of at most RUN_MAX hashes. A merge never copies more than one run, so the
peak stays near the set's size.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

MERGE_EVERY = 1 << 20  # pending hashes are folded into the runs at this count (8 MB)
RUN_MAX = 1 << 22  # hashes per sorted run (32 MB): the most a merge copies
SPILL_BUFFER = 1 << 20  # SpilledHashes keeps this many in memory before spilling them (8 MB)


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


BUCKET_BITS = 8  # a spilled value's bucket: its top 8 bits (256 buckets of about 1/256 each)


class SpilledHashes:
    """uint64 values added batch by batch, read back bucket by bucket: memory stays one buffer plus
    one bucket (about 1/256 of the values) whatever the number of rows.

    Values are kept in memory until `buffer` of them arrive; from then on every full buffer is sorted
    (and de-duplicated unless `repeats=True`) and split by its values' top bits into one file per
    bucket under a private directory in `spill_dir`, removed by `close()` (or when the set is
    collected). The values are uniform hashes, so the buckets are even. A set that never fills one
    buffer never touches the disk.
    """

    def __init__(
        self, spill_dir: Path | str | None = None, *, repeats: bool = False, buffer: int | None = None
    ) -> None:
        self._spill_dir, self._keep_repeats = spill_dir, repeats
        self._buffer = buffer or SPILL_BUFFER
        self._pending: list[np.ndarray] = []
        self._pending_count = 0
        self._pending_sorted = False
        self._dir: Path | None = None
        self._finalizer: weakref.finalize | None = None
        self.added = 0

    def add(self, values: np.ndarray) -> None:
        if not len(values):
            return
        self.added += len(values)
        self._pending_sorted = False
        self._pending.append(np.asarray(values, dtype=np.uint64))
        self._pending_count += len(values)
        if self._pending_count >= self._buffer:
            self._spill()

    @property
    def spilled(self) -> bool:
        return self._dir is not None

    def buckets(self) -> Iterator[tuple[int, np.ndarray]]:
        """(bucket number, its values sorted; distinct unless `repeats`) for every non-empty bucket,
        in order; one bucket is in memory at a time."""
        if self._dir is None:  # never spilled: the buffer alone, split
            values = self._in_memory()
            for bucket in range(1 << BUCKET_BITS):
                part = bucket_slice(values, bucket)
                if len(part):
                    yield bucket, part
            return
        self._spill()
        for bucket in range(1 << BUCKET_BITS):
            values = self.bucket(bucket)
            if len(values):
                yield bucket, values

    def bucket(self, bucket: int) -> np.ndarray:
        """One bucket's values, sorted (distinct unless `repeats`)."""
        if self._dir is None:
            return bucket_slice(self._in_memory(), bucket)
        self._spill()
        path = self._dir / f"{bucket:03d}.u64"
        return self._sorted([np.fromfile(path, dtype=np.uint64)]) if path.exists() else _EMPTY

    def in_memory(self) -> np.ndarray | None:
        """Every value, sorted (distinct unless `repeats`), if the set never spilled; else None. Two
        small sets compare in one pass instead of bucket by bucket."""
        return None if self._dir is not None else self._in_memory()

    def _in_memory(self) -> np.ndarray:
        """The buffer of a set that never spilled, sorted once (and kept so, until the next add)."""
        if len(self._pending) != 1 or not self._pending_sorted:
            self._pending = [self._sorted(self._pending)]
            self._pending_sorted = True
        return self._pending[0]

    def distinct(self) -> int:
        """How many distinct values were added (a pass over the buckets)."""
        if self._keep_repeats:
            return sum(len(_dedupe_sorted(values)) for _, values in self.buckets())
        return sum(len(values) for _, values in self.buckets())

    def close(self) -> None:
        """Drop the spilled files and the buffer."""
        self._pending, self._pending_count = [], 0
        if self._finalizer is not None:
            self._finalizer()
        self._dir = None

    def _sorted(self, parts: list[np.ndarray]) -> np.ndarray:
        if not parts:
            return np.empty(0, dtype=np.uint64)
        values = np.concatenate(parts)  # a copy, even of one part: the caller's array stays as it is
        values.sort(kind="stable")  # sorted runs one after another: timsort merges them
        return values if self._keep_repeats else _dedupe_sorted(values)

    def _spill(self) -> None:
        if not self._pending:
            return
        if self._dir is None:
            if self._spill_dir is not None:
                Path(self._spill_dir).mkdir(parents=True, exist_ok=True)
            self._dir = Path(tempfile.mkdtemp(prefix="hashes-", dir=self._spill_dir))
            self._finalizer = weakref.finalize(self, shutil.rmtree, self._dir, True)
        values = self._sorted(self._pending)
        self._pending, self._pending_count = [], 0
        bounds = np.searchsorted(values, _BUCKET_STARTS)
        for bucket, (lo, hi) in enumerate(zip(bounds, [*bounds[1:], len(values)], strict=True)):
            if hi > lo:
                with open(self._dir / f"{bucket:03d}.u64", "ab") as out:
                    values[lo:hi].tofile(out)


_BUCKET_STARTS = np.arange(1 << BUCKET_BITS, dtype=np.uint64) << np.uint64(64 - BUCKET_BITS)
_EMPTY = np.empty(0, dtype=np.uint64)


def bucket_slice(sorted_values: np.ndarray, bucket: int) -> np.ndarray:
    """The values of one bucket (as SpilledHashes numbers them) in a sorted array (a memory map too:
    only that slice is read)."""
    lo = np.searchsorted(sorted_values, _BUCKET_STARTS[bucket])
    hi = (
        len(sorted_values)
        if bucket + 1 == len(_BUCKET_STARTS)
        else np.searchsorted(sorted_values, _BUCKET_STARTS[bucket + 1])
    )
    return np.asarray(sorted_values[lo:hi])
