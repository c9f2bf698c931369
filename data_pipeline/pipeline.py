"""The stages of a run, as plain functions the Dagster assets and the CLI share.

Each stage reads verified checkpoints and writes sealed ones, so a stage can be re-run (or resumed)
on its own. Stage functions never log values: outcomes carry counts only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data_pipeline import __version__, checks, hashset
from data_pipeline.anonymize.engine import TableAnonymizer
from data_pipeline.anonymize.pools import Pools
from data_pipeline.checkpoint import (
    ANONYMIZE_ROWS,
    CheckpointRef,
    CheckpointStore,
    Manifest,
    new_batch,
    release_memory,
)
from data_pipeline.config import Settings, is_default_demo_source, redact_url
from data_pipeline.db import check_reachable, make_engine
from data_pipeline.errors import BadInput, ChecksFailed
from data_pipeline.keys import AnonKey, load_key
from data_pipeline.ledger import Ledger, Release
from data_pipeline.partitions import PART_CHECKS, Part
from data_pipeline.plan import Plan, build_plan
from data_pipeline.policy import ResolvedPolicy, load_policy
from data_pipeline.publish import publish
from data_pipeline.schema import Schema, Table, reflect
from data_pipeline.snapshot import take_snapshot

Progress = Callable[[str, int], None]
T = TypeVar("T")


@dataclass(frozen=True)
class TableResult:
    ref: CheckpointRef
    outcomes: tuple[checks.CheckOutcome, ...]
    suite: object | None = None  # expectations.SuiteResult when the table has a suite
    same_as_original: dict[str, float] = field(default_factory=dict)
    reused_from: str | None = None  # the run that anonymized a part taken as it is

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes) and (self.suite is None or not self.suite.failed_critical)


class _Sample:
    """The first rows of a table's output, kept for its GE suite (GE validates in memory)."""

    def __init__(self, table: str, limit: int) -> None:
        self.table, self.limit, self.rows = table, limit, 0
        self.frames: list[pd.DataFrame] = []

    def keep(self, frame: pd.DataFrame) -> None:
        if self.rows < self.limit:
            self.frames.append(frame.head(self.limit - self.rows))
            self.rows += len(self.frames[-1])

    def validate(self, pipeline: Pipeline):  # noqa: ANN201 - lazy GE types
        """The suite's result on the sample; None without a suite or rows."""
        if not self.frames:
            return None
        return pipeline.run_suite(self.table, pd.concat(self.frames, ignore_index=True))


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """`items`, each produced in a thread while the previous one is used: Parquet decoding runs
    without the GIL, so reading the next batch overlaps anonymizing and checking this one. One item
    at most is read ahead, so memory stays bounded."""
    end = object()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        pending = pool.submit(next, items, end)
        while (item := pending.result()) is not end:
            pending = pool.submit(next, items, end)
            yield item


def _passed(anonymized: dict) -> bool:
    """Whether an `anonymized` ledger record's blocking checks (and suite, if any) passed."""
    return all(anonymized["checks"].values()) and anonymized.get("suite_passed") is not False


def ensure_demo_source(settings: Settings) -> None:
    """The embedded default source is created on first use."""
    if is_default_demo_source(settings) and not settings.demo_source_path.exists():
        from data_pipeline.demo import build_demo_source

        settings.home.mkdir(parents=True, exist_ok=True)
        build_demo_source(settings.demo_source_path)


