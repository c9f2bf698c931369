"""Which tables take longest to anonymize, so that those start first.

Dagster's multiprocess executor starts the ready steps with the highest `dagster/priority` first. In
plan order, the slowest table (free text or JSON over many rows) can start last and then run alone
while the other processes idle; longest first keeps them busy. Only the order matters, so the
weights are rough: per row, text that is scrubbed costs tens of times what a kept column does
(bench/README.md).

>>> relative_cost(1_000, ["keep", "free_text"]) > relative_cost(20_000, ["keep", "keep"])
True
"""

from __future__ import annotations

from collections.abc import Iterable

from data_pipeline.anonymize.registry import RULES

SCRUBBED_TEXT = 40  # a text-scrubbing column (free text, JSON), per row, against 1 for the row
TRANSFORMED = 2  # any other rule that changes values


def relative_cost(rows: int, rules: Iterable[str]) -> int:
    """`rows` times the weight of the table's column rules (unknown rules weigh nothing)."""
    weight = 1
    for name in rules:
        rule = RULES.get(name)
        if rule is not None and name != "keep":
            weight += SCRUBBED_TEXT if rule.scrubs_text else TRANSFORMED
    return rows * weight
