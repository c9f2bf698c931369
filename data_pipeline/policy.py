"""The anonymization policy: load it, and resolve it against the source schema, failing closed.

Resolution is a pure function (schema, policy document) -> ResolvedPolicy. It refuses any column
the policy does not classify, `unknown` classes, unknown rules, `keep` on personal data, and rules
whose options are wrong. FK columns inherit the rule and hashing domain of the key they reference, so
joins survive anonymization.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from data_pipeline.anonymize.registry import RULES, a_or_an, family_name, fitting
from data_pipeline.errors import BadInput
from data_pipeline.schema import Column, Schema, Table

CLASSES = ("pii", "quasi", "key", "safe", "unknown")


@dataclass(frozen=True)
class ColumnPolicy:
    table: str
    column: str
    cls: str
    rule: str
    domain: str
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    inherited_from: str | None = None  # "table.column" of the key an FK column maps like

    @property
    def qualified(self) -> str:
        return f"{self.table}.{self.column}"


@dataclass(frozen=True)
class ResolvedPolicy:
    locale: str
    columns: dict[str, dict[str, ColumnPolicy]]  # table -> column -> policy
    digest: str  # sha256 of the policy document: recorded with every release

    def for_table(self, table: str) -> dict[str, ColumnPolicy]:
        return self.columns[table]

    def quasi_columns(self, table: str) -> list[str]:
        return [c for c, p in self.columns[table].items() if p.cls == "quasi"]


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser, where PyYAML has it


def load_policy_document(path: Path) -> dict[str, Any]:
    """Read the YAML, with one clear line for a missing file or malformed YAML."""
    if not path.exists():
        raise BadInput(f"policy file {path} not found: write one with `data-pipeline scan --out {path}`")
    try:
        doc = yaml.load(path.read_text(), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise BadInput(f"policy file {path} is not valid YAML{where}: fix it or re-run scan") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tables"), dict):
        raise BadInput(f"policy file {path} must be a mapping with a `tables:` section")
    return doc


def policy_digest(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def snippet_for(missing: list[tuple[str, str]]) -> str:
    """A ready-to-paste YAML block for columns the policy does not cover (marked unknown)."""
    by_table: dict[str, dict[str, Any]] = {}
    for table, column in missing:
        by_table.setdefault(table, {"columns": {}})["columns"][column] = {
            "class": "unknown",
            "rule": "null",
        }
    return yaml.safe_dump({"tables": by_table}, sort_keys=False).rstrip()


def load_plugins(modules: list[str]) -> None:
    """Import the policy's `plugins:` modules so that their rules register."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise BadInput(f"policy plugin `{module}` cannot be imported: {exc}") from None


SPEC_KEYS = ("class", "rule", "note", "domain")  # besides the rule's options


def spec_problem(where: str, spec: Any, column: Column) -> str | None:
    """What is wrong with one column's entry, as what to write instead; None when it can be resolved."""
    if not isinstance(spec, dict):
        return f"{where}: write `{{class: ..., rule: ...}}` (found {type(spec).__name__})"
    rule_name = spec.get("rule") or "null"  # YAML reads an unquoted `rule: null` as no value
    if not isinstance(rule_name, str) or not isinstance(spec.get("class", ""), str):
        return f"{where}: `class:` and `rule:` take names, e.g. `{{class: pii, rule: null}}`"
    rule = RULES.get(rule_name) if "rule" in spec else None
    allowed = SPEC_KEYS + tuple(rule.options if rule else ())
    for key in spec:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), [k for k in allowed if k not in spec], n=1)
            if close and close[0] not in SPEC_KEYS:
                return f"{where}: rule `{rule_name}` has no option `{key}`; did you mean `{close[0]}`?"
            if close:
                return f"{where}: unknown key `{key}:`; did you mean `{close[0]}:`?"
    if "class" not in spec:
        return f"{where}: no `class:`; add one of {', '.join(c for c in CLASSES if c != 'unknown')}"
    if "rule" not in spec:
        cls = spec["class"]
        fits = f": {', '.join(fitting(cls, column))}" if cls in CLASSES else ""
        kind = a_or_an(family_name(column))
        return f"{where}: no `rule:`; add one that fits {cls} data in {kind} column{fits}"
    return None


def misspelt_names(
    schema: Schema, columns_docs: dict[str, dict[str, Any]], missing: list[tuple[str, str]]
) -> tuple[list[str], set[tuple[str, str]]]:
    """Policy tables and columns the source lacks, each with the source name it most likely meant
    (difflib), and the missing source columns those explain."""
    problems: list[str] = []
    explained: set[tuple[str, str]] = set()
    bare = [t.name for t in schema.tables if not columns_docs.get(t.name)]
    for name in columns_docs:
        if name in schema.names:
            continue
        close = difflib.get_close_matches(name, bare, n=1)
        if close:  # a table that matches nothing may have been dropped: the schema diff reports it
            problems.append(f"table `{name}` is not in the source; did you mean `{close[0]}`?")
            explained |= {(close[0], c) for c in schema.table(close[0]).column_names}
            bare.remove(close[0])
    for table in schema.tables:
        open_columns = [c for t, c in missing if t == table.name]
        for name in columns_docs.get(table.name, {}):
            if name in table.column_names:
                continue
            close = difflib.get_close_matches(str(name), open_columns, n=1)
            where = f"{table.name}.{name}: the source has no such column"
            if close:
                problems.append(f"{where}; did you mean `{close[0]}`?")
                explained.add((table.name, close[0]))
                open_columns.remove(close[0])
            else:
                problems.append(f"{where}; remove it from the policy")
    return problems, explained


