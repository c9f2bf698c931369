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


def test_spilled_hashes_read_back_bucket_by_bucket_as_if_in_memory(tmp_path, monkeypatch) -> None:
    """Past its buffer a set spills sorted buckets to disk; read back they are the values (distinct,
    or with repeats), and closing it leaves nothing behind. A small set never touches the disk."""
    from data_pipeline import hashset
    from data_pipeline.hashset import SpilledHashes

    rng = np.random.default_rng(3)
    batches = [rng.integers(0, 2**64, size=700, dtype=np.uint64, endpoint=False) for _ in range(30)]
    batches.append(batches[0][:50])  # repeats across buffers
    everything = np.concatenate(batches)
    monkeypatch.setattr(hashset, "SPILL_BUFFER", 1_000)
    distinct, repeated = SpilledHashes(tmp_path), SpilledHashes(tmp_path, repeats=True)
    for batch in batches:
        distinct.add(batch)
        repeated.add(batch)
    assert distinct.spilled and len(list(tmp_path.iterdir())) == 2
    numbers = [b for b, _ in distinct.buckets()]
    assert numbers == sorted(set(numbers)) and len(numbers) > 200
    assert np.array_equal(np.concatenate([v for _, v in distinct.buckets()]), np.unique(everything))
    assert np.array_equal(np.concatenate([v for _, v in repeated.buckets()]), np.sort(everything))
    assert distinct.added - distinct.distinct() == 50 == repeated.added - repeated.distinct()
    assert np.array_equal(distinct.bucket(numbers[3]), dict(distinct.buckets())[numbers[3]])
    distinct.close()
    repeated.close()
    assert list(tmp_path.iterdir()) == []

    monkeypatch.setattr(hashset, "SPILL_BUFFER", 1 << 20)
    small = SpilledHashes(tmp_path / "never")
    small.add(batches[0])
    small.add(batches[0])
    assert not small.spilled and small.distinct() == 700 and not (tmp_path / "never").exists()


def test_spilled_hashes_hold_one_buffer_and_one_bucket_not_every_value(tmp_path, monkeypatch) -> None:
    import tracemalloc

    from data_pipeline import hashset
    from data_pipeline.hashset import SpilledHashes

    monkeypatch.setattr(hashset, "SPILL_BUFFER", 1 << 16)
    rng = np.random.default_rng(4)
    tracemalloc.start()
    try:
        hashes = SpilledHashes(tmp_path)
        for _ in range(64):  # 4M values: 32 MB of hashes
            hashes.add(rng.integers(0, 2**63, size=1 << 16, dtype=np.uint64))
        assert hashes.distinct() > 4_000_000 - 10
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        hashes.close()
    assert peak < 4_000_000, peak  # a buffer (0.5 MB) and its sort, a bucket (128 KB): not 32 MB