class Pipeline:
    """One configured pipeline: source, policy, key, stores and ledger, resolved lazily."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

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
        return Ledger(self.settings.ledger_url)

    def preflight(self) -> None:
        """Everything that can be refused before a single row is copied (exit 2)."""
        _ = self.schema, self.policy, self.key, self.target
        if self.policy.digest in self.ledger.revoked_policies():
            raise BadInput(
                f"policy {self.settings.policy_path} was revoked as leaking (digest "
                f"{self.policy.digest[:12]}); fix it before running again"
            )

    def plan(self) -> Plan:
        """The next run's stages and schema changes, computed with no side effects."""
        ledger = Ledger(self.settings.ledger_url, create=False)
        current = ledger.current(self.settings.target_url)
        previous = None
        if current is not None and current.schema:
            previous = (current.number, Schema.from_dict(current.schema))
        return build_plan(
            self.settings.source_url,
            self.settings.target_url,
            self.schema,
            previous,
            ledger.next_release_number(self.settings.target_url),
        )

    # -- stages ---------------------------------------------------------------------------------

    def snapshot(
        self, run_id: str | None = None, progress: Progress | None = None
    ) -> dict[str, CheckpointRef]:
        self.preflight()
        refs = take_snapshot(
            self.source,
            self.schema,
            self.vault,
            retention=timedelta(days=self.settings.raw_retention_days),
            run_id=run_id,
            progress=progress,
        )
        self.ledger.record(
            "snapshot_taken",
            run_id=run_id,
            source=redact_url(self.settings.source_url),
            checkpoints={t: r.id for t, r in refs.items()},
            rows={t: r.rows for t, r in refs.items()},
        )
        return refs

    def source_fingerprints(self, snapshot: CheckpointRef) -> Iterator[np.ndarray]:
        """Keyed fingerprints of every identifying original in the snapshot batch, as sorted runs
        loaded one at a time. Computed once per batch, policy and key, and kept in the vault beside
        the snapshot (0600 files, purged with it); only the columns that hold them are read."""
        batch_dir = Path(snapshot.path).parent
        done = batch_dir / f"_fingerprints-v3-{self.key.epoch}-{self.policy.digest[:12]}.done"
        if not done.exists():  # parts running at once each write their own set; the last one named wins
            stem = f"{done.stem}.{uuid.uuid4().hex[:8]}"
            for number, run in enumerate(hashset.sorted_runs(self._source_prints(batch_dir))):
                path = batch_dir / f"{stem}.{number:04d}.npy"
                np.save(path, run)
                path.chmod(0o600)
            tmp = batch_dir / f"{stem}.name"
            tmp.write_text(stem)
            tmp.chmod(0o600)
            tmp.replace(done)
        for path in sorted(batch_dir.glob(f"{done.read_text()}.*.npy")):
            yield np.load(path)

    def _source_prints(self, batch_dir: Path) -> Iterator[np.ndarray]:
        for manifest_path in sorted(batch_dir.glob("*.json")):
            table = manifest_path.stem
            if table not in self.policy.columns:
                continue
            policy, spec = self.policy.for_table(table), self.schema.table(table)
            columns = sorted(set().union(*checks.columns_to_protect(spec, policy)))
            if not columns:
                continue
            for frame in self.vault.batches(f"{batch_dir.name}/{table}", columns=columns):
                for values in checks.source_values_to_protect(frame, spec, policy):
                    yield checks.fingerprints(values, self.key)

    def anonymize(
        self,
        snapshot: CheckpointRef,
        run_id: str | None = None,
        batch: str | None = None,
        part: Part | None = None,
    ) -> TableResult:
        """Forward-only: raw checkpoint -> anonymized checkpoint, then the table's blocking checks.

        With `part`, only that slice of the snapshot and only the checks a slice can decide
        (PART_CHECKS); `combine_parts` runs the table-wide ones over all parts."""
        table = self.schema.table(snapshot.table)
        start, stop = (0, snapshot.rows) if part is None else part.bounds(snapshot.rows)
        part_extra = {} if part is None else part.manifest_extra(snapshot.rows)
        done = None if part is None else self.finished_part(snapshot, part)
        if done is not None:
            return done
        policy = self.policy.for_table(table.name)
        anonymizer = TableAnonymizer(table, policy, self.key, Pools(self.policy.locale))
        audit = checks.TableAudit(
            table,
            policy,
            self.policy.quasi_columns(table.name),
            lambda: self.source_fingerprints(snapshot),
            self.key,
            self.settings.k_anonymity,
        )
        sample = self._sample(table.name, wanted=part is None)

        def anonymized_batches():
            for raw in read_ahead(
                self.vault.batches(snapshot, rows=ANONYMIZE_ROWS)
                if part is None
                else self.vault.batches_between(snapshot, start, stop, rows=ANONYMIZE_ROWS)
            ):
                out = anonymizer(raw)
                audit.add(raw, out)
                sample.keep(out)
                yield out

        ref = self.anonymized.write(
            table,
            anonymized_batches(),
            batch=batch or new_batch("anonymized"),
            parents=(snapshot.id,),
            policy_digest=self.policy.digest,
            key_epoch=self.key.epoch,
            run_id=run_id,
            extra=part_extra,
        )
        outcomes = audit.outcomes(stop - start)
        if part is not None:
            outcomes = [o for o in outcomes if o.name in PART_CHECKS]
        same = audit.same_as_original
        audit = None  # its hash sets go before GE's sample is validated
        release_memory()
        result = TableResult(ref, tuple(outcomes), sample.validate(self), same)
        self._record_checked(
            table.name, result, snapshot.id, run_id, **({} if part is None else {"part": part.key})
        )
        return result

    def finished_part(self, snapshot: CheckpointRef, part: Part) -> TableResult | None:
        """A part already anonymized from this very snapshot, by this version with this policy and
        key, that passed its checks: a resumed or re-executed run over every part takes it as it is
        instead of anonymizing it again (the output would be the same: the mapping is keyed and
        deterministic), so parts resume one by one. The newest attempt at the part decides."""
        for event in reversed(self.ledger.events("anonymized")):
            d = event.details
            if (d.get("table"), d.get("part"), d.get("parent")) != (snapshot.table, part.key, snapshot.id):
                continue
            if d.get("engine") != __version__ or not _passed(d) or not self.anonymized.has(d["checkpoint"]):
                return None
            try:
                ref, manifest = self.anonymized.ref(d["checkpoint"])
            except BadInput:  # corrupt since: anonymized again
                return None
            same_part = manifest.extra == part.manifest_extra(snapshot.rows)
            if not (same_part and self.is_current(manifest, snapshot.id)):
                return None
            reused = f"passed when run {event.run_id} anonymized this part (checkpoint reused)"
            outcomes = tuple(checks.CheckOutcome(name, True, reused) for name in d["checks"])
            return TableResult(ref, outcomes, reused_from=event.run_id)
        return None

    def is_current(self, manifest: Manifest, snapshot_id: str) -> bool:
        """Whether an anonymized checkpoint was cut from this snapshot with the current policy and key."""
        return (
            manifest.parents == (snapshot_id,)
            and manifest.policy_digest == self.policy.digest
            and manifest.key_epoch == self.key.epoch
        )

    def combine_parts(
        self, snapshot: CheckpointRef, parts: list[CheckpointRef], run_id: str | None = None
    ) -> TableResult:
        """The parts of one table, verified and joined in order into ONE anonymized checkpoint (what
        publish, rollback and the FK checks read), with the checks only the whole table can decide.

        Refused unless every part exists, passed its own checks, was cut from this very snapshot
        with this policy and key, and the parts cover the snapshot's rows exactly, in order."""
        table = self.schema.table(snapshot.table)
        failed = self.unchecked_or_failed({Part(i, len(parts)).key: r for i, r in enumerate(parts)})
        if failed:
            raise ChecksFailed(f"{table.name}: part(s) {', '.join(failed)} failed their checks")
        position = 0
        for index, ref in enumerate(parts):
            m = self.anonymized.manifest(ref)  # verifies sha256
            expected = Part(index, len(parts))
            if (
                not self.is_current(m, snapshot.id)
                or (m.extra.get("part"), m.extra.get("parts")) != (expected.key, expected.count)
                or (m.extra.get("start"), m.extra.get("stop")) != (position, position + m.rows)
            ):
                raise BadInput(
                    f"{table.name}: part {expected.key} ({ref.id}) is not part {index + 1} of "
                    f"{len(parts)} of snapshot {snapshot.id} with the current policy and key; "
                    "re-materialize it"
                )
            position += m.rows
        # the table-wide properties only: each part's leak and classification checks passed above
        audit = checks.TableAudit(
            table,
            self.policy.for_table(table.name),
            self.policy.quasi_columns(table.name),
            list,  # no originals here: each part was leak-checked against them
            self.key,
            self.settings.k_anonymity,
        )
        sample = self._sample(table.name)

        def joined():
            for ref in parts:
                for out in read_ahead(self.anonymized.batches(ref)):
                    audit.add(None, out)
                    sample.keep(out)
                    yield out

        ref = self.anonymized.write(
            table,
            joined(),
            batch=new_batch("anonymized"),
            parents=tuple(r.id for r in parts),
            policy_digest=self.policy.digest,
            key_epoch=self.key.epoch,
            run_id=run_id,
            extra={"snapshot": snapshot.id},
        )
        wide = {o.name: o for o in audit.outcomes(snapshot.rows)}
        outcomes = [
            wide["row_count_kept"],
            checks.CheckOutcome("parts_passed", True, f"{len(parts)} parts passed {', '.join(PART_CHECKS)}"),
            wide["unique_columns"],
            wide["k_anonymity"],
        ]
        result = TableResult(ref, tuple(outcomes), sample.validate(self))
        self._record_checked(table.name, result, snapshot.id, run_id, parts=[r.id for r in parts])
        return result

    def _sample(self, table: str, wanted: bool = True) -> _Sample:
        """Where the first rows of `table`'s output go for its GE suite (none without a suite)."""
        has_suite = (self.settings.suites_dir / f"{table}.json").exists()
        return _Sample(table, self.settings.ge_max_rows if wanted and has_suite else 0)

    def _record_checked(
        self, table: str, result: TableResult, snapshot_id: str, run_id: str | None, **where: object
    ) -> None:
        """The ledger's two events for an anonymized checkpoint: its checks, and the step itself
        (forward-only; `where`: which part, or which parts were combined)."""
        outcomes, suite = result.outcomes, result.suite
        self.ledger.record(
            "checks",
            run_id=run_id,
            table=table,
            checkpoint=result.ref.id,
            **where,
            passed=result.passed,
            outcomes={o.name: o.metadata for o in outcomes},
            suite=None if suite is None else {"passed": suite.passed_count, "failed": suite.failed_count},
        )
        self.ledger.record(
            "anonymized",
            run_id=run_id,
            table=table,
            checkpoint=result.ref.id,
            **where,
            parent=snapshot_id,
            rows=result.ref.rows,
            policy_digest=self.policy.digest,
            key_epoch=self.key.epoch,
            engine=__version__,
            checks={o.name: o.passed for o in outcomes},
            suite_passed=None if suite is None else not suite.failed_critical,
        )

    def run_suite(self, table: str, frame: pd.DataFrame):  # noqa: ANN201 - lazy GE types
        path = self.settings.suites_dir / f"{table}.json"
        if not path.exists():
            return None
        from data_pipeline.expectations import load_suite, validate_frame

        suite = load_suite(path)
        if "query" in suite:
            return None  # cross-table suites run in the gate, against the published target
        return validate_frame(frame, suite, docs_dir=self.settings.docs_dir)

    def check_foreign_keys(self, table: str, refs: dict[str, CheckpointRef]) -> checks.CheckOutcome:
        """Reads only key columns (Parquet projection), so big tables stay cheap."""
        spec = self.schema.table(table)
        wanted: dict[str, set[str]] = {table: {c for fk in spec.foreign_keys for c in fk.columns}}
        for fk in spec.foreign_keys:
            wanted.setdefault(fk.ref_table, set()).update(fk.ref_columns)
        frames = {t: self.anonymized.read(refs[t], columns=sorted(cols)) for t, cols in wanted.items()}
        return checks.foreign_keys_resolve(frames[table], spec, frames)

    def unchecked_or_failed(self, refs: dict[str, CheckpointRef]) -> list[str]:
        """Tables whose anonymized checkpoint has no passing record of its blocking checks."""
        verdicts = {e.details.get("checkpoint"): e.details for e in self.ledger.events("anonymized")}
        return [
            table for table, ref in refs.items() if ref.id not in verdicts or not _passed(verdicts[ref.id])
        ]

    def publish(
        self, refs: dict[str, CheckpointRef], run_id: str | None = None, progress: Progress | None = None
    ) -> Release:
        """Verify the whole release (fail closed), then write it to the target atomically."""
        missing = [t for t in self.schema.names if t not in refs]
        if missing:
            raise BadInput(f"no anonymized checkpoint for table(s): {', '.join(missing)}")
        problems = [
            f"{t}: {o.description}"
            for t in self.schema.names
            if not (o := self.check_foreign_keys(t, refs)).passed
        ]
        if problems:
            raise ChecksFailed("release refused, nothing published: " + "; ".join(problems))
        return self._publish(
            refs, self.schema, self.policy.digest, self.key.epoch, run_id, progress, "published"
        )

    def _publish(
        self,
        refs: dict[str, CheckpointRef | str],
        schema: Schema,
        policy_digest: str,
        key_epoch: str,
        run_id: str | None,
        progress: Progress | None,
        kind: str,
        number: int | None = None,
    ) -> Release:
        target_url = self.settings.target_url
        number = number or self.ledger.next_release_number(target_url)
        manifests = {t: self.anonymized.manifest(r) for t, r in refs.items()}  # verifies sha256
        self.ledger.record("publish_started", target=target_url, release=number, run_id=run_id)

        def data(table: Table):
            return self.anonymized.arrow_batches(manifests[table.name].id)

        rows = publish(
            self.target,
            schema,
            data,
            release=number,
            policy_digest=policy_digest,
            target_schema=self.settings.target_schema,
            progress=progress,
        )
        self.ledger.record(
            kind,
            target=target_url,
            release=number,
            run_id=run_id,
            checkpoints={t: m.id for t, m in manifests.items()},
            rows=rows,
            policy_digest=policy_digest,
            key_epoch=key_epoch,
            schema=schema.to_dict(),
        )
        release = self.ledger.current(target_url)
        assert release is not None
        return release
