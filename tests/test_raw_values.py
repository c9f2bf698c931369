"""A rule that cannot read its column fails as one line naming the table and column, exit 2, and the
raw value that broke it appears nowhere: not on the console, not in Dagster's storage, not in the
ledger (only the vault holds raw values)."""

from __future__ import annotations

import yaml

from data_pipeline.config import DEFAULT_POLICY, Settings


def test_a_rule_failing_on_raw_values_never_shows_them(run_cli, settings: Settings, tmp_path) -> None:
    import sqlite3

    with sqlite3.connect(settings.source_url.removeprefix("sqlite:///")) as conn:
        phones = [p for (p,) in conn.execute("select phone from customers where phone is not null limit 50")]
    policy = yaml.safe_load(DEFAULT_POLICY.read_text())
    policy["tables"]["customers"]["columns"]["phone"] = {"class": "pii", "rule": "date_shift", "max_days": 3}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(policy))

    result = run_cli("run", "--policy", str(path))
    assert result.exit_code == 2, result.output
    assert "customers" in result.output and "message withheld" in result.output
    assert "Traceback" not in result.output
    assert not any(p in result.output for p in phones)
    for file in settings.home.rglob("*"):
        if file.is_file() and "vault" not in file.parts:
            data = file.read_bytes()
            leaked = [p for p in phones if p.encode() in data]
            assert not leaked, f"{file} holds raw phone numbers"


def test_dagster_storage_and_the_ledger_are_private(run_cli, settings: Settings) -> None:
    assert run_cli().exit_code == 0
    assert (settings.dagster_home.stat().st_mode & 0o777) == 0o700
    assert ((settings.home / "ledger.db").stat().st_mode & 0o777) == 0o600
