"""Rollback re-publishes an anonymized release exactly; nothing rolls back across anonymization."""

from __future__ import annotations

import sqlite3

from support import dump_target

from data_pipeline.config import Settings
from data_pipeline.ledger import Ledger


def test_rollback_to_release_n_gives_exactly_n(run_cli, settings: Settings) -> None:
    assert run_cli(env={"DP_ANON_KEY": "key-one-0123456789abcdef"}).exit_code == 0
    release_1 = dump_target(settings)
    with sqlite3.connect(settings.source_url.removeprefix("sqlite:///")) as conn:
        conn.execute("DELETE FROM support_tickets WHERE id % 2 = 0")
        conn.execute("UPDATE products SET price = price + 1")
    assert run_cli(env={"DP_ANON_KEY": "key-one-0123456789abcdef"}).exit_code == 0
    assert dump_target(settings) != release_1

    result = run_cli("rollback", "--to", "1")
    assert result.exit_code == 0, result.output
    assert "holds release 1 again" in result.output
    assert dump_target(settings) == release_1
    ledger = Ledger(settings.ledger_url)
    assert ledger.current(settings.target_url).number == 1
    assert [e.kind for e in ledger.events(target=settings.target_url)][-1] == "rolled_back"


def test_rollback_to_raw_is_refused_with_a_roll_forward_plan(run_cli, settings: Settings) -> None:
    assert run_cli().exit_code == 0
    before = dump_target(settings)
    result = run_cli("rollback", "--to", "raw")
    assert result.exit_code == 3, result.output
    assert "forward-only" in result.output
    assert "roll-forward plan" in result.output
    assert "stays within retention until" in result.output
    assert "data-pipeline roll-forward" in result.output
    assert dump_target(settings) == before


def test_a_revoked_policy_is_never_republished_and_roll_forward_fixes_it(
    run_cli, settings: Settings, tmp_path
) -> None:
    import yaml

    from data_pipeline.config import DEFAULT_POLICY

    assert run_cli().exit_code == 0
    assert run_cli().exit_code == 0
    assert run_cli("revoke", "1", "--reason", "street names leak").exit_code == 0
    refused = run_cli("rollback", "--to", "1")
    assert refused.exit_code == 3 and "revoked as leaking" in refused.output
    again = run_cli()  # the same (revoked) policy may not run again either
    assert again.exit_code == 2 and "revoked" in again.output

    fixed = yaml.safe_load(DEFAULT_POLICY.read_text())
    fixed["tables"]["customers"]["columns"]["street"] = {"class": "pii", "rule": "null"}
    path = tmp_path / "fixed.yaml"
    path.write_text(yaml.safe_dump(fixed))
    snapshots_before = len(Ledger(settings.ledger_url).events("snapshot_taken"))
    result = run_cli("roll-forward", "--policy", str(path))
    assert result.exit_code == 0, result.output
    assert "release 3 published" in result.output
    assert len(Ledger(settings.ledger_url).events("snapshot_taken")) == snapshots_before  # no re-extract
    with sqlite3.connect(settings.target_url.removeprefix("sqlite:///")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM customers WHERE street IS NOT NULL").fetchone()[0] == 0


def test_rollback_to_an_unknown_release_is_bad_input(run_cli, settings: Settings) -> None:
    assert run_cli().exit_code == 0
    result = run_cli("rollback", "--to", "9")
    assert result.exit_code == 2 and "no release 9" in result.output


def test_resume_reuses_valid_checkpoints_without_re_extracting(run_cli, settings: Settings) -> None:
    assert run_cli().exit_code == 0
    ledger = Ledger(settings.ledger_url)
    snapshots, anonymized = len(ledger.events("snapshot_taken")), len(ledger.events("anonymized"))
    result = run_cli("run", "--resume")
    assert result.exit_code == 0, result.output
    assert "release 2 published" in result.output
    assert len(ledger.events("snapshot_taken")) == snapshots
    assert len(ledger.events("anonymized")) == anonymized  # same policy and key: nothing redone
