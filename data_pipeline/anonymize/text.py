"""Free text and JSON: scrub what identifies people, keep the rest.

Emails, phones, card numbers and IBANs found in text are replaced by the *same* fakes their rules give
elsewhere (same rule, default options, the rule's default domain), so a note that mentions a customer's
email mentions their fake email. The row's own personal values (its name, say) are replaced by their
anonymized counterparts. Finding matches is a regex pass per row and the replacement a callback per
match, both looking up one mapping built by the vectorized rules over the *distinct* matches: the one
place where Python touches individual values, as text has no columnar shape.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from data_pipeline.anonymize.registry import RULES, STRING, RuleContext, register
from data_pipeline.checksums import IBAN_LENGTHS, iban_valid, luhn_valid

_SEP = r"[ .\-/]"
PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    "iban": re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"),
    "card_number": re.compile(r"\b\d(?:[ -]?\d){12,18}\b"),
    "phone": re.compile(
        rf"(?<![\w+])(?:\+\d{{1,3}}{_SEP}?)?(?:\(\d{{1,4}}\){_SEP}?)?\d{{1,4}}(?:{_SEP}?\d{{2,4}}){{2,5}}(?!\w)"
    ),
}
KINDS = ("email", "iban", "card_number", "phone")  # the order in which a match is classified
_ANY = re.compile("|".join(f"(?:{PATTERNS[k].pattern})" for k in KINDS))
_DATE_LIKE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")
LATE_RULES = ("free_text", "json")


def phone_like(s: str) -> bool:
    """7-15 digits written like a phone number: with '+', '(', separators, or >= 10 digits in a row.

    Shorter bare runs (order numbers) and dates are left alone.
    """
    digits = sum(ch.isdigit() for ch in s)
    if not 7 <= digits <= 15 or _DATE_LIKE.fullmatch(s):
        return False
    return s.startswith(("+", "(")) or not s.isdigit() or digits >= 10


VALID = {
    "card_number": luhn_valid,
    "iban": lambda s: iban_valid(s.replace(" ", "")),
    "phone": phone_like,
}


def _iban_core(match: str) -> str | None:
    """The valid IBAN at the start of `match` (a greedy match can run into following capitals)."""
    compact = match.replace(" ", "")
    length = IBAN_LENGTHS.get(compact[:2], len(compact))
    if len(compact) < length:
        return None
    seen, end = 0, 0
    while seen < length:
        seen += match[end] != " "
        end += 1
    core = match[:end]
    return core if iban_valid(core.replace(" ", "")) else None


def _card_core(match: str) -> str | None:
    """The longest Luhn-valid card number (13-19 digits) at the start of `match`."""
    ends = [i for i in range(len(match), 0, -1) if i == len(match) or not match[i].isdigit()]
    for end in ends:
        core = match[:end].rstrip(" -")
        if 13 <= sum(c.isdigit() for c in core) <= 19 and luhn_valid(core):
            return core
    return None


def classify(match: str) -> tuple[str, str] | None:
    """(kind, the part of the match that is that identifier), or None to keep the match."""
    if "@" in match:
        return "email", match
    if match[:2].isalpha():
        core = _iban_core(match)
        return ("iban", core) if core else None
    core = _card_core(match)
    if core:
        return "card_number", core
    return ("phone", match) if phone_like(match) else None


def subcontext(ctx: RuleContext, rule: str, options: dict | None = None) -> RuleContext:
    """The context a rule gets inside text/JSON: its own default domain, no column length to fit."""
    from data_pipeline.policy import ColumnPolicy

    policy = ColumnPolicy(ctx.policy.table, ctx.policy.column, ctx.policy.cls, rule, rule, options or {})
    return replace(ctx, policy=policy, column=replace(ctx.column, length=None))


def replacements(text: pd.Series, ctx: RuleContext) -> dict[str, str]:
    """Distinct identifier matches in `text` -> their replacement, made by the rules, vectorized."""
    found = {m for ms in text.str.findall(_ANY) for m in ms}
    by_kind: dict[str, dict[str, str]] = {k: {} for k in KINDS}
    for match in found:
        hit = classify(match)
        if hit:
            by_kind[hit[0]][match] = hit[1]
    mapping: dict[str, str] = {}
    for kind, cores in by_kind.items():
        if not cores:
            continue
        distinct = sorted(set(cores.values()))
        fakes = RULES[kind].fn(pd.Series(distinct, dtype=object), subcontext(ctx, kind))
        fake_of = dict(zip(distinct, fakes.astype(str).tolist(), strict=True))
        for match, core in cores.items():
            mapping[match] = fake_of[core] + match[len(core):]
    return mapping


def own_values(text: pd.Series, ctx: RuleContext) -> pd.Series:
    """Each row's own personal values (>= 3 characters) replaced by the row's fakes, elementwise.

    Longest values first, so 'Anna Smith' goes before 'Anna'. A value is replaced wherever it occurs,
    also inside a longer word: privacy over prose.
    """
    columns = [
        c for c, rule in ctx.row_pii.items()
        if rule not in LATE_RULES and c in ctx.anonymized and c in ctx.frame.columns
    ]
    if not columns or text.empty:
        return text
    strings = np.dtypes.StringDType()
    body = np.array(text.astype(str).tolist(), dtype=strings)
    labels = text.index
    pairs = []
    for column in columns:
        original = ctx.frame[column].reindex(labels) if labels.is_unique else ctx.frame[column].loc[labels]
        if not (pd.api.types.is_string_dtype(original.dtype) or original.dtype == object):
            continue
        fake = ctx.anonymized[column]
        fake = fake.reindex(labels) if labels.is_unique else fake.loc[labels]
        pairs.append((float(original.astype(str).str.len().mean()), original, fake))
    for _, original, fake in sorted(pairs, key=lambda p: -p[0]):
        usable = (original.notna() & (original.astype(str).str.len() >= 3)).to_numpy()
        if not usable.any():
            continue
        old = np.array(original[usable].astype(str).tolist(), dtype=strings)
        new = np.array(["" if v is None or v != v else str(v) for v in fake[usable].tolist()], dtype=strings)
        body[usable] = np.strings.replace(body[usable], old, new)
    return pd.Series(body.astype(object), index=labels, dtype=object)


def scrub(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Identifiers replaced by their fakes, then the row's own values; the rest of the text kept."""
    text = values.astype(str)
    mapping = replacements(text, ctx)
    if mapping:
        text = text.str.replace(_ANY, lambda m: mapping.get(m.group(0), m.group(0)), regex=True)
    return own_values(text, ctx)


