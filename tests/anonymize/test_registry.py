"""The registry: rules by name, project rules through `plugins:`, options checked when the policy loads,
and every built-in rule documented."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from anon_helpers import column, table

from data_pipeline.anonymize import RULES, register
from data_pipeline.errors import BadInput
from data_pipeline.policy import resolve
from data_pipeline.schema import Schema

POLICY_MD = Path(__file__).parents[2] / "docs" / "POLICY.md"


def _resolve(spec: dict, generic: str = "string", plugins: list[str] | None = None):
    schema = Schema((table("t", column("v", generic)),))
    return resolve(schema, {"plugins": plugins or [], "tables": {"t": {"columns": {"v": spec}}}})


def test_a_policy_plugin_registers_project_rules(run_rule) -> None:
    policy = _resolve({"class": "safe", "rule": "job_family"}, plugins=["anonymizers.custom"])
    assert policy.for_table("t")["v"].rule == "job_family"
    out = run_rule("job_family", pd.Series(["Senior Data Engineer", "Head Nurse", "Juggler"]), cls="safe")
    assert out.tolist() == ["Engineering", "Health", "Other"]
    with pytest.raises(BadInput, match="cannot be imported"):
        _resolve({"class": "safe", "rule": "keep"}, plugins=["anonymizers.no_such_module"])


def test_a_name_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register("email")(lambda values, ctx: values)
    assert RULES["email"].fn.__module__ == "data_pipeline.anonymize.people"


@pytest.mark.parametrize(("spec", "generic", "problem"), [
    ({"class": "pii", "rule": "date_shift", "max_days": 0}, "datetime", "`max_days` must be 1 or more"),
    ({"class": "pii", "rule": "date_shift", "max_days": True}, "datetime", "must be int"),
    ({"class": "quasi", "rule": "generalize_date", "to": "week"}, "date", "`to` must be month, year"),
    ({"class": "pii", "rule": "mask", "keep_last": -1}, "string", "`keep_last` must be 0 or more"),
    ({"class": "pii", "rule": "city", "country_column": ""}, "string", "`country_column` must name a column"),
    ({"class": "pii", "rule": "email", "keep_domains": True}, "string", "has no option `keep_domains`"),
    ({"class": "pii", "rule": "email"}, "integer", "does not fit column type"),
    ({"class": "pii", "rule": "token", "prefix": 3}, "string", "must be str"),
])  # fmt: skip
def test_bad_options_stop_the_policy_from_loading(spec: dict, generic: str, problem: str) -> None:
    with pytest.raises(BadInput, match=re.escape(problem)):
        _resolve(spec, generic)


def test_every_builtin_rule_is_documented_with_an_example() -> None:
    rows = re.findall(r"^\| ([a-z_]+) \|[^|]*\|[^|]+\|(.+)\|$", POLICY_MD.read_text(), flags=re.MULTILINE)
    examples = {name: example.strip() for name, example in rows}
    builtin = {n for n, r in RULES.items() if r.fn.__module__.startswith("data_pipeline.")}
    assert builtin and builtin <= set(examples)
    assert all(examples[name] for name in builtin)


def test_subject_and_country_columns_must_exist() -> None:
    with pytest.raises(BadInput, match="country column `country` does not exist"):
        _resolve({"class": "pii", "rule": "city", "country_column": "country"})
    with pytest.raises(BadInput, match="subject column `who` does not exist"):
        _resolve({"class": "pii", "rule": "date_shift", "subject": "who"}, "datetime")
