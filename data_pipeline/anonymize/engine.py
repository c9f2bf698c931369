"""Applies a resolved policy to a chunk of one table: the only place rules are called.

Order matters and is fixed: structured columns first, then free text and JSON, which reuse the row's
anonymized values. NULL stays NULL. Outputs are fitted to the column (length) and unique columns are
verified unique: a collision stops the run rather than publishing a broken key.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from data_pipeline.anonymize.pools import Pools
from data_pipeline.anonymize.registry import RULES, RuleContext
from data_pipeline.errors import ChecksFailed
from data_pipeline.keys import AnonKey
from data_pipeline.policy import ColumnPolicy
from data_pipeline.schema import Table

LATE_RULES = ("free_text", "json")


@dataclass(frozen=True)
class TableAnonymizer:
    """Everything needed to anonymize chunks of one table; holds no data."""

    table: Table
    columns: dict[str, ColumnPolicy]
    key: AnonKey
    pools: Pools

    def order(self) -> list[str]:
        early = [c for c in self.table.column_names if self.columns[c].rule not in LATE_RULES]
        late = [c for c in self.table.column_names if self.columns[c].rule in LATE_RULES]
        return early + late

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        done: dict[str, pd.Series] = {}
        row_pii = {c: p.rule for c, p in self.columns.items() if p.cls == "pii"}
        for name in self.order():
            policy = self.columns[name]
            values = frame[name]
            if policy.rule == "keep":
                done[name] = values
                continue
            present = values.notna()
            ctx = RuleContext(
                key=self.key,
                policy=policy,
                column=self.table.column(name),
                frame=frame,
                anonymized=done,
                row_pii={c: r for c, r in row_pii.items() if c != name},
                pools=self.pools,
            )
            result = pd.Series([None] * len(values), index=values.index, dtype=object)
            if present.any():
                out = RULES[policy.rule].fn(values[present], ctx)
                if len(out) != int(present.sum()):
                    raise ChecksFailed(f"rule `{policy.rule}` on {policy.qualified} changed the row count")
                if not pd.api.types.is_object_dtype(out.dtype) and present.all():
                    result = out
                else:
                    result.loc[present] = out.to_numpy(dtype=object)
            done[name] = self._fit(result, name, policy)
        return pd.DataFrame({c: done[c] for c in self.table.column_names}, index=frame.index)

    def _fit(self, values: pd.Series, name: str, policy: ColumnPolicy) -> pd.Series:
        column = self.table.column(name)
        if column.length and column.generic == "string" and policy.rule != "null":
            too_long = values.astype(str).str.len() > column.length
            too_long &= values.notna()
            if too_long.any():
                if name in self.table.unique_columns():
                    raise ChecksFailed(
                        f"{policy.qualified}: rule `{policy.rule}` makes values longer than "
                        f"VARCHAR({column.length}) on a unique column; widen the column or pick a "
                        "shorter rule"
                    )
                values = values.where(~too_long, values.astype(str).str.slice(0, column.length))
        if not column.nullable and values.isna().any():
            raise ChecksFailed(f"{policy.qualified}: rule `{policy.rule}` produced NULL in a NOT NULL column")
        return values
