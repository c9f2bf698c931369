"""The CLI fails closed: bad input is one clear line, exit 2, no traceback, nothing published."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml
from support import target_tables

from data_pipeline.config import DEFAULT_POLICY, Settings


def assert_clean_refusal(result, settings: Settings, code: int, *needles: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output
    assert target_tables(settings) == []
    assert not list((settings.home / "vault").rglob("*.parquet"))


def test_unclassified_column_is_refused_before_anything_is_copied(run_cli, settings: Settings) -> None:
    with sqlite3.connect(settings.source_url.removeprefix("sqlite:///")) as conn:
        conn.execute("ALTER TABLE customers ADD COLUMN loyalty_note VARCHAR(200)")
        conn.execute("ALTER TABLE orders ADD COLUMN gift_message TEXT")
    result = run_cli()
    assert_clean_refusal(result, settings, 2, "customers.loyalty_note", "orders.gift_message")
    assert "class: unknown" in result.output  # a ready-to-paste snippet


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (
            lambda p: p["tables"]["customers"]["columns"].update(email={"class": "pii", "rule": "nope"}),
            "unknown rule `nope`",
        ),
        (
            lambda p: p["tables"]["customers"]["columns"].update(email={"class": "pii", "rule": "keep"}),
            "not allowed for class `pii`",
        ),
        (
            lambda p: p["tables"]["customers"]["columns"].update(email={"class": "unknown", "rule": "keep"}),
            "customers.email: classified `unknown`",
        ),
        (
            lambda p: p["tables"]["customers"]["columns"].update(
                email={"class": "pii", "rule": "mask", "keep": 3}
            ),
            "has no option `keep`",
        ),
    ],
)
def test_bad_policy_rules_are_refused(run_cli, settings: Settings, tmp_path: Path, change, needle) -> None:
    policy = yaml.safe_load(DEFAULT_POLICY.read_text())
    change(policy)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    result = run_cli("run", "--policy", str(path))
    assert_clean_refusal(result, settings, 2, needle)


def test_malformed_and_missing_policy_files(run_cli, settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tables:\n  customers: [unclosed\n")
    assert_clean_refusal(run_cli("run", "--policy", str(bad)), settings, 2, "not valid YAML")
    missing = tmp_path / "missing.yaml"
    assert_clean_refusal(run_cli("run", "--policy", str(missing)), settings, 2, "not found")


def test_bad_source_url_is_one_line_without_password(run_cli, settings: Settings) -> None:
    result = run_cli("run", "--source", "postgresql://bob:s3cret-pw@127.0.0.1:1/nowhere")
    assert_clean_refusal(result, settings, 2, "cannot connect to source")
    assert "s3cret-pw" not in result.output
    result = run_cli("run", "--source", "notadialect://x")
    assert_clean_refusal(result, settings, 2, "bad source URL")


@pytest.mark.parametrize(
    "variable, value",
    [
        ("DP_K_ANONYMITY", "five"),
        ("DP_K_ANONYMITY", "0"),
        ("DP_RAW_RETENTION", "nan"),
        ("DP_KEEP_RELEASES", "-1"),
        ("DP_PARTITION_ROWS", "1e6"),
        ("DP_SNAPSHOT_CONNECTIONS", "0"),
    ],
)
def test_a_numeric_setting_that_is_not_a_number_is_one_line(
    run_cli, settings: Settings, variable: str, value: str
) -> None:
    result = run_cli("run", env={variable: value})
    assert_clean_refusal(result, settings, 2, f"{variable}={value}: expected")


def test_run_without_a_key_is_refused(run_cli, settings: Settings) -> None:
    (settings.home / "anon.key").unlink()
    result = run_cli()
    assert_clean_refusal(result, settings, 2, "no anonymization key", "keygen")


def test_a_leaking_policy_fails_a_blocking_check_and_publishes_nothing(
    run_cli, settings: Settings, tmp_path: Path
) -> None:
    """Emails classified `safe` and kept: the keyed leak check finds them, nothing is published."""
    policy = yaml.safe_load(DEFAULT_POLICY.read_text())
    policy["tables"]["employees"]["columns"]["email"] = {"class": "safe", "rule": "keep"}
    path = tmp_path / "leaky.yaml"
    path.write_text(yaml.safe_dump(policy))
    result = run_cli("run", "--policy", str(path))
    assert result.exit_code == 1, result.output
    assert "no_leaked_originals" in result.output
    assert "10 original identifying value(s) found in employees.email (10)" in result.output  # never a value
    with sqlite3.connect(settings.source_url.removeprefix("sqlite:///")) as conn:
        assert not [e for (e,) in conn.execute("SELECT email FROM employees") if e in result.output]
    assert "nothing was published" in result.output
    assert target_tables(settings) == []


def test_key_never_appears_in_output_or_dagster_storage(run_cli, settings: Settings) -> None:
    secret = "very-secret-key-do-not-log-0123456789"
    result = run_cli(env={"DP_ANON_KEY": secret})
    assert result.exit_code == 0, result.output
    assert secret not in result.output
    for path in settings.home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_help_on_every_command(cli) -> None:
    from data_pipeline.cli import app

    for command in (
        "run",
        "scan",
        "demo-source",
        "gate",
        "releases",
        "keygen",
        "plan",
        "rollback",
        "revoke",
        "roll-forward",
        "purge",
        "expectations",
    ):
        result = cli.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, command


def test_scan_proposes_a_policy_that_run_accepts(run_cli, settings: Settings, tmp_path: Path) -> None:
    proposed = tmp_path / "proposed.yaml"
    result = run_cli("scan", "--out", str(proposed))
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(proposed.read_text())
    classes = {c["class"] for t in doc["tables"].values() for c in t["columns"].values()}
    assert classes <= {"pii", "quasi", "key", "safe"}
    assert doc["tables"]["customers"]["columns"]["email"]["rule"] == "email"
    ran = run_cli("run", "--policy", str(proposed))
    assert ran.exit_code == 0, ran.output
