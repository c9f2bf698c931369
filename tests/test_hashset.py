"""HashSet: distinct 64-bit hashes with bounded memory, and sorted-set membership."""

import numpy as np

from data_pipeline.hashset import HashSet, contains, sorted_runs


def test_merging_in_small_steps_gives_the_sorted_distinct_values_and_counts_repeats() -> None:
    rng = np.random.default_rng(1)
    batches = [rng.integers(0, 5_000, size=700, dtype=np.uint64) for _ in range(40)]
    hashes = HashSet(merge_every=1_000, run_max=3_000)  # several runs
    for batch in batches:
        hashes.add(batch)
    everything = np.concatenate(batches)
    assert np.array_equal(hashes.array(), np.unique(everything))
    assert hashes.repeats == len(everything) - len(np.unique(everything)) > 0
    assert hashes.repeats == len(everything) - len(np.unique(everything))  # array() keeps the count


def test_no_repeats_across_blocks_of_the_in_place_dedupe() -> None:
    values = np.arange(3_000_000, dtype=np.uint64)[::-1].copy()
    hashes = HashSet()
    hashes.add(values)
    hashes.add(values[:10])
    assert len(hashes) == 3_000_000 and hashes.repeats == 10
    assert np.all(np.diff(hashes.array().astype(np.int64)) == 1)


def test_empty_set_contains_nothing_and_membership_is_exact() -> None:
    assert HashSet().repeats == 0 and len(HashSet()) == 0
    known = np.array([3, 9, 2**64 - 1], dtype=np.uint64)
    probe = np.array([0, 3, 4, 9, 10, 2**64 - 1], dtype=np.uint64)
    assert contains(known, probe).tolist() == [False, True, False, True, False, True]
    assert not contains(np.empty(0, np.uint64), probe).any()


def test_sorted_runs_hold_every_value_once_per_run_and_about_run_max_each() -> None:
    rng = np.random.default_rng(2)
    batches = [rng.integers(0, 10_000, size=500, dtype=np.uint64) for _ in range(30)]
    runs = list(sorted_runs(batches, run_max=2_000))
    assert len(runs) == 8 and all(np.array_equal(r, np.unique(r)) for r in runs)
    assert np.array_equal(np.unique(np.concatenate(runs)), np.unique(np.concatenate(batches)))
