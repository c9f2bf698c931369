"""What the code location is built from, kept under DP_HOME so that loading it never connects to the
source: the source schema (and its digest), each table's row estimate, and the partition layout.

Written by an explicit refresh (`data-pipeline refresh`, the `refresh_source_state` job, the
schema-change sensor) and by `data-pipeline run`; never at load time. The partition count is fixed
here, so `rows-001` names the same slice of a snapshot from one load of the code location to the next.

    >>> state = SourceState(Schema(()), {}, Partitioning(), "sqlite:///x.db", "2026-01-01T00:00:00")
    >>> state.digest == SourceState.from_dict(state.to_dict()).digest
    True
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from data_pipeline.config import Settings, redact_url
from data_pipeline.context import Context
from data_pipeline.partitions import Partitioning, estimate_rows, layout
from data_pipeline.plan import SchemaChange, diff_schemas
from data_pipeline.schema import Schema

FILE = "source_state.json"
ALLOWED = "allowed_destructive.json"


@dataclass(frozen=True)
class SourceState:
    schema: Schema
    estimates: dict[str, int]
    parts: Partitioning
    source: str  # URL without password
    refreshed_at: str

    @property
    def digest(self) -> str:
        """The schema's hash: the source asset's data version, what the schema-change sensor compares."""
        return schema_digest(self.schema)

    def to_dict(self) -> dict:
        return {
            "schema": self.schema.to_dict(),
            "estimates": self.estimates,
            "parts": {"count": self.parts.count, "tables": list(self.parts.tables)},
            "source": self.source,
            "refreshed_at": self.refreshed_at,
            "digest": self.digest,
        }

    @staticmethod
    def from_dict(data: dict) -> SourceState:
        parts = data["parts"]
        return SourceState(
            Schema.from_dict(data["schema"]),
            dict(data["estimates"]),
            Partitioning(parts["count"], tuple(parts["tables"])),
            data["source"],
            data["refreshed_at"],
        )


def schema_digest(schema: Schema) -> str:
    """Order-free where order means nothing (foreign keys, unique sets: reflection lists them in
    no fixed order); column order counts."""
    tables = []
    for table in schema.to_dict()["tables"]:
        for unordered in ("foreign_keys", "unique"):
            table[unordered] = sorted(table[unordered], key=lambda item: json.dumps(item, sort_keys=True))
        tables.append(table)
    return hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()[:16]


def path(settings: Settings) -> Path:
    return settings.home / "state" / FILE


def load(settings: Settings) -> SourceState | None:
    """The stored state of this source; None before the first refresh (or for another source)."""
    file = path(settings)
    if not file.exists():
        return None
    state = SourceState.from_dict(json.loads(file.read_text()))
    return state if state.source == redact_url(settings.source_url) else None


def observe(ctx: Context) -> SourceState:
    """The source as it is now (reads the source; writes nothing)."""
    with ctx.source.connect() as conn:
        estimates = {t.name: estimate_rows(conn, t) for t in ctx.schema.tables}
    return SourceState(
        ctx.schema,
        estimates,
        layout(estimates, ctx.settings.partition_rows),
        redact_url(ctx.settings.source_url),
        datetime.now(UTC).isoformat(timespec="seconds"),
    )


def save(settings: Settings, state: SourceState) -> None:
    """Atomically (a code location loading meanwhile reads the old state or the new, never half)."""
    file = path(settings)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".partial")
    tmp.write_text(json.dumps(state.to_dict(), indent=1))
    os.replace(tmp, file)


def refresh(ctx: Context) -> SourceState:
    state = observe(ctx)
    save(ctx.settings, state)
    return state


def peek(ctx: Context) -> SourceState:
    """The stored state while the live schema still matches it (the partition layout stays as it
    was fixed), the source as it is otherwise. Writes nothing."""
    stored = load(ctx.settings)
    if stored is not None and stored.digest == schema_digest(ctx.schema):
        return stored
    return observe(ctx)


def current(ctx: Context) -> SourceState:
    """`peek`, saved when it was observed anew."""
    state = peek(ctx)
    if load(ctx.settings) != state:
        save(ctx.settings, state)
    return state


def allow(settings: Settings, digest: str) -> None:
    """Someone accepted the destructive changes that lead to the schema with this digest."""
    file = settings.home / "state" / ALLOWED
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps({"digest": digest, "at": datetime.now(UTC).isoformat(timespec="seconds")}))


def allowed(settings: Settings, digest: str) -> bool:
    file = settings.home / "state" / ALLOWED
    return file.exists() and json.loads(file.read_text()).get("digest") == digest


@dataclass(frozen=True)
class Drift:
    """How the live source differs from the stored state, and what to do about it."""

    changes: tuple[SchemaChange, ...]
    digest: str  # the live schema's
    allowed: bool  # destructive changes accepted for exactly this schema

    @property
    def destructive(self) -> tuple[SchemaChange, ...]:
        return tuple(c for c in self.changes if c.destructive)

    @property
    def action(self) -> str:
        """'none', 'release' (additive, or destructive and allowed) or 'wait' (destructive)."""
        if not self.changes:
            return "none"
        return "wait" if self.destructive and not self.allowed else "release"


def drift(settings: Settings, stored: SourceState, live: Schema) -> Drift:
    digest = schema_digest(live)
    return Drift(tuple(diff_schemas(stored.schema, live)), digest, allowed(settings, digest))
