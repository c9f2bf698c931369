"""The registry: rules by name, project rules through `plugins:`, options checked when the policy loads,
and every built-in rule documented."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from anon_helpers import anonymize, column, table

from data_pipeline import checks
from data_pipeline.anonymize import RULES, RuleContext, register
from data_pipeline.anonymize import registry as registry_module
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
    ({"class": "pii", "rule": "email"}, "integer", "cannot read an integer column; rules that fit: constant, "
                                                   "generalize_number, null, token"),
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


def test_the_registry_sits_at_the_bottom_of_the_import_graph() -> None:
    """Policy, engine and checks import the registry; it imports none of them, even for types."""
    code = "import sys, data_pipeline.anonymize.registry; print(*sorted(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    ours = {m for m in loaded.split() if m.startswith("data_pipeline.")}
    assert {m for m in ours if not m.startswith("data_pipeline.anonymize")} <= {
        "data_pipeline.checksums",
        "data_pipeline.errors",
    }
    assert "data_pipeline.anonymize.engine" not in ours
    tree = ast.parse(Path(registry_module.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert {m for m in imported if m.startswith("data_pipeline")} <= {
        "data_pipeline.anonymize.hashing",
        "data_pipeline.anonymize.pools",
    }


def test_builtin_rules_declare_what_they_generate_and_which_scrub_text() -> None:
    builtin = {n: r for n, r in RULES.items() if r.fn.__module__.startswith("data_pipeline.")}
    assert {n for n, r in builtin.items() if r.scrubs_text} == {"free_text", "json"}
    assert {n for n, r in builtin.items() if r.generates} == {
        "null", "constant", "first_name", "last_name", "full_name", "company", "username", "email",
        "phone", "street_address", "city", "postal_code", "token", "card_number", "iban", "date_shift",
    }  # fmt: skip


@pytest.fixture
def project_rules() -> Iterator[None]:
    """Rules this test registers, removed afterwards."""
    before = set(RULES)
    yield
    for name in set(RULES) - before:
        del RULES[name]


def test_a_project_rule_declares_its_facts_and_engine_and_checks_read_them(project_rules: None) -> None:
    @register("greeting", types=frozenset({"string"}), scrubs_text=True)
    def greeting(values: pd.Series, ctx: RuleContext) -> pd.Series:
        """Greets the row's fake name: it runs after the name column although it comes first."""
        return "Dear " + ctx.anonymized["name"].loc[values.index].astype(str)

    @register("tag", generates=True, per_value=True)
    def tag(values: pd.Series, ctx: RuleContext) -> pd.Series:
        """A constant made up, never copied from the input."""
        return pd.Series("tagged", index=values.index)

    spec = table("t", column("note"), column("name"), column("label"))
    rules = {"note": "greeting", "name": "first_name", "label": "tag"}
    doc = {"tables": {"t": {"columns": {c: {"class": "pii", "rule": r} for c, r in rules.items()}}}}
    raw = pd.DataFrame({"note": ["hi"], "name": ["Margaux"], "label": ["x"]})
    out = anonymize(Schema((spec,)), doc, {"t": raw})["t"]
    assert out["note"][0] == f"Dear {out['name'][0]}"
    policy = resolve(Schema((spec,)), doc).for_table("t")
    assert checks.columns_to_protect(spec, policy) == ([], ["note"])  # generated columns: row by row
