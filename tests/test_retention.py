"""Raw checkpoints expire and are purged for good; anonymized ones are kept for the last N releases."""

from __future__ import annotations

from data_pipeline.config import Settings
from data_pipeline.ledger import Ledger


def test_purge_removes_expired_raw_checkpoints_and_verifies(run_cli, settings: Settings) -> None:
    assert run_cli().exit_code == 0
    vault = settings.home / "vault"
    assert list(vault.rglob("*.parquet"))
    kept = run_cli("purge")
    assert kept.exit_code == 0 and "purged 0 raw" in kept.output  # within the 7-day retention

    purged = run_cli("purge", env={"DP_RAW_RETENTION": "0"})
    assert purged.exit_code == 0, purged.output
    assert "purged 7 raw" in purged.output
    assert not list(vault.rglob("*.parquet")) and not list(vault.rglob("*.npy"))
    event = Ledger(settings.ledger_url).events("purged")[-1]
    assert len(event.details["raw"]) == 7

    refused = run_cli("rollback", "--to", "raw")
    assert refused.exit_code == 3
    assert "no raw checkpoint is within retention" in refused.output
    assert run_cli("roll-forward").exit_code == 2


def test_anonymized_checkpoints_are_kept_for_the_last_n_releases(run_cli, settings: Settings) -> None:
    for _ in range(3):
        assert run_cli().exit_code == 0
    result = run_cli("purge", env={"DP_KEEP_RELEASES": "1"})
    assert result.exit_code == 0 and "14 anonymized" in result.output, result.output
    assert run_cli("rollback", "--to", "3").exit_code == 0
    gone = run_cli("rollback", "--to", "1")
    assert gone.exit_code == 2 and "purged" in gone.output
