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
from data_pipeline.context import Context
from data_pipeline.errors import BadInput, ForwardOnlyRefused
from data_pipeline.ledger import Release
from data_pipeline.plan import Plan, Republish


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


def newest_raw_snapshot(ctx: Context, now: datetime | None = None) -> RawSnapshot | None:
    """The newest snapshot whose every table checkpoint still exists and has not expired."""
    now = now or datetime.now(UTC)
    by_batch: dict[str, list] = {}
    for manifest in ctx.vault.all_manifests():
        by_batch.setdefault(manifest.id.split("/")[0], []).append(manifest)
    for batch in sorted(by_batch, reverse=True):
        manifests = by_batch[batch]
        expiries = [datetime.fromisoformat(m.expires_at) for m in manifests if m.expires_at]
        if len(manifests) < len(ctx.schema.tables) or any(e <= now for e in expiries):
            continue
        return RawSnapshot(
            batch=batch,
            taken_at=min(m.created_at for m in manifests),
            expires_at=min(expiries).isoformat() if expiries else "never",
            tables=tuple(sorted(m.schema_table.name for m in manifests)),
        )
    return None


def roll_forward_plan(ctx: Context, reason: str) -> RollForwardPlan:
    s = ctx.settings
    command = (
        f"data-pipeline roll-forward --source '{redact_url(s.source_url)}' "
        f"--target '{redact_url(s.target_url)}' --policy {s.policy_path}"
    )
    return RollForwardPlan(reason, newest_raw_snapshot(ctx), command)


def plan_rollback(ctx: Context, to: str) -> Plan:
    """Re-publish release N's anonymized checkpoints; refused (exit 3, with a roll-forward plan)
    when that would cross a forward-only step. Reads only."""
    target = ctx.settings.target_url
    if to.strip().lower() in ("raw", "snapshot", "source"):
        raise _Refused(
            roll_forward_plan(
                ctx, "rolling back to raw data would cross the forward-only anonymization step"
            ),
            {"request": f"rollback --to {to}"},
        )
    try:
        number = int(to)
    except ValueError:
        raise BadInput(f"--to takes a release number or `raw`, not {to!r}") from None
    release = ctx.ledger.release(target, number)
    if release is None:
        known = ", ".join(str(r.number) for r in ctx.ledger.releases(target)) or "none"
        raise BadInput(f"no release {number} of {redact_url(target)} (releases: {known})")
    if release.revoked:
        raise _Refused(
            roll_forward_plan(
                ctx, f"release {number} was made with a policy revoked as leaking; it is never re-published"
            ),
            {"release": number, "request": f"rollback --to {to}"},
        )
    missing = [t for t, cid in release.checkpoints.items() if not ctx.anonymized.has(cid)]
    if missing:
        raise BadInput(
            f"release {number}'s checkpoints were purged "
            f"(DP_KEEP_RELEASES={ctx.settings.keep_releases}) "
            f"for: {', '.join(missing)}; roll forward instead: data-pipeline roll-forward"
        )
    current = ctx.ledger.current(target)
    return Plan(
        source="(release checkpoints)",
        target=redact_url(target),
        release=number,
        previous_release=current.number if current else None,
        stages=(Republish(number, tuple(release.checkpoints)),),
        changes=(),
    )


class _Refused(Exception):
    def __init__(self, plan: RollForwardPlan, request: dict) -> None:
        self.plan, self.request = plan, request


def rollback(ctx: Context, to: str) -> tuple[Plan, Release]:
    """Plan the rollback (a refusal is recorded in the ledger, exit 3), then evaluate the plan."""
    try:
        plan = plan_rollback(ctx, to)
    except _Refused as refused:
        ctx.ledger.record("refused", target=ctx.settings.target_url, **refused.request)
        raise ForwardOnlyRefused(refused.plan.render()) from None
    return plan, execute(ctx, plan)


def execute(ctx: Context, plan: Plan) -> Release:
    """Visit exactly the plan's stages: a rollback's plan holds one Republish."""
    from data_pipeline.stages.publish import republish

    release = None
    for stage in plan.stages:
        if not isinstance(stage, Republish):
            raise TypeError(f"{stage.name} runs through Dagster (assets/runner.py), not here")
        found = ctx.ledger.release(ctx.settings.target_url, stage.release)
        assert found is not None
        release = republish(ctx, found)
    assert release is not None
    return release


def revoke(ctx: Context, number: int, reason: str) -> Release:
    """Mark release N's policy as leaking: no release made with it is re-published again."""
    target = ctx.settings.target_url
    release = ctx.ledger.release(target, number)
    if release is None:
        raise BadInput(f"no release {number} of {redact_url(target)}")
    ctx.ledger.record(
        "revoked", target=target, release=number, policy_digest=release.policy_digest, reason=reason
    )
    return release
