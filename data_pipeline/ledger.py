"""The release ledger: an append-only event table. Current state is derived from it, never stored.

Events: snapshot_taken, anonymized (forward-only), checks, published, rolled_back, revoked, purged,
run_failed. Each names its target (URL without password) and carries JSON details (ids, counts,
hashes; never raw values or secrets).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from data_pipeline.config import redact_url
from data_pipeline.db import make_engine

metadata = sa.MetaData()
events = sa.Table(
    "dp_ledger_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("target", sa.String(400), nullable=True),
    sa.Column("release", sa.Integer, nullable=True),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("details", sa.Text, nullable=False),
)

FORWARD_ONLY_KINDS = frozenset({"anonymized"})


@dataclass(frozen=True)
class Event:
    id: int
    at: str
    kind: str
    target: str | None
    release: int | None
    run_id: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class Release:
    number: int
    target: str
    published_at: str
    checkpoints: dict[str, str]  # table -> anonymized checkpoint id
    rows: dict[str, int]
    policy_digest: str
    key_epoch: str
    kind: str  # "published" or "rolled_back"
    revoked: bool = False  # its policy was later marked leaking: never re-published
    schema: dict | None = None
    source: str | None = None  # what it was made from (URL without password), for roll-forward plans
    policy: str | None = None


@dataclass(frozen=True)
class AnonymizedRecord:
    """An `anonymized` event: one forward-only checkpoint, what it was cut from, and its verdicts.
    `passed` is the one verdict every reader of the ledger uses."""

    checkpoint: str
    table: str
    run_id: str | None
    parent: str | None  # the snapshot checkpoint it was cut from
    part: str | None  # which part, for a table anonymized in parts
    parts: tuple[str, ...]  # the parts combined, for the combined checkpoint
    rows: int
    policy_digest: str
    key_epoch: str
    engine: str | None
    checks: dict[str, bool]
    suite_passed: bool | None  # None: the table has no suite

    @property
    def passed(self) -> bool:
        return all(self.checks.values()) and self.suite_passed is not False

    def details(self) -> dict[str, Any]:
        """The event's JSON details, as written since the ledger began (keys unchanged)."""
        where: dict[str, Any] = {}
        if self.part is not None:
            where["part"] = self.part
        if self.parts:
            where["parts"] = list(self.parts)
        return {
            "table": self.table,
            "checkpoint": self.checkpoint,
            **where,
            "parent": self.parent,
            "rows": self.rows,
            "policy_digest": self.policy_digest,
            "key_epoch": self.key_epoch,
            "engine": self.engine,
            "checks": dict(self.checks),
            "suite_passed": self.suite_passed,
        }

    @classmethod
    def from_event(cls, event: Event) -> AnonymizedRecord:
        d = event.details
        return cls(
            checkpoint=d["checkpoint"],
            table=d.get("table", ""),
            run_id=event.run_id,
            parent=d.get("parent"),
            part=d.get("part"),
            parts=tuple(d.get("parts") or ()),
            rows=d.get("rows", 0),
            policy_digest=d.get("policy_digest", ""),
            key_epoch=d.get("key_epoch", ""),
            engine=d.get("engine"),
            checks=dict(d.get("checks") or {}),
            suite_passed=d.get("suite_passed"),
        )


def _details(kind: str, details: dict[str, Any]) -> str:
    return json.dumps({**details, "forward_only": kind in FORWARD_ONLY_KINDS}, default=str)


class Ledger:
    def __init__(self, url: str, *, create: bool = True) -> None:
        """`create=False` reads only (for plans): a missing ledger is an empty one."""
        self.engine = make_engine(url, role="ledger")
        if create:
            metadata.create_all(self.engine)
        database = self.engine.url.database
        if not create and self.engine.dialect.name == "sqlite" and database and not Path(database).exists():
            self._exists = False  # inspecting would create the file
        else:
            self._exists = create or sa.inspect(self.engine).has_table(events.name)

    def revoked_policies(self) -> set[str]:
        return {e.details["policy_digest"] for e in self.events("revoked")}

    def record(
        self,
        kind: str,
        *,
        target: str | None = None,
        release: int | None = None,
        run_id: str | None = None,
        **details: Any,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                events.insert().values(
                    at=datetime.now(UTC).isoformat(),
                    kind=kind,
                    target=redact_url(target) if target else None,
                    release=release,
                    run_id=run_id,
                    details=_details(kind, details),
                )
            )

    def has(self, kind: str, **details: Any) -> bool:
        """Whether an event of `kind` was recorded with exactly these details. Compared as the stored
        text, in the database: asked for every table of every run, reading the kind's events back
        would grow with the ledger (a nightly run's foreign-key passes, for ever)."""
        if not self._exists:
            return False
        query = sa.select(events.c.id).where(
            events.c.kind == kind, events.c.details == _details(kind, details)
        )
        with self.engine.connect() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def events(self, kind: str | None = None, target: str | None = None) -> list[Event]:
        if not self._exists:
            return []
        query = sa.select(events).order_by(events.c.id)
        if kind:
            query = query.where(events.c.kind == kind)
        if target:
            query = query.where(events.c.target == redact_url(target))
        with self.engine.connect() as conn:
            return [
                Event(r.id, r.at, r.kind, r.target, r.release, r.run_id, json.loads(r.details))
                for r in conn.execute(query)
            ]

    def record_anonymized(self, record: AnonymizedRecord) -> None:
        self.record("anonymized", run_id=record.run_id, **record.details())

    def anonymized(self) -> list[AnonymizedRecord]:
        """Every anonymized checkpoint recorded, oldest first."""
        return [AnonymizedRecord.from_event(e) for e in self.events("anonymized")]

    def releases(self, target: str | None = None) -> list[Release]:
        """Every release, oldest first, with revocations applied."""
        revoked = self.revoked_policies()
        out = []
        for e in self.events(target=target):
            if e.kind not in ("published", "rolled_back") or e.release is None:
                continue
            out.append(
                Release(
                    number=e.release,
                    target=e.target or "",
                    published_at=e.at,
                    checkpoints=e.details["checkpoints"],
                    rows=e.details.get("rows", {}),
                    policy_digest=e.details.get("policy_digest", ""),
                    key_epoch=e.details.get("key_epoch", ""),
                    kind=e.kind,
                    revoked=e.details.get("policy_digest") in revoked,
                    schema=e.details.get("schema"),
                    source=e.details.get("source"),
                    policy=e.details.get("policy"),
                )
            )
        return out

    def release(self, target: str, number: int) -> Release | None:
        return next((r for r in self.releases(target) if r.number == number), None)

    def next_release_number(self, target: str) -> int:
        return max((r.number for r in self.releases(target)), default=0) + 1

    def current(self, target: str) -> Release | None:
        """What the target holds now: the last published or rolled-back release."""
        releases = self.releases(target)
        return releases[-1] if releases else None
