"""The one context every stage takes: settings, and what they resolve to (databases, schema, policy,
key, checkpoint stores, ledger).

Frozen: a stage cannot swap a store or the policy under another. Each part is resolved on first use,
so commands that never read the source (purge, revoke, releases) never connect to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import sqlalchemy as sa

from data_pipeline.checkpoint import CheckpointStore
from data_pipeline.config import Settings, is_default_demo_source, redact_url
from data_pipeline.db import check_reachable, make_engine
from data_pipeline.errors import BadInput
from data_pipeline.keys import AnonKey, load_key
from data_pipeline.ledger import Ledger
from data_pipeline.policy import ResolvedPolicy, load_policy
from data_pipeline.schema import Schema, reflect
from data_pipeline.subset import SubsetSpec


def ensure_demo_source(settings: Settings) -> None:
    """The embedded default source is created on first use."""
    if is_default_demo_source(settings) and not settings.demo_source_path.exists():
        from data_pipeline.demo import build_demo_source

        settings.home.mkdir(parents=True, exist_ok=True)
        build_demo_source(settings.demo_source_path)


@dataclass(frozen=True, eq=False)
class Context:
    settings: Settings
    planned_schema: Schema | None = None  # a run's step in another process: the schema it was planned on

    @cached_property
    def source(self) -> sa.Engine:
        ensure_demo_source(self.settings)
        engine = make_engine(self.settings.source_url, role="source")
        check_reachable(engine, "source")
        return engine

    @cached_property
    def target(self) -> sa.Engine:
        engine = make_engine(self.settings.target_url, role="target")
        check_reachable(engine, "target")
        return engine

    @cached_property
    def schema(self) -> Schema:
        if self.planned_schema is not None:
            return self.planned_schema
        schema = reflect(self.source, schema=self.settings.source_schema)
        if not schema.tables:
            raise BadInput(f"source {redact_url(self.settings.source_url)} has no tables")
        return schema

    @cached_property
    def policy(self) -> ResolvedPolicy:
        return load_policy(self.settings.policy_path, self.schema)

    @cached_property
    def key(self) -> AnonKey:
        return load_key(self.settings.key_file)

    @cached_property
    def vault(self) -> CheckpointStore:
        return CheckpointStore(self.settings.vault, "snapshot")

    @cached_property
    def anonymized(self) -> CheckpointStore:
        return CheckpointStore(self.settings.checkpoints, "anonymized")

    @cached_property
    def ledger(self) -> Ledger:
        self.settings.home.mkdir(parents=True, exist_ok=True)
        ledger = Ledger(self.settings.ledger_url)
        database = ledger.engine.url.database
        if ledger.engine.dialect.name == "sqlite" and database:
            Path(database).chmod(0o600)  # the embedded ledger is private, like the vault
        return ledger

    @cached_property
    def subset(self) -> SubsetSpec | None:
        """What to copy when not everything: --subset flags over the policy's `subset:` section."""
        from data_pipeline.policy import load_policy_document

        spec = SubsetSpec.parse(
            self.settings.subset, load_policy_document(self.settings.policy_path), self.settings.subset_other
        )
        if spec is not None:
            spec.check(self.schema)
        return spec

    def target_history(self) -> list[sa.Row]:
        """The releases the target itself records, oldest first (publish.release_history); none for a
        SQLite target file that does not exist yet (reading it would create it)."""
        from data_pipeline.publish import release_history

        url = sa.engine.make_url(self.settings.target_url)
        if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
            return []
        return release_history(self.target, self.settings.target_schema)

    def next_release(self, ledger: Ledger | None = None) -> int:
        """One past the highest release the target or the ledger knows: a fresh DP_HOME, another machine
        or another database user publishing to the same target continues its numbering."""
        held = max((row.release for row in self.target_history()), default=0)
        return max((ledger or self.ledger).next_release_number(self.settings.target_url), held + 1)

    def preflight(self) -> None:
        """Everything that can be refused before a single row is copied (exit 2)."""
        _ = self.schema, self.policy, self.key, self.target, self.subset
        if self.policy.digest in self.ledger.revoked_policies():
            raise BadInput(
                f"policy {self.settings.policy_path} was revoked as leaking (digest "
                f"{self.policy.digest[:12]}); fix it before running again"
            )