def _root_key(schema: Schema, table: Table, column: str) -> tuple[str, str]:
    """Follow FKs to the key a column ultimately references (self references included)."""
    seen = set()
    while (found := table.fk_for(column)) is not None and (table.name, column) not in seen:
        seen.add((table.name, column))
        fk, ref_column = found
        if fk.ref_table == table.name and ref_column == column:
            break
        table, column = schema.table(fk.ref_table), ref_column
    return table.name, column


def resolve(schema: Schema, doc: dict[str, Any], source: str = "policy") -> ResolvedPolicy:
    """Check the policy against the schema and give every source column exactly one rule."""
    load_plugins(doc.get("plugins") or [])
    tables_doc: dict[str, Any] = doc.get("tables") or {}
    problems: list[str] = []
    columns_docs = {}
    for name, entry in tables_doc.items():
        columns = entry.get("columns") if isinstance(entry, dict) else None
        if columns is not None and not isinstance(columns, dict):
            columns = None
        if columns is None and entry is not None:
            problems.append(f"{name}: write `columns:`, one `column: {{class: ..., rule: ...}}` per column")
        columns_docs[str(name)] = columns or {}
    missing = [
        (t.name, c) for t in schema.tables for c in t.column_names if c not in columns_docs.get(t.name, {})
    ]
    misspelt, explained = misspelt_names(schema, columns_docs, missing)
    problems += misspelt
    missing = [m for m in missing if m not in explained]
    if missing and not problems:
        names = ", ".join(f"{t}.{c}" for t, c in missing)
        raise BadInput(
            f"{source} does not classify {len(missing)} source column(s): {names}. "
            f"Nothing was copied. Classify them, e.g. paste and edit:\n{snippet_for(missing)}"
        )
    if missing:
        names = ", ".join(f"{t}.{c}" for t, c in missing)
        problems.append(f"not classified: {names}; add them (`data-pipeline scan` drafts entries)")
    raw: dict[str, dict[str, dict[str, Any]]] = {}
    for table in schema.tables:
        raw[table.name] = {}
        for column in table.columns:
            spec = columns_docs.get(table.name, {}).get(column.name)
            if spec is None:
                continue
            problem = spec_problem(f"{table.name}.{column.name}", spec, column)
            if problem:
                problems.append(problem)
            else:
                raw[table.name][column.name] = {**spec, "rule": spec["rule"] or "null"}  # YAML `rule: null`
    if problems:
        raise _problems(source, problems)

    resolved: dict[str, dict[str, ColumnPolicy]] = {}
    for table in schema.tables:
        resolved[table.name] = {}
        for column in table.columns:
            spec = dict(raw[table.name][column.name])
            cls, rule_name = spec.pop("class"), spec.pop("rule")
            where = f"{table.name}.{column.name}"
            spec.pop("note", None)
            domain = spec.pop("domain", None) or rule_name
            if cls not in CLASSES:
                problems.append(f"{where}: class `{cls}` is not one of {', '.join(CLASSES)}")
                continue
            if cls == "unknown":
                problems.append(f"{where}: classified `unknown`; decide pii/quasi/key/safe")
                continue
            rule = RULES.get(rule_name)
            if rule is None:
                problems.append(f"{where}: unknown rule `{rule_name}` (see docs/POLICY.md)")
                continue
            problems += [f"{where}: {p}" for p in rule.check(cls, spec, column)]
            if column.name in table.unique_columns() and not rule.unique_safe:
                problems.append(
                    f"{where}: column is UNIQUE/PRIMARY KEY but rule `{rule_name}` can map distinct "
                    "values alike; use a unique-safe rule (keep, email, username, token, null)"
                )
            resolved[table.name][column.name] = ColumnPolicy(
                table.name, column.name, cls, rule_name, domain, spec
            )
    if problems:
        raise _problems(source, problems)

    # FK columns map exactly like the key they reference.
    for table in schema.tables:
        for column in table.columns:
            root_table, root_column = _root_key(schema, table, column.name)
            if (root_table, root_column) == (table.name, column.name):
                continue
            root = resolved[root_table][root_column]
            mine = resolved[table.name][column.name]
            if mine.rule not in ("keep", root.rule):
                raise BadInput(
                    f"{mine.qualified} references {root.qualified} but has rule `{mine.rule}` "
                    f"instead of `{root.rule}`: FK columns must map like their key"
                )
            resolved[table.name][column.name] = ColumnPolicy(
                table.name,
                column.name,
                mine.cls,
                root.rule,
                f"{root_table}.{root_column}" if root.rule == "keep" else root.domain,
                root.options,
                inherited_from=root.qualified,
            )
    for table in schema.tables:
        for name, column_policy in resolved[table.name].items():
            country = column_policy.options.get("country_column")
            if country is not None and country not in table.column_names:
                raise BadInput(f"{column_policy.qualified}: country column `{country}` does not exist")
            subject = column_policy.options.get("subject")
            if subject is None:
                continue
            if subject not in table.column_names:
                raise BadInput(f"{column_policy.qualified}: subject column `{subject}` does not exist")
            root = ".".join(_root_key(schema, table, subject))
            resolved[table.name][name] = replace(
                column_policy, options={**column_policy.options, "subject_domain": root}
            )
    return ResolvedPolicy(
        locale=str(doc.get("locale") or "en_US"), columns=resolved, digest=policy_digest(doc)
    )


def _problems(source: str, problems: list[str]) -> BadInput:
    """One line for one problem; a header and one line each for several."""
    if len(problems) == 1:
        return BadInput(f"{source}: {problems[0]} (nothing was copied)")
    listed = "\n  ".join(problems)
    return BadInput(f"{source} has {len(problems)} problems (nothing was copied):\n  {listed}")


def load_policy(path: Path, schema: Schema) -> ResolvedPolicy:
    return resolve(schema, load_policy_document(path), source=f"policy {path}")
