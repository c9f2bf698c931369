"""Free text and JSON: scrub what identifies people, keep the rest.

Emails, phones, card numbers and IBANs found in text are replaced by the *same* fakes their rules give
elsewhere (same rule, default options, the rule's default domain), so a note that mentions a customer's
email mentions their fake email. Then the row's own personal values are replaced by the row's fakes,
and known first/last names (Faker's lists, every locale) by what the name rules make of them, which
catches the customer a ticket names although its table has no name column. Finding matches is a
regex pass per row and the replacement a callback per match, both looking up one mapping built by the
vectorized rules over the *distinct* matches: the one place where Python touches individual values,
as text has no columnar shape.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from data_pipeline.anonymize import documents
from data_pipeline.anonymize.detect import ANY_IDENTIFIER, KINDS, classify, find_people, known_names, may_hold
from data_pipeline.anonymize.registry import RULES, STRING, RuleContext, register

_STRINGS = np.dtypes.StringDType()


def subcontext(ctx: RuleContext, rule: str, options: dict | None = None) -> RuleContext:
    """The context a rule gets inside text/JSON: its own default domain, no column length to fit."""
    policy = replace(ctx.policy, rule=rule, domain=rule, options=options or {})
    return replace(ctx, policy=policy, column=replace(ctx.column, length=None))


def replacements(found: set[str], ctx: RuleContext) -> dict[str, str]:
    """Distinct identifier matches -> their replacement, made by the rules, vectorized."""
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
            mapping[match] = fake_of[core] + match[len(core) :]
    return mapping


def _identifiers_replaced(texts: list[str], ctx: RuleContext) -> list[str]:
    """Every identifier in the texts replaced by its fake: one regex pass finds them (the fakes are
    made for the distinct ones at once), and the texts are put together again from those spans."""
    spans = [[(m.start(), m.end(), m.group(0)) for m in ANY_IDENTIFIER.finditer(t)] for t in texts]
    mapping = replacements({m for found in spans for _, _, m in found}, ctx)
    if not mapping:
        return texts
    out = []
    for text, found in zip(texts, spans, strict=True):
        parts, at = [], 0
        for start, end, match in found:
            parts += [text[at:start], mapping.get(match, match)]
            at = end
        out.append("".join(parts) + text[at:] if parts else text)
    return out


def own_values(
    body: np.ndarray, labels: pd.Index, ctx: RuleContext
) -> tuple[np.ndarray, list[np.ndarray], frozenset[str]]:
    """Each row's own personal values (>= 3 characters) replaced, elementwise, by a marker that
    `unmark` later turns into the row's fake (so the name pass cannot touch the fakes); and the
    markers that stand for a first name (a capitalized word after one is a surname).

    Longest values first, so 'Anna Smith' goes before 'Anna'. A value is replaced wherever it occurs,
    also inside a longer word: privacy over prose.
    """
    columns = [
        c
        for c, rule in ctx.row_pii.items()
        if not RULES[rule].scrubs_text and c in ctx.anonymized and c in ctx.frame.columns
    ]
    pairs = []
    for column in columns:
        original = ctx.frame[column].reindex(labels) if labels.is_unique else ctx.frame[column].loc[labels]
        if not (pd.api.types.is_string_dtype(original.dtype) or original.dtype == object):
            continue
        fake = ctx.anonymized[column]
        fake = fake.reindex(labels) if labels.is_unique else fake.loc[labels]
        pairs.append((float(original.astype(str).str.len().mean()), original, fake, ctx.row_pii[column]))
    fakes = []
    first_markers = set()
    for _, original, fake, rule in sorted(pairs, key=lambda p: -p[0]):
        usable = (original.notna() & (original.astype(str).str.len() >= 3)).to_numpy()
        if not usable.any():
            continue
        old = np.array(original[usable].astype(str).tolist(), dtype=_STRINGS)
        marker = f"\x01{len(fakes)}\x02"
        body[usable] = np.strings.replace(body[usable], old, marker)
        if rule == "first_name":
            first_markers.add(marker)
        fake = fake.astype(str).where(fake.notna(), "")  # a NULL fake removes the value
        fakes.append(np.array(fake.tolist(), dtype=_STRINGS))
    return body, fakes, frozenset(first_markers)


def unmark(body: np.ndarray, fakes: list[np.ndarray]) -> np.ndarray:
    for k, fake in enumerate(fakes):
        body = np.strings.replace(body, f"\x01{k}\x02", fake)
    return body


def names(text: pd.Series, ctx: RuleContext, first_markers: frozenset[str] = frozenset()) -> pd.Series:
    """The names of people in the text (detect.find_people: a first name and a surname, a title, a
    greeting, a signature, a list of names; surnames outside Faker's lists too) become what
    `first_name` / `last_name` give them elsewhere: the customer named in a ticket that has no name
    column of its own. Ordinary words that are also names somewhere ("Story", "India") stay."""
    first, last = known_names(ctx.pools.locale)
    texts = text.tolist()
    own = _own_name_words(text.index, ctx)
    found: list[list[tuple[int, int, str]]] = [[]] * len(texts)  # read only: nobody named
    if own is None:  # the same text names the same people: each distinct text is read once
        read: dict[str, list[tuple[int, int, str]]] = {}
        for i in np.flatnonzero(_may_name_people(texts)):
            text_i = texts[i]
            if isinstance(text_i, str):
                if (spans := read.get(text_i)) is None:
                    spans = read[text_i] = find_people(text_i, first, last, first_markers)
                found[i] = spans
    else:
        for i, text_i in enumerate(texts):
            if isinstance(text_i, str):
                found[i] = find_people(text_i, first, last, first_markers, own[i])
    words: dict[str, set[str]] = {"first_name": set(), "last_name": set()}
    for value, spans in zip(texts, found, strict=True):
        for start, end, rule in spans:
            words[rule].add(value[start:end])
    if not any(words.values()):
        return text
    fake_of: dict[str, dict[str, str]] = {}
    for rule, distinct in words.items():
        ordered = sorted(distinct)
        fakes = RULES[rule].fn(pd.Series(ordered, dtype=object), subcontext(ctx, rule)) if ordered else []
        fake_of[rule] = dict(zip(ordered, [str(f) for f in list(fakes)], strict=True))
    out = []
    for value, spans in zip(texts, found, strict=True):
        if not spans:
            out.append(value)
            continue
        parts, at = [], 0
        for start, end, rule in spans:
            parts += [value[at:start], fake_of[rule][value[start:end]]]
            at = end
        out.append("".join(parts) + value[at:])
    return pd.Series(out, index=text.index, dtype=object)


def _may_name_people(texts: list) -> np.ndarray:
    """Texts `find_people` must read: those with a capital or a marker (all of NumPy's string
    functions over the column at once; JSON codes and plain words are skipped)."""
    body = np.array([t if isinstance(t, str) else "" for t in texts], dtype=_STRINGS)
    return ~np.strings.islower(body) | (np.strings.find(body, "\x01") >= 0)


def _own_name_words(labels: pd.Index, ctx: RuleContext) -> list[dict[str, str]] | None:
    """Per row: the words of its own name columns (this table's first/last/full names) -> the rule
    that replaces them in text (a full name's first word is a first name, the others surnames).
    None: the table has no name column."""
    columns = [
        (column, rule)
        for column, rule in ctx.row_pii.items()
        if rule in ("first_name", "last_name", "full_name") and column in ctx.frame.columns
    ]
    if not columns:
        return None
    own: list[dict[str, str]] = [{} for _ in range(len(labels))]
    for column, rule in columns:
        values = ctx.frame[column].reindex(labels) if labels.is_unique else ctx.frame[column].loc[labels]
        for words, value in zip(own, values.tolist(), strict=True):
            if not isinstance(value, str):
                continue
            for k, word in enumerate(value.split()):
                surname = rule == "last_name" or (rule == "full_name" and k > 0)
                words.setdefault(word, "last_name" if surname else "first_name")
    return own


def scrub(values: pd.Series, ctx: RuleContext, *, known_names: bool = True) -> pd.Series:
    """Identifiers replaced by their fakes, then the row's own values, then known names; the rest of
    the text kept."""
    text = values.astype(str)
    holding = may_hold(text)  # JSON codes and plain words hold none
    if holding.any():
        text = text.copy()
        text[holding] = _identifiers_replaced(text[holding].tolist(), ctx)  # by position: JSON leaves
    body, fakes, first_markers = own_values(np.array(text.tolist(), dtype=_STRINGS), text.index, ctx)
    if known_names:
        text = names(pd.Series(body.astype(object), index=text.index, dtype=object), ctx, first_markers)
        body = np.array(text.tolist(), dtype=_STRINGS)
    return pd.Series(unmark(body, fakes).astype(object), index=text.index, dtype=object)


@register(
    "free_text", options={"names": bool}, classes=("pii", "quasi", "safe"), types=STRING, scrubs_text=True
)
def free_text(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Scrubs emails, phones, cards, IBANs, the row's own personal values and known names; keeps
    the rest."""
    return scrub(values, ctx, known_names=ctx.options.get("names", True))


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
        if name not in RULES:
            problems.append(f"path `{path}`: unknown rule `{name}`")
        elif unknown := set(opts) - set(RULES[name].options):
            problems.append(f"path `{path}`: rule `{name}` has no option(s) {', '.join(sorted(unknown))}")
        elif missing := [o for o in RULES[name].required if o not in opts]:
            problems.append(f"path `{path}`: rule `{name}` needs option(s) {', '.join(missing)}")
        elif name == "json":
            problems += [f"path `{path}`: {p}" for p in _json_options(opts)]
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


def _leaves(node: Any, skip: set[tuple[int, Any]], found: list | None = None) -> list[tuple[Any, Any]]:
    """(container, key) of every string leaf in document order, except below (container, key) pairs
    in `skip`. Appends to one list: a generator per container cost more than the walk."""
    found = [] if found is None else found
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    at = id(node)
    for key, value in items:
        if isinstance(value, str):
            if (at, key) not in skip:
                found.append((node, key))
        elif isinstance(value, dict | list) and (at, key) not in skip:  # numbers hold no text
            _leaves(value, skip, found)
    return found


def _plain_value(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


@register(
    "json",
    options={"paths": dict, "names": bool},
    required=("paths",),
    types=STRING,
    scrubs_text=True,
    validate=_json_options,
)
def json_paths(values: pd.Series, ctx: RuleContext) -> pd.Series:
    """Applies rules to named paths ('a.b', 'items.*.email'); free text scrubs every other string.

    Walking the documents is per document in Python, like the regex pass of free text. A value that is
    not JSON is scrubbed as free text.
    """
    parsed = documents.parse(values.tolist())
    _scrub_documents(parsed.docs, values.index, ctx, ctx.options["paths"], ctx.options.get("names", True))
    return pd.Series([parsed.text(i) for i in range(len(parsed.docs))], index=values.index, dtype=object)


def _scrub_documents(docs: list, labels: pd.Index, ctx: RuleContext, paths: dict, names: bool) -> None:
    """In place: each path's rule on the values at that path, then free text on every other string. A
    text rule at a path (`free_text`, or `json` for a document nested there) works on what is below it."""
    done: set[tuple[int, Any]] = set()
    for path, spec in paths.items():
        name, options = _path_spec(spec)
        keys = path.removeprefix("$.").split(".")
        holders, found, rows = [], [], []
        for label, doc in zip(labels, docs, strict=True):
            for node, key in _holders(doc, keys):
                if node[key] is not None and (id(node), key) not in done:
                    holders.append((node, key))
                    found.append(node[key])
                    rows.append(label)
        if not found:
            continue
        if RULES[name].scrubs_text:
            fakes = _nested(name, options, found, pd.Index(rows), ctx)
        else:
            values = pd.Series(found, index=pd.Index(rows), dtype=object)
            out = RULES[name].fn(values, subcontext(ctx, name, options))
            fakes = [_plain_value(v) for v in out.tolist()]
        for (node, key), fake in zip(holders, fakes, strict=True):
            node[key] = fake
            done.add((id(node), key))
    leaves, texts, rows = [], [], []
    for i, (label, doc) in enumerate(zip(labels, docs, strict=True)):
        if isinstance(doc, str):  # not JSON, or a JSON string literal
            leaves.append((docs, i))
            texts.append(doc)
            rows.append(label)
            continue
        for node, key in _leaves(doc, done):
            leaves.append((node, key))
            texts.append(node[key])
            rows.append(label)
    if texts:
        clean = scrub(pd.Series(texts, index=pd.Index(rows), dtype=object), ctx, known_names=names)
        for (node, key), text in zip(leaves, clean.tolist(), strict=True):
            node[key] = text


def _nested(name: str, options: dict, found: list, rows: pd.Index, ctx: RuleContext) -> list:
    """A text rule at a JSON path: `free_text` scrubs the strings at and below it; `json` walks the
    document there (JSON text is parsed and written back as text)."""
    names = options.get("names", ctx.options.get("names", True))
    if name == "free_text":
        values = copy.deepcopy(found)
        _scrub_documents(values, rows, ctx, {}, names)
        return values
    parsed = documents.parse(found)
    _scrub_documents(parsed.docs, rows, ctx, options.get("paths") or {}, names)
    return [
        parsed.text(i) if isinstance(v, str) else d
        for i, (v, d) in enumerate(zip(found, parsed.docs, strict=True))
    ]
