"""Checkpoints: one table at one step, as Parquet plus a JSON manifest.

A checkpoint is written to a temporary name and renamed only when complete, and its manifest (written
last, atomically) carries the sha256 of the data: a file without a manifest, or whose bytes do not hash
to the manifest's sha256, is rejected, never used. Raw checkpoints live only in the vault (0700/0600).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data_pipeline.decimals import decimal_text, scalar_text
from data_pipeline.errors import BadInput
from data_pipeline.schema import Column, Table, table_from_dict

RAW_STEPS = ("snapshot",)
BATCH_ROWS = 25_000  # bounds memory per table: ~25k rows of Python objects at a time
# Rows per anonymization call on a whole table. Arrow-backed, so more of them fit the memory target than
# the snapshot's Python rows, and the engine's fixed cost per call (pandas and Arrow calls) is spread
# further; the largest count whose peak stays under the target (`python -m bench pipeline`).
ANONYMIZE_ROWS = 32_000
# ... and on a table whose text is scrubbed (free text, JSON): its documents and matches are Python
# objects row by row, so half as many fit the same target (`python -m bench faithful`, PaymentEvents)
ANONYMIZE_TEXT_ROWS = ANONYMIZE_ROWS // 2


def release_memory() -> None:
    """Hand freed memory back to the OS (Arrow's pool and glibc keep it otherwise), so a long run's
    RSS tracks its working set rather than its history."""
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@dataclass(frozen=True)
class CheckpointRef:
    """What flows between Dagster assets: a pointer and a hash, never data."""

    id: str
    step: str
    table: str
    path: str
    sha256: str
    rows: int


@dataclass(frozen=True)
class Manifest:
    id: str
    step: str  # "snapshot" (raw) or "anonymized"
    table: dict  # schema.Table as a dict
    rows: int
    sha256: str
    created_at: str
    expires_at: str | None
    parents: tuple[str, ...] = ()
    policy_digest: str | None = None
    key_epoch: str | None = None
    source: str | None = None  # URL without password
    run_id: str | None = None
    forward_only: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def schema_table(self) -> Table:
        return table_from_dict(self.table)


def new_batch(step: str) -> str:
    """One batch per run of a step: all tables of one snapshot share it."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{step}-{stamp}-{uuid.uuid4().hex[:8]}"


def arrow_type(column: Column) -> pa.DataType:
    """One Arrow type per generic SQL type, so every chunk of a table shares a schema. NUMERIC is
    its exact decimal text: a float holds about 15 significant digits, a NUMERIC many more (money,
    20-digit identifiers), and its NaN is not NULL."""
    return {
        "integer": pa.int64(),
        "float": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "datetime": pa.timestamp("us", tz="UTC" if column.timezone else None),
        "binary": pa.binary(),
    }.get(column.generic, pa.string())


def arrow_schema(table: Table) -> pa.Schema:
    return pa.schema([pa.field(c.name, arrow_type(c), nullable=True) for c in table.columns])


def to_frame(table: pa.Table) -> pd.DataFrame:
    """A batch as pandas, DATE columns as datetime64[s] (midnights): columnar, what the anonymizer
    computes with and hands back, where Python date objects are slow to make and again to convert.
    Written back, they are date32 again (the checkpoint schema)."""
    for i, spec in enumerate(table.schema):
        if pa.types.is_date32(spec.type):
            table = table.set_column(i, spec.name, pc.cast(table.column(i), pa.timestamp("s")))
    return table.to_pandas()


def text_form(value: object) -> str | None:
    """JSON documents and arrays as JSON, UUIDs and the like as text; NULL (None/NaN) stays NULL."""
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return scalar_text(value)


def _coerce(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Values Arrow cannot take as-is (JSON documents, UUIDs, decimals) become text."""
    out = {}
    for column in table.columns:
        values = frame[column.name]
        if column.generic in ("string", "other") and values.dtype == object:
            values = values.map(text_form)
        elif column.generic == "numeric":
            values = decimal_text(values)
        out[column.name] = values
    return pd.DataFrame(out, index=frame.index)


def _as_arrow(frame: pd.DataFrame | pa.Table, table: Table, schema: pa.Schema) -> pa.Table:
    """A batch in the checkpoint schema: Arrow tables (the COPY reader) are already typed."""
    if isinstance(frame, pa.Table):
        return frame.cast(schema) if frame.schema != schema else frame
    return pa.Table.from_pandas(_coerce(frame, table), schema=schema, preserve_index=False, safe=False)


def _write_overlapped(writer: pq.ParquetWriter, tables: Iterable[pa.Table]) -> int:
    """Write each table in a thread while the next is produced (read, anonymized, checked): Arrow
    encodes and compresses without the GIL, so the two overlap on two cores. One table at most is
    in flight and both threads release memory after each, so memory stays bounded; the rows written
    are returned."""
    rows, pending = 0, None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer") as pool:
        for data in tables:
            if pending is not None:
                pending.result()
                release_memory()
            pending = pool.submit(_write_and_release, writer, data)
            rows += data.num_rows
        if pending is not None:
            pending.result()
            release_memory()
    return rows


def _write_and_release(writer: pq.ParquetWriter, data: pa.Table) -> None:
    """Write one table, then release what encoding it used: Arrow's allocator (mimalloc) keeps a heap
    per thread and releases only the calling thread's."""
    writer.write_table(data)
    release_memory()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json_atomic(path: Path, data: dict, mode: int) -> None:
    tmp = path.with_suffix(".json.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class CheckpointStore:
    """Checkpoints of one step under one directory (the vault for raw steps)."""

    def __init__(self, root: Path, step: str) -> None:
        self.root = root
        self.step = step
        self.raw = step in RAW_STEPS
        self._dir_mode = 0o700 if self.raw else 0o755
        self._file_mode = 0o600 if self.raw else 0o644
        # data files already hashed, by (size, mtime): a run reads one checkpoint several times
        # (checks, FK checks, publish) and need not hash its bytes each time
        self._verified: dict[Path, tuple[int, int, str]] = {}

    def batch_dir(self, batch: str) -> Path:
        path = self.root / batch
        path.mkdir(parents=True, exist_ok=True, mode=self._dir_mode)
        for p in (self.root, path):
            os.chmod(p, self._dir_mode)
        return path

    def _paths(self, cid: str) -> tuple[Path, Path]:
        batch, table = cid.split("/", 1)
        base = self.root / batch / table
        return base.with_name(f"{table}.parquet"), base.with_name(f"{table}.json")

    def write(
        self,
        table: Table,
        frames: Iterable[pd.DataFrame | pa.Table],
        *,
        batch: str,
        retention: timedelta | None = None,
        **meta: object,
    ) -> CheckpointRef:
        """Stream frames (pandas, or Arrow tables of the checkpoint schema) into Parquet (bounded
        memory), then seal with a manifest."""
        cid = f"{batch}/{table.name}"
        final, manifest_path = self._paths(cid)
        self.batch_dir(batch)
        partial = final.with_name(f"{table.name}.parquet.partial")
        schema = arrow_schema(table)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, self._file_mode)
        os.close(fd)
        try:
            # no dictionary pages: zstd finds the repeats anyway, and dictionaries that overflow
            # on high-cardinality columns (keys, fakes, text) cost time and size (bench/README.md)
            with pq.ParquetWriter(partial, schema, compression="zstd", use_dictionary=False) as writer:
                rows = _write_overlapped(writer, (_as_arrow(f, table, schema) for f in frames))
            os.replace(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        now = datetime.now(UTC)
        manifest = Manifest(
            id=cid,
            step=self.step,
            table=asdict(table),
            rows=rows,
            sha256=_sha256(final),
            created_at=now.isoformat(),
            expires_at=(now + retention).isoformat() if retention else None,
            forward_only=self.step == "anonymized",
            **meta,  # type: ignore[arg-type]
        )
        _write_json_atomic(manifest_path, asdict(manifest), self._file_mode)
        return CheckpointRef(cid, self.step, table.name, str(final), manifest.sha256, rows)

    def manifest(self, ref: CheckpointRef | str) -> Manifest:
        """The manifest of a sealed checkpoint whose data still hashes to it."""
        cid = ref.id if isinstance(ref, CheckpointRef) else ref
        data_path, path = self._paths(cid)
        if not path.exists():
            raise BadInput(f"checkpoint {cid} has no manifest at {path}: it is incomplete, not used")
        data = json.loads(path.read_text())
        data["parents"] = tuple(data.get("parents") or ())
        manifest = Manifest(**data)
        if not data_path.exists():
            raise BadInput(f"checkpoint {cid}: data file {data_path} is missing (purged?)")
        stat = data_path.stat()
        seen = (stat.st_size, stat.st_mtime_ns, manifest.sha256)
        if self._verified.get(data_path) == seen:
            return manifest
        if _sha256(data_path) != manifest.sha256:
            raise BadInput(
                f"checkpoint {cid} is corrupt: {data_path} does not match its sha256; "
                "it was rejected. Re-run to take a fresh one."
            )
        self._verified[data_path] = seen
        return manifest

    def arrow_batches(
        self, ref: CheckpointRef | str, columns: list[str] | None = None, rows: int = BATCH_ROWS
    ) -> Iterator[pa.Table]:
        """Verified data as Arrow tables of at most `rows` rows (at least one, possibly empty)."""
        manifest = self.manifest(ref)
        parquet = self._open(manifest)
        emitted = False
        for batch in parquet.iter_batches(batch_size=rows, columns=columns):
            emitted = True
            yield pa.Table.from_batches([batch])
            del batch
            release_memory()
        if not emitted:
            empty = parquet.schema_arrow.empty_table()
            yield empty.select(columns) if columns else empty

    def batches(
        self, ref: CheckpointRef | str, columns: list[str] | None = None, rows: int = BATCH_ROWS
    ) -> Iterator[pd.DataFrame]:
        """Verified data in pandas batches of at most `rows` rows (at least one, possibly empty)."""
        for table in self.arrow_batches(ref, columns, rows):
            yield to_frame(table)

    def batches_between(
        self, ref: CheckpointRef | str, start: int, stop: int, rows: int = BATCH_ROWS
    ) -> Iterator[pd.DataFrame]:
        """Verified rows [start, stop) in pandas batches of at most `rows` (at least one batch,
        possibly empty); only the row groups that hold them are read, as one stream."""
        manifest = self.manifest(ref)
        parquet = self._open(manifest)
        groups, first, offset = [], 0, 0
        for group in range(parquet.num_row_groups):
            size = parquet.metadata.row_group(group).num_rows
            if offset < stop and offset + size > start:
                first = first if groups else offset
                groups.append(group)
            offset += size
        emitted, at = False, first  # at: the row number of the next batch's first row
        for batch in parquet.iter_batches(batch_size=rows, row_groups=groups) if groups else ():
            lo, hi = max(start - at, 0), min(stop - at, batch.num_rows)
            at += batch.num_rows
            if lo < hi:
                emitted = True
                yield to_frame(pa.Table.from_batches([batch]).slice(lo, hi - lo))
                release_memory()
            if at >= stop:
                break
        if not emitted:
            yield to_frame(parquet.schema_arrow.empty_table())

    def _open(self, manifest: Manifest) -> pq.ParquetFile:
        """Without pre-buffering: Arrow would otherwise keep every row group read so far in memory
        until the file is closed, a whole table's worth by the end."""
        return pq.ParquetFile(self._paths(manifest.id)[0], pre_buffer=False)

    def read(self, ref: CheckpointRef | str, columns: list[str] | None = None) -> pd.DataFrame:
        """A whole checkpoint (or some columns of it) in memory."""
        return pd.concat(list(self.batches(ref, columns)), ignore_index=True)

    def all_manifests(self) -> list[Manifest]:
        """Every sealed manifest (unverified: for listing and retention only)."""
        found = []
        for path in sorted(self.root.glob("*/*.json")):
            if path.name.startswith("_"):
                continue
            data = json.loads(path.read_text())
            data["parents"] = tuple(data.get("parents") or ())
            found.append(Manifest(**data))
        return found

    def ref(self, cid: str) -> tuple[CheckpointRef, Manifest]:
        """A sealed checkpoint found by id (its data verified against the manifest)."""
        manifest = self.manifest(cid)
        path, _ = self._paths(cid)
        return CheckpointRef(
            cid, self.step, manifest.table["name"], str(path), manifest.sha256, manifest.rows
        ), manifest

    def has(self, cid: str) -> bool:
        return all(p.exists() for p in self._paths(cid))

    def delete(self, manifest: Manifest) -> list[Path]:
        removed = []
        for path in self._paths(manifest.id):
            if path.exists():
                path.unlink()
                removed.append(path)
        return removed
