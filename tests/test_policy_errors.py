"""Policy mistakes a new user makes are one line each, exit 2, naming the table.column and what to
write instead; nothing is copied. `rule: null` unquoted is the `null` rule, and text rules work at
JSON paths."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from refusals import assert_nowhere, one_error_line

from data_pipeline.config import DEFAULT_POLICY, Settings


def demo_policy() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_POLICY.read_text())


def customers(policy: dict[str, Any]) -> dict[str, Any]:
    return policy["tables"]["customers"]["columns"]


def misspelt_key(policy: dict[str, Any]) -> None:
    customers(policy)["email"] = {"clas": "pii", "rule": "email"}


def no_rule(policy: dict[str, Any]) -> None:
    customers(policy)["email"] = {"class": "pii"}


def misspelt_table(policy: dict[str, Any]) -> None:
    policy["tables"]["custmers"] = policy["tables"].pop("customers")


def misspelt_column(policy: dict[str, Any]) -> None:
    customers(policy)["emial"] = customers(policy).pop("email")


def misspelt_option(policy: dict[str, Any]) -> None:
    customers(policy)["email"] = {"class": "pii", "rule": "email", "keep_domains": True}


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (misspelt_key, "customers.email: unknown key `clas:`; did you mean `class:`?"),
        (no_rule, "customers.email: no `rule:`; add one that fits pii data in a text column: card_number, "),
        (misspelt_table, "table `custmers` is not in the source; did you mean `customers`?"),
        (misspelt_column, "customers.emial: the source has no such column; did you mean `email`?"),
        (misspelt_option, "customers.email: rule `email` has no option `keep_domains`; did you mean `keep_"),
    ],
)
def test_a_policy_mistake_is_one_line_with_what_to_write(
    run_cli, settings: Settings, tmp_path: Path, change, line: str
) -> None:
    policy = demo_policy()
    change(policy)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    result = run_cli("run", "--policy", str(path))
    assert result.exit_code == 2, result.output
    error = one_error_line(result.output)
    assert line in error and "nothing was copied" in error
    assert not (settings.home / "vault").exists() or not list((settings.home / "vault").rglob("*.parquet"))


PROFILES = [
    {"name": "Ann Okonkwo", "note": "call 020 7946 0000 or mail ann.okonkwo@mail.example", "tier": 3},
    {"name": "Bob Marsh", "contact": json.dumps({"email": "bob@mail.example", "phone": "+44 20 7946 0001"})},
]


def test_rule_null_unquoted_and_text_rules_at_json_paths(run_cli, settings: Settings, tmp_path: Path) -> None:
    source = settings.source_url.removeprefix("sqlite:///")
    with sqlite3.connect(source) as conn:
        conn.execute("ALTER TABLE customers ADD COLUMN profile TEXT")
        rows = [(json.dumps(p), i + 1) for i, p in enumerate(PROFILES)]
        conn.executemany("UPDATE customers SET profile = ? WHERE id = ?", rows)
    text = DEFAULT_POLICY.read_text().replace(
        "      phone:       {class: pii,   rule: phone}\n",
        "      phone:       {class: pii,   rule: null}\n"
        "      profile:\n"
        "        class: pii\n"
        "        rule: json\n"
        "        paths:\n"
        "          name: full_name\n"
        "          note: {rule: free_text, names: false}\n"
        "          contact: {rule: json, paths: {email: email}}\n",
    )
    assert "rule: null}" in text and "rule: json" in text
    path = tmp_path / "policy.yaml"
    path.write_text(text)

    result = run_cli("run", "--policy", str(path))
    assert result.exit_code == 0, result.output
    engine = sa.create_engine(settings.target_url)
    with engine.connect() as conn:
        phones = conn.execute(sa.text("SELECT count(phone) FROM customers")).scalar()
        rows = conn.execute(sa.text("SELECT profile FROM customers WHERE id <= 2 ORDER BY id"))
        profiles = [json.loads(p) for (p,) in rows]
    engine.dispose()
    assert phones == 0
    first, second = profiles
    assert first["tier"] == 3 and first["name"] != "Ann Okonkwo" and len(first["name"].split()) == 2
    assert "020 7946 0000" not in first["note"] and "ann.okonkwo@mail.example" not in first["note"]
    assert first["note"].startswith("call 0")
    contact = json.loads(second["contact"])  # a document nested as text stays text
    assert contact["email"].endswith(("@example.com", "@example.net", "@example.org"))
    assert contact["phone"].startswith("+44 ") and contact["phone"] != "+44 20 7946 0001"
    originals = ["Okonkwo", "7946 000", "mail.example", "Bob Marsh"]
    assert_nowhere(originals, settings.home, result.output)
