"""The rule registry: every rule, built-in or project-specific, registers here by name.

A rule is a pure function over a whole column (never per row in Python): it receives the non-NULL
values of one column chunk and a `RuleContext`, and returns the anonymized values, same length and
index. NULL stays NULL: the engine never hands NULLs to a rule, except that a `per_value` rule may get
the whole chunk with a placeholder in its NULL rows ('' for text, the epoch for datetimes), whose
outputs the engine drops (filtering and spreading cost more than such a rule). A rule's output for a
value depends only on the key, the value, its options (and the row's subject or country where an
option names one): never on row order, chunking or the other rows, so every table and run maps a
value alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:
    from data_pipeline.anonymize.pools import Pools

ALL_CLASSES = ("pii", "quasi", "key", "safe")
STRING, NUMBER, DATE = (
    frozenset({"string", "other"}),
    frozenset({"integer", "float", "numeric"}),
    frozenset({"date", "datetime"}),  # and text with `format: iso` (the date rules' `text_via`)
)


# What rules read of the key, of their column's policy and of the column: the registry names these
# shapes rather than import keys, policy and schema, which sit above it (they use the registry).
class HashKeys(Protocol):
    def hash_key(self, domain: str) -> str: ...


class ColumnRule(Protocol):
    """A column's entry in the resolved policy (policy.ColumnPolicy)."""

    @property
    def table(self) -> str: ...
    @property
    def column(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def domain(self) -> str: ...
    @property
    def options(self) -> dict[str, Any]: ...
    @property
    def qualified(self) -> str: ...


class ColumnType(Protocol):
    """A source column's type (schema.Column)."""

    @property
    def type(self) -> str: ...
    @property
    def generic(self) -> str: ...
    @property
    def nullable(self) -> bool: ...
    @property
    def length(self) -> int | None: ...


FAMILY_NAMES = {"string": "text", "datetime": "date-time", "float": "floating-point"}


def family_name(column: ColumnType) -> str:
    """How a message names a column's type family: 'text', 'integer', 'date-time', or its own type."""
    if column.generic == "other":
        return column.type
    return FAMILY_NAMES.get(column.generic, column.generic)


@dataclass
class RuleContext:
    """What a rule may use besides the column itself. It holds raw data: never log it."""

    key: HashKeys = field(repr=False)
    policy: ColumnRule
    column: ColumnType
    frame: pd.DataFrame = field(repr=False)  # the raw chunk, for subject columns and free text
    anonymized: dict[str, pd.Series] = field(repr=False)  # columns of this chunk already done
    row_pii: dict[str, str] = field(default_factory=dict)  # pii column -> its rule, same table
    pools: Pools | None = None

    @property
    def options(self) -> dict[str, Any]:
        return self.policy.options

    def hash_key(self, domain: str | None = None) -> str:
        """The SipHash sub-key of a domain (the column's own by default)."""
        return self.key.hash_key(domain or self.policy.domain)

    def hash(self, values: pd.Series | pa.Array, domain: str | None = None) -> np.ndarray:
        from data_pipeline.anonymize.hashing import keyed_hash

        return keyed_hash(values, self.hash_key(domain))

    def locales(self, values: pd.Series) -> np.ndarray | None:
        """Faker locale of each row from the `country_column` option; None without the option."""
        from data_pipeline.anonymize.pools import locale_for

        column = self.options.get("country_column")
        if not column or self.pools is None:
            return None
        countries = self.frame.loc[values.index, column]
        codes, uniques = pd.factorize(countries)
        default = self.pools.locale
        table = np.array([locale_for(c, default) for c in uniques] + [default], dtype=object)
        return table[codes]  # code -1 (NULL country) takes the last entry: the policy locale


RuleFn = Callable[[pd.Series, RuleContext], pd.Series]


@dataclass(frozen=True)
class Rule:
    """A rule and the facts about it that the engine, policy and checks read: a project rule declares
    them at registration like a built-in one."""

    name: str
    fn: RuleFn
    options: dict[str, type] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    classes: tuple[str, ...] = ALL_CLASSES
    types: frozenset[str] | None = None  # generic column types it accepts; None: any
    identifying: bool = False  # its originals identify a person alone: leak-checked everywhere
    unique_safe: bool = False  # distinct inputs give distinct outputs (up to a 64-bit hash)
    # Output made from a keyed hash, never copied from the input. Such a fake may equal another person's
    # real value by chance (a random phone number is someone's): the leak check compares it row by row.
    generates: bool = False
    scrubs_text: bool = False  # runs last in its row, on text, reusing the row's fakes
    validate: Callable[[dict[str, Any]], list[str]] | None = None  # checks option values
    per_value: bool = False  # output depends on the value alone: the engine may run it on distinct values
    text_via: tuple[str, str] | None = None  # (option, value) that lets it read text too: ("format", "iso")
    doc: str = ""

    def fits(self, column: ColumnType, options: dict[str, Any] | None = None) -> bool:
        """Whether it can read the column's type (with these options)."""
        if self.types is None or column.generic in self.types:
            return True
        return (
            column.generic == "string"
            and self.text_via is not None
            and (options or {}).get(self.text_via[0]) == self.text_via[1]
        )

    def check(self, cls: str, options: dict[str, Any], column: ColumnType) -> list[str]:
        """Problems with using this rule here; empty when fine."""
        problems = []
        if cls not in self.classes:
            problems.append(f"rule `{self.name}` is not allowed for class `{cls}`")
        for name in self.required:
            if name not in options:
                problems.append(f"rule `{self.name}` needs option `{name}`")
        for name, value in options.items():
            if name not in self.options:
                allowed = ", ".join(self.options) or "none"
                problems.append(f"rule `{self.name}` has no option `{name}` (allowed: {allowed})")
            elif not isinstance(value, self.options[name]) or (
                isinstance(value, bool) and self.options[name] in (int, (int, float))
            ):
                kind = getattr(self.options[name], "__name__", "a number")
                problems.append(f"option `{name}` of `{self.name}` must be {kind}")
        if self.validate is not None and not problems:
            problems += [f"rule `{self.name}`: {p}" for p in self.validate(options)]
        if not self.fits(column, options):
            via = ""
            if self.text_via is not None and column.generic == "string":
                via = f" (if it holds ISO dates, add `{self.text_via[0]}: {self.text_via[1]}`)"
            problems.append(
                f"rule `{self.name}` cannot read {a_or_an(family_name(column))} column{via}; "
                f"rules that fit: {', '.join(fitting(cls, column))}"
            )
        if self.name == "null" and not column.nullable:
            problems.append("rule `null` on a NOT NULL column; use another rule that fits, e.g. `constant`")
        return problems


def a_or_an(word: str) -> str:
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


RULES: dict[str, Rule] = {}


def fitting(cls: str, column: ColumnType) -> list[str]:
    """Rules allowed for the class that can read the column (options aside), by name."""
    return sorted(
        r.name
        for r in RULES.values()
        if cls in r.classes and r.fits(column) and (r.name != "null" or column.nullable)
    )


def register(
    name: str,
    *,
    options: dict[str, type] | None = None,
    required: Iterable[str] = (),
    classes: Iterable[str] = ALL_CLASSES,
    types: frozenset[str] | None = None,
    identifying: bool = False,
    unique_safe: bool = False,
    generates: bool = False,
    scrubs_text: bool = False,
    validate: Callable[[dict[str, Any]], list[str]] | None = None,
    per_value: bool = False,
    text_via: tuple[str, str] | None = None,
) -> Callable[[RuleFn], RuleFn]:
    """Decorator: make a column function available to policies under `name`."""

    def decorate(fn: RuleFn) -> RuleFn:
        if name in RULES and RULES[name].fn is not fn:
            raise ValueError(f"rule `{name}` is already registered")
        RULES[name] = Rule(
            name=name,
            fn=fn,
            options=dict(options or {}),
            required=tuple(required),
            classes=tuple(classes),
            types=types,
            identifying=identifying,
            unique_safe=unique_safe,
            generates=generates,
            scrubs_text=scrubs_text,
            validate=validate,
            per_value=per_value,
            text_via=text_via,
            doc=(fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else "",
        )
        return fn

    return decorate
