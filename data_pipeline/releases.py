"""Rollback, revocation and roll-forward: time never runs backwards across anonymization.

Re-publishing an earlier *anonymized* release is a reversible step and allowed. Anything that would
cross the forward-only step — restoring raw data, or re-publishing a release whose policy was
revoked as leaking — is refused (exit 3) with a roll-forward plan: the newest raw checkpoint still
within retention, when that window closes, and the command that re-runs from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from data_pipeline.config import redact_url
from data_pipeline.errors import BadInput, ForwardOnlyRefused
from data_pipeline.ledger import Release
from data_pipeline.pipeline import Pipeline
from data_pipeline.schema import Schema


@dataclass(frozen=True)
class RawSnapshot:
    batch: str
    taken_at: str
    expires_at: str
    tables: tuple[str, ...]


@dataclass(frozen=True)
class RollForwardPlan:
    reason: str
    snapshot: RawSnapshot | None
    command: str

    def render(self) -> str:
        lines = [f"refused: {self.reason}", "roll-forward plan:"]
        if self.snapshot:
            lines += [
                f"  1. re-anonymize raw snapshot {self.snapshot.batch} (taken {self.snapshot.taken_at[:19]}, "
                f"{len(self.snapshot.tables)} tables) with the CURRENT policy",
                f"     it stays within retention until {self.snapshot.expires_at[:19]} UTC; after that, "
                "only a fresh snapshot can roll forward",
                "  2. run every blocking check, then publish it as a NEW release",
                f"  run: {self.command}",
            ]
        else:
            lines += [
                "  no raw checkpoint is within retention: take a fresh snapshot of the source",
                f"  run: {self.command.replace('roll-forward', 'run')}",
            ]
        return "\n".join(lines)


def newest_raw_snapshot(pipeline: Pipeline, now: datetime | None = None) -> RawSnapshot | None:
    """The newest snapshot whose every table checkpoint still exists and has not expired."""
    now = now or datetime.now(UTC)
    by_batch: dict[str, list] = {}
    for manifest in pipeline.vault.all_manifests():
        by_batch.setdefault(manifest.id.split("/")[0], []).append(manifest)
    for batch in sorted(by_batch, reverse=True):
        manifests = by_batch[batch]
        expiries = [datetime.fromisoformat(m.expires_at) for m in manifests if m.expires_at]
        if len(manifests) < len(pipeline.schema.tables) or any(e <= now for e in expiries):
            continue
        return RawSnapshot(
            batch=batch,
            taken_at=min(m.created_at for m in manifests),
            expires_at=min(expiries).isoformat() if expiries else "never",
            tables=tuple(sorted(m.schema_table.name for m in manifests)),
        )
    return None


def roll_forward_plan(pipeline: Pipeline, reason: str) -> RollForwardPlan:
    s = pipeline.settings
    command = (
        f"data-pipeline roll-forward --source '{redact_url(s.source_url)}' "
        f"--target '{redact_url(s.target_url)}' --policy {s.policy_path}"
    )
    return RollForwardPlan(reason, newest_raw_snapshot(pipeline), command)


def rollback(pipeline: Pipeline, to: str) -> Release:
    """Re-publish release N's anonymized checkpoints atomically; refuse to cross forward-only steps."""
    target = pipeline.settings.target_url
    if to.strip().lower() in ("raw", "snapshot", "source"):
        plan = roll_forward_plan(
            pipeline, "rolling back to raw data would cross the forward-only anonymization step"
        )
        pipeline.ledger.record("refused", target=target, request=f"rollback --to {to}")
        raise ForwardOnlyRefused(plan.render())
    try:
        number = int(to)
    except ValueError:
        raise BadInput(f"--to takes a release number or `raw`, not {to!r}") from None
    release = pipeline.ledger.release(target, number)
    if release is None:
        known = ", ".join(str(r.number) for r in pipeline.ledger.releases(target)) or "none"
        raise BadInput(f"no release {number} of {redact_url(target)} (releases: {known})")
    if release.revoked:
        plan = roll_forward_plan(
            pipeline, f"release {number} was made with a policy revoked as leaking; it is never re-published"
        )
        pipeline.ledger.record("refused", target=target, release=number, request=f"rollback --to {to}")
        raise ForwardOnlyRefused(plan.render())
    missing = [t for t, cid in release.checkpoints.items() if not pipeline.anonymized.has(cid)]
    if missing:
        raise BadInput(
            f"release {number}'s checkpoints were purged "
            f"(DP_KEEP_RELEASES={pipeline.settings.keep_releases}) "
            f"for: {', '.join(missing)}; roll forward instead: data-pipeline roll-forward"
        )
    schema = Schema.from_dict(release.schema) if release.schema else pipeline.schema
    return pipeline._publish(
        release.checkpoints,
        schema,
        release.policy_digest,
        release.key_epoch,
        run_id=None,
        progress=None,
        kind="rolled_back",
        number=number,
    )


def revoke(pipeline: Pipeline, number: int, reason: str) -> Release:
    """Mark release N's policy as leaking: no release made with it is re-published again."""
    target = pipeline.settings.target_url
    release = pipeline.ledger.release(target, number)
    if release is None:
        raise BadInput(f"no release {number} of {redact_url(target)}")
    pipeline.ledger.record(
        "revoked", target=target, release=number, policy_digest=release.policy_digest, reason=reason
    )
    return release
