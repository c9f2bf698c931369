"""Retention: raw checkpoints expire (DP_RAW_RETENTION days) and are purged for good; anonymized
checkpoints are kept for the last DP_KEEP_RELEASES releases.

History keeps raw data reachable until purged, so the purge deletes files, then verifies that none
of them is readable any more, and records what it removed (ids only) in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from data_pipeline.checkpoint import Manifest
from data_pipeline.context import Context


@dataclass(frozen=True)
class PurgeReport:
    raw_removed: tuple[str, ...]
    anonymized_removed: tuple[str, ...]
    raw_kept: int
    anonymized_kept: int


def expired(manifest: Manifest, now: datetime, retention_days: float | None = None) -> bool:
    """Past the expiry written at snapshot time, or past today's (possibly shorter) retention."""
    deadlines = [datetime.fromisoformat(manifest.expires_at)] if manifest.expires_at else []
    if retention_days is not None:
        deadlines.append(datetime.fromisoformat(manifest.created_at) + timedelta(days=retention_days))
    return bool(deadlines) and min(deadlines) <= now


def kept_anonymized(ctx: Context) -> set[str]:
    """Checkpoints of the last N releases of every target, and anything newer than the newest
    release (a run in flight must not lose its checkpoints)."""
    releases = ctx.ledger.releases()
    numbers = sorted({(r.target, r.number) for r in releases})
    keep_numbers = set()
    for target in {t for t, _ in numbers}:
        mine = [n for t, n in numbers if t == target]
        keep_numbers |= {(target, n) for n in mine[-ctx.settings.keep_releases :]}
    keep = {cid for r in releases if (r.target, r.number) in keep_numbers for cid in r.checkpoints.values()}
    newest = max((r.published_at for r in releases), default="")
    keep |= {m.id for m in ctx.anonymized.all_manifests() if m.created_at > newest}
    return keep


def purge(ctx: Context, now: datetime | None = None) -> PurgeReport:
    now = now or datetime.now(UTC)
    raw_removed, anonymized_removed = [], []
    raw = ctx.vault.all_manifests()
    for manifest in raw:
        if expired(manifest, now, ctx.settings.raw_retention_days):
            paths = ctx.vault.delete(manifest)
            if any(p.exists() for p in paths):
                raise OSError(f"purge of raw checkpoint {manifest.id} did not remove its files")
            raw_removed.append(manifest.id)
    for batch_dir in ctx.settings.vault.glob("*/"):
        if not any(batch_dir.glob("*.parquet")):  # fingerprint caches go with their snapshot
            for leftover in batch_dir.iterdir():
                leftover.unlink()
            batch_dir.rmdir()
    keep = kept_anonymized(ctx)
    anonymized = ctx.anonymized.all_manifests()
    for manifest in anonymized:
        if manifest.id not in keep:
            ctx.anonymized.delete(manifest)
            anonymized_removed.append(manifest.id)
    for batch_dir in ctx.settings.checkpoints.glob("*/"):
        if not any(batch_dir.iterdir()):
            batch_dir.rmdir()
    still = [m.id for m in ctx.vault.all_manifests() if expired(m, now, ctx.settings.raw_retention_days)]
    if still:
        raise OSError(f"expired raw checkpoints still present after purge: {', '.join(still)}")
    report = PurgeReport(
        tuple(raw_removed),
        tuple(anonymized_removed),
        len(raw) - len(raw_removed),
        len(anonymized) - len(anonymized_removed),
    )
    ctx.ledger.record("purged", raw=list(report.raw_removed), anonymized=list(report.anonymized_removed))
    return report
