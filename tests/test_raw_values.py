"""Raw values never leave the vault through an error: a rule that cannot read its column is refused
when the policy loads, and a rule that fails on raw values anyway fails as one line naming the table,
column and rule, exit 2. The value appears nowhere: not on the console, not in Dagster's storage, not
in the ledger (only the vault holds raw values)."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from refusals import assert_nowhere, one_error_line

from data_pipeline.anonymize import RULES
from data_pipeline.config import DEFAULT_POLICY, Settings, load_settings

SENTINEL = "RAW-SENTINEL-5f3c"


def test_a_rule_that_cannot_read_its_column_is_refused_when_the_policy_loads(
    run_cli, settings: Settings, tmp_path: Path
) -> None:
    with sqlite3.connect(settings.source_url.removeprefix("sqlite:///")) as conn:
        phones = [p for (p,) in conn.execute("select phone from customers where phone is not null limit 50")]
    policy = yaml.safe_load(DEFAULT_POLICY.read_text())
    policy["tables"]["customers"]["columns"]["phone"] = {"class": "pii", "rule": "date_shift", "max_days": 3}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(policy))

    result = run_cli("run", "--policy", str(path))
    assert result.exit_code == 2, result.output
    line = one_error_line(result.output)
    assert "customers.phone: rule `date_shift` cannot read a text column" in line
    assert "rules that fit: " in line and " phone," in line and "nothing was copied" in line
    assert not list((settings.home / "vault").rglob("*.parquet"))
    assert_nowhere(phones, settings.home, result.output)


def _failing(name: str):
    """A rule that fails quoting the raw value it was given: in its message, a note and its cause."""

    def fail(values: pd.Series, ctx) -> pd.Series:
        value = values.iloc[0]
        try:
            raise KeyError(f"{value} {SENTINEL}")
        except KeyError as inner:
            exc = ValueError(f"unable to parse: {value} ({SENTINEL}, rule {name})")
            exc.add_note(f"while reading {value!r} {SENTINEL}")
            raise exc from inner

    return fail


def _column_for(rule) -> tuple[sa.types.TypeEngine, list, dict]:
    """A column type the rule reads, sentinel values of it, and the options it needs."""
    options = {"constant": {"value": "x"}, "generalize_number": {"bucket": 10}, "json": {"paths": {}}}
    needs = options.get(rule.name, {})
    if rule.fits(sa_column("string")):
        return sa.Text(), [f"{SENTINEL}-{rule.name}-{i}" for i in range(3)], needs
    if rule.fits(sa_column("datetime")):
        return sa.DateTime(), [pd.Timestamp(f"1913-07-1{i} 10:00") for i in range(3)], needs
    return sa.BigInteger(), [987_654_321_700 + i for i in range(3)], needs


def sa_column(generic: str):
    from data_pipeline.schema import Column

    return Column("v", generic.upper(), generic, True)


@pytest.fixture
def every_rule_failing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import anonymizers.custom  # noqa: F401 - the demo's project rule fails too

    names = sorted(n for n in RULES if n != "keep")  # keep is never called: the value is the output
    for name in names:
        monkeypatch.setitem(RULES, name, dataclasses.replace(RULES[name], fn=_failing(name)))
    return names


def test_every_rule_failing_on_raw_values_leaves_no_trace_outside_the_vault(
    cli, home: Path, tmp_path: Path, no_suites: Path, every_rule_failing: list[str]
) -> None:
    """One table per registered rule, so every rule fails in its own anonymize step of one run."""
    from data_pipeline.cli import app

    source = tmp_path / "source.db"
    engine = sa.create_engine(f"sqlite:///{source}")
    meta = sa.MetaData()
    tables: dict = {"version": 1, "plugins": ["anonymizers.custom"], "tables": {}}
    rows = {}
    for name in every_rule_failing:
        rule = RULES[name]
        kind, values, options = _column_for(rule)
        sa.Table(f"t_{name}", meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("v", kind))
        rows[f"t_{name}"] = [{"id": i, "v": v} for i, v in enumerate(values)]
        cls = rule.classes[0]
        tables["tables"][f"t_{name}"] = {
            "columns": {"id": {"class": "key", "rule": "keep"}, "v": {"class": cls, "rule": name, **options}}
        }
    meta.create_all(engine)
    with engine.begin() as conn:
        for table, values in rows.items():
            conn.execute(meta.tables[table].insert(), values)
    engine.dispose()
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(tables))
    settings = load_settings(home=home, source_url=f"sqlite:///{source}", policy=policy, suites=no_suites)
    args = ["--home", str(home), "--source", settings.source_url, "--policy", str(policy)]

    result = cli.invoke(app, ["run", *args], env={"DP_SUITES": str(no_suites)})
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for name in every_rule_failing:
        assert f"rule `{name}` on t_{name}.v failed: ValueError (message withheld" in result.output, name
        assert f"t_{name} " in result.output and "nothing was published" in result.output
    summary = result.output.split("summary:")[1]
    assert " ok" not in summary
    assert list((home / "vault").rglob("*.parquet")), "the snapshot was taken: raw values were in hand"
    assert_nowhere([SENTINEL, "1913-07-1", "9876543217"], home, result.output)


def test_dagster_storage_and_the_ledger_are_private(run_cli, settings: Settings) -> None:
    assert run_cli().exit_code == 0
    assert (settings.dagster_home.stat().st_mode & 0o777) == 0o700
    assert ((settings.home / "ledger.db").stat().st_mode & 0o777) == 0o600