@register("free_text", classes=("pii", "quasi", "safe"), types=STRING)
def free_text(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Scrubs emails, phones, cards, IBANs and the row's own personal values; keeps the rest."""
    return scrub(values, ctx).astype(object)


def _path_spec(spec: Any) -> tuple[str, dict]:
    if isinstance(spec, str):
        return spec, {}
    spec = dict(spec)
    return spec.pop("rule"), spec


def _json_options(options: dict) -> list[str]:
    problems = []
    for path, spec in options.get("paths", {}).items():
        if not isinstance(spec, str) and not (isinstance(spec, dict) and "rule" in spec):
            problems.append(f"path `{path}` needs a rule name or {{rule: ..., <options>}}")
            continue
        name, opts = _path_spec(spec)
        if name not in RULES or name in LATE_RULES:
            problems.append(f"path `{path}`: unknown rule `{name}`")
        elif unknown := set(opts) - set(RULES[name].options):
            problems.append(f"path `{path}`: rule `{name}` has no option(s) {', '.join(sorted(unknown))}")
    return problems


def _holders(node: Any, keys: list[str]) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every value at `keys` below `node`; '*' walks all items of a list/dict."""
    if not keys:
        return
    head, rest = keys[0], keys[1:]
    if isinstance(node, dict):
        children = list(node) if head == "*" else [head] if head in node else []
    elif isinstance(node, list):
        at = int(head) if head.isdigit() else len(node)
        children = range(len(node)) if head == "*" else [at] if at < len(node) else []
    else:
        return
    for child in children:
        if rest:
            yield from _holders(node[child], rest)
        else:
            yield node, child


def _leaves(node: Any) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every string leaf."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        if isinstance(value, str):
            yield node, key
        else:
            yield from _leaves(value)


def _plain_value(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


@register("json", options={"paths": dict}, required=("paths",), types=STRING, validate=_json_options)
def json_paths(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Applies rules to named paths ('a.b', 'items.*.email'); free text scrubs every other string.

    Walking the documents is per document in Python, like the regex pass of free text. A value that is
    not JSON is scrubbed as free text.
    """
    docs, labels, not_json = [], values.index, set()
    for i, value in enumerate(values.tolist()):
        if isinstance(value, str):
            try:
                docs.append(json.loads(value))
            except ValueError:
                docs.append(value)
                not_json.add(i)
        else:
            docs.append(copy.deepcopy(value))  # never mutate the raw frame
    done: set[tuple[int, Any]] = set()
    for path, spec in ctx.options["paths"].items():
        name, options = _path_spec(spec)
        keys = path.removeprefix("$.").split(".")
        holders, found, rows = [], [], []
        for label, doc in zip(labels, docs, strict=True):
            for node, key in _holders(doc, keys):
                if node[key] is not None and (id(node), key) not in done:
                    holders.append((node, key))
                    found.append(node[key])
                    rows.append(label)
        if found:
            fakes = RULES[name].fn(pd.Series(found, index=pd.Index(rows), dtype=object),
                                   subcontext(ctx, name, options))
            for (node, key), fake in zip(holders, fakes.tolist(), strict=True):
                node[key] = _plain_value(fake)
                done.add((id(node), key))
    leaves, texts, rows = [], [], []
    for i, (label, doc) in enumerate(zip(labels, docs, strict=True)):
        if isinstance(doc, str):  # not JSON, or a JSON string literal
            leaves.append((docs, i))
            texts.append(doc)
            rows.append(label)
            continue
        for node, key in _leaves(doc):
            if (id(node), key) not in done:
                leaves.append((node, key))
                texts.append(node[key])
                rows.append(label)
    if texts:
        clean = scrub(pd.Series(texts, index=pd.Index(rows), dtype=object), ctx)
        for (node, key), text in zip(leaves, clean.tolist(), strict=True):
            node[key] = text
    out = [d if i in not_json else json.dumps(d, ensure_ascii=False) for i, d in enumerate(docs)]
    return pd.Series(out, index=labels, dtype=object)
