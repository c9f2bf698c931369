"""Checkpoints are sealed by a manifest and a sha256: a corrupt or truncated one is never used."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from data_pipeline.checkpoint import CheckpointStore
from data_pipeline.errors import BadInput
from data_pipeline.schema import Column, Table

TABLE = Table(
    "people",
    (Column("id", "INTEGER", "integer", False, primary_key=True), Column("name", "TEXT", "string", True)),
    ("id",),
    (),
    (),
)


def write(store: CheckpointStore, rows: int = 120_000):
    frames = (
        pd.DataFrame(
            {
                "id": range(i, min(i + 50_000, rows)),
                "name": [f"n{j}" for j in range(i, min(i + 50_000, rows))],
            }
        )
        for i in range(0, rows, 50_000)
    )
    return store.write(TABLE, frames, batch="snapshot-test", retention=timedelta(days=7))


def test_manifest_records_rows_hash_schema_and_expiry(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "vault", "snapshot")
    ref = write(store)
    manifest = store.manifest(ref)
    assert manifest.rows == ref.rows == 120_000
    assert manifest.sha256 == ref.sha256 and len(manifest.sha256) == 64
    assert manifest.schema_table == TABLE
    assert manifest.expires_at > manifest.created_at
    assert len(store.read(ref)) == 120_000
    assert oct((tmp_path / "vault").stat().st_mode & 0o777) == "0o700"
    assert oct(Path(ref.path).stat().st_mode & 0o777) == "0o600"


def test_columns_are_compressed_without_dictionary_pages(tmp_path: Path) -> None:
    """zstd finds repeats itself; dictionaries that overflow on unique values only cost time."""
    ref = write(CheckpointStore(tmp_path / "vault", "snapshot"))
    meta = pq.ParquetFile(ref.path).metadata
    groups = [meta.row_group(g) for g in range(meta.num_row_groups)]
    chunks = [group.column(c) for group in groups for c in range(meta.num_columns)]
    assert {chunk.compression for chunk in chunks} == {"ZSTD"}
    assert not any("DICTIONARY" in encoding for chunk in chunks for encoding in chunk.encodings)


@pytest.mark.parametrize(
    ("start", "stop"), [(0, 120_000), (10_000, 60_000), (49_999, 50_001), (70_000, 70_000)]
)
def test_a_range_of_rows_comes_back_exactly_in_bounded_batches(tmp_path: Path, start: int, stop: int) -> None:
    """What a part of a partitioned table reads: rows [start, stop) across row groups, in batches of
    at most `rows`, and one empty batch for an empty range."""
    store = CheckpointStore(tmp_path / "vault", "snapshot")
    ref = write(store)
    assert pq.ParquetFile(ref.path).num_row_groups == 3  # 50,000 + 50,000 + 20,000 rows
    batches = list(store.batches_between(ref, start, stop, rows=32_000))
    assert all(len(b) <= 32_000 for b in batches) and len(batches) >= 1
    ids = pd.concat(batches)["id"].tolist()
    assert ids == list(range(start, stop))


def test_corrupt_checkpoint_is_rejected(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "vault", "snapshot")
    ref = write(store)
    with open(ref.path, "r+b") as handle:
        handle.seek(200)
        handle.write(b"\x00garbage\x00")
    with pytest.raises(BadInput, match="corrupt"):
        list(store.batches(ref))


def test_truncated_checkpoint_is_rejected(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "vault", "snapshot")
    ref = write(store)
    os.truncate(ref.path, Path(ref.path).stat().st_size // 2)
    with pytest.raises(BadInput, match="corrupt"):
        store.read(ref)


def test_a_checkpoint_without_manifest_is_incomplete(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "vault", "snapshot")
    ref = write(store)
    Path(ref.path).with_suffix(".json").unlink()
    with pytest.raises(BadInput, match="incomplete"):
        store.manifest(ref)


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "vault", "snapshot")

    def exploding():
        yield pd.DataFrame({"id": [1], "name": ["a"]})
        raise RuntimeError("source went away")

    with pytest.raises(RuntimeError):
        store.write(TABLE, exploding(), batch="snapshot-x")
    assert not list((tmp_path / "vault").rglob("*.parquet*"))
    assert store.all_manifests() == []


def test_a_write_that_fails_in_the_writer_thread_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    store = CheckpointStore(tmp_path / "vault", "snapshot")
    written = []

    def failing(self, table, row_group_size=None) -> None:
        written.append(table.num_rows)
        if len(written) == 2:
            raise OSError("disk full")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    with pytest.raises(OSError, match="disk full"):
        write(store)
    assert written == [50_000, 50_000]  # the third batch is never written
    assert not list((tmp_path / "vault").rglob("*.parquet*"))
    assert store.all_manifests() == []
