"""Free text and JSON: scrub what identifies people, keep the rest.

Emails, phones, card numbers and IBANs found in text are replaced by the *same* fakes their rules give
elsewhere (shared domains), so a note that mentions a customer's email mentions their fake email. The
row's own personal values (its name, say) are replaced by their anonymized counterparts.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from data_pipeline.anonymize.registry import RULES, STRING, RuleContext, register
from data_pipeline.checksums import iban_valid, luhn_valid

PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    "iban": re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"),
    "card_number": re.compile(r"\b\d(?:[ -]?\d){12,18}\b"),
    "phone": re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){2,4}\b"),
}
VALID = {"card_number": luhn_valid, "iban": lambda s: iban_valid(s.replace(" ", ""))}


def _fake_map(found: list[str], rule: str, ctx: RuleContext) -> dict[str, str]:
    """Anonymize the distinct matches with the rule's own function and domain."""
    if not found:
        return {}
    uniques = pd.Series(sorted(set(found)), dtype=object)
    sub = _subcontext(ctx, rule, rule)
    fakes = RULES[rule].fn(uniques, sub)
    return dict(zip(uniques, fakes.astype(str), strict=True))


def _subcontext(ctx: RuleContext, rule: str, domain: str, options: dict | None = None) -> RuleContext:
    from dataclasses import replace

    from data_pipeline.policy import ColumnPolicy

    policy = ColumnPolicy(ctx.policy.table, ctx.policy.column, "pii", rule, domain, options or {})
    return replace(ctx, policy=policy)


def scrub(values: pd.Series, ctx: RuleContext) -> pd.Series:
    text = values.astype(str)
    for kind in ("email", "iban", "card_number", "phone"):
        pattern, valid = PATTERNS[kind], VALID.get(kind)
        found = [m for ms in text.str.findall(pattern) for m in ms if valid is None or valid(m)]
        mapping = _fake_map(found, kind, ctx)
        if mapping:
            text = text.str.replace(pattern, lambda m, mp=mapping: mp.get(m.group(0), m.group(0)),
                                    regex=True)
    return text


@register("free_text", classes=("pii", "quasi", "safe"), types=STRING)
def free_text(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Scrubs emails, phones, cards, IBANs and the row's own personal values; keeps the rest."""
    text = scrub(values, ctx)
    own = [c for c in ctx.row_pii if c in ctx.anonymized and c in ctx.frame.columns]
    if own:
        originals = ctx.frame.loc[values.index, own]
        fakes = pd.DataFrame({c: ctx.anonymized[c] for c in own}).reindex(values.index)
        rows = []
        for body, orig_row, fake_row in zip(
            text.to_numpy(dtype=object), originals.itertuples(index=False),
            fakes.itertuples(index=False), strict=True,
        ):
            for original, fake in zip(orig_row, fake_row, strict=True):
                if isinstance(original, str) and len(original) >= 3 and original in body:
                    body = body.replace(original, "" if fake is None else str(fake))
            rows.append(body)
        text = pd.Series(rows, index=values.index, dtype=object)
    return text.astype(object)


@register("json", options={"paths": dict}, required=("paths",), types=STRING)
def json_paths(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Applies rules to named paths ('a.b.c') inside JSON documents; free text scrubs the rest."""
    docs = [json.loads(v) if isinstance(v, str) else v for v in values]
    for path, rule_name in ctx.options["paths"].items():
        keys = path.removeprefix("$.").split(".")
        holders, found = [], []
        for doc in docs:
            node = doc
            for key in keys[:-1]:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict) and node.get(keys[-1]) is not None:
                holders.append(node)
                found.append(node[keys[-1]])
        if found:
            fakes = RULES[rule_name].fn(pd.Series(found, dtype=object), _subcontext(ctx, rule_name, rule_name))
            for node, fake in zip(holders, fakes, strict=True):
                node[keys[-1]] = fake.item() if isinstance(fake, np.generic) else fake
    return pd.Series([json.dumps(d) for d in docs], index=values.index, dtype=object)
