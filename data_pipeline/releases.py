"""Rollback, revocation and roll-forward: time never runs backwards across anonymization.

Re-publishing an earlier *anonymized* release is a reversible step and allowed. Anything that would
cross the forward-only step — restoring raw data, or re-publishing a release whose policy was
revoked as leaking — is refused (exit 3) with a roll-forward plan: the newest raw checkpoint still
within retention, when that window closes, and the command that re-runs from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from data_pipeline.config import DEFAULT_POLICY, redact_url
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
    source: str | None = None  # where it was read from (URL without password)


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
    """The newest snapshot whose every table checkpoint (as many as its `snapshot_taken` event lists)
    still exists and has not expired. Reads the vault and the ledger only, never the source."""
    now = now or datetime.now(UTC)
    taken = {
        next(iter(e.details["checkpoints"].values())).split("/")[0]: len(e.details["checkpoints"])
        for e in ctx.ledger.events("snapshot_taken")
        if e.details.get("checkpoints")
    }
    by_batch: dict[str, list] = {}
    for manifest in ctx.vault.all_manifests():
        by_batch.setdefault(manifest.id.split("/")[0], []).append(manifest)
    for batch in sorted(by_batch, reverse=True):
        manifests = by_batch[batch]
        expiries = [datetime.fromisoformat(m.expires_at) for m in manifests if m.expires_at]
        if batch not in taken or len(manifests) < taken[batch] or any(e <= now for e in expiries):
            continue  # interrupted, partly purged or expired
        return RawSnapshot(
            batch=batch,
            taken_at=min(m.created_at for m in manifests),
            expires_at=min(expiries).isoformat() if expiries else "never",
            tables=tuple(sorted(m.schema_table.name for m in manifests)),
            source=next((m.source for m in manifests if m.source), None),
        )
    return None


def roll_forward_plan(ctx: Context, reason: str, release: Release | None = None) -> RollForwardPlan:
    """The command names what the release was made from (recorded in the ledger at publish, or the
    snapshot's own source), never a default the user did not choose."""
    s = ctx.settings
    made = release or ctx.ledger.current(s.target_url)
    snapshot = newest_raw_snapshot(ctx)
    source = (made and made.source) or (snapshot and snapshot.source)
    policy = (made and made.policy) or (str(s.policy_path) if s.policy_path != DEFAULT_POLICY else None)
    command = (
        f"data-pipeline roll-forward --source '{source or 'SOURCE_URL'}' "
        f"--target '{redact_url(s.target_url)}' --policy {policy or 'POLICY_FILE'}"
    )
    return RollForwardPlan(reason, snapshot, command)


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
        if any(row.release == number for row in ctx.target_history()):
            raise BadInput(
                f"release {number} of {redact_url(target)} is not in this DP_HOME's ledger (published from "
                "another DP_HOME, machine or database user): its checkpoints are not here; roll back from "
                "there, or roll forward: data-pipeline run"
            )
        known = ", ".join(str(r.number) for r in ctx.ledger.releases(target)) or "none"
        raise BadInput(f"no release {number} of {redact_url(target)} (releases: {known})")
    if release.revoked:
        raise _Refused(
            roll_forward_plan(
                ctx,
                f"release {number} was made with a policy revoked as leaking; it is never re-published",
                release,
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


# A release the target records that this ledger never saw: published from another DP_HOME, machine
# or database user, or from here by a run whose record failed (a full disk).
UNRECORDED = "unrecorded"


def history(ctx: Context) -> list[Release]:
    """The target's releases, oldest first: the ledger's, and those the target's own marker records
    that this ledger never saw (UNRECORDED)."""
    ledger = ctx.ledger.releases(ctx.settings.target_url)
    unmatched = list(ledger)
    out = list(ledger)
    for row in ctx.target_history():
        same = (row.release, row.policy_digest)
        mine = next((r for r in unmatched if (r.number, r.policy_digest) == same), None)
        if mine is not None:
            unmatched.remove(mine)
            continue
        tables = [t for t in (row.tables or "").split(",") if t]
        out.append(
            Release(
                number=row.release,
                target=redact_url(ctx.settings.target_url),
                published_at=row.published_at,
                checkpoints=dict.fromkeys(tables, ""),
                rows={},
                policy_digest=row.policy_digest,
                key_epoch="",
                kind=UNRECORDED,
            )
        )
    return sorted(out, key=lambda r: r.published_at)


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
