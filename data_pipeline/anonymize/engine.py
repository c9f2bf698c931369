"""Applies a resolved policy to a chunk of one table: the only place rules are called.

Order matters and is fixed: structured columns first, then free text and JSON, which reuse the row's
anonymized values. NULL stays NULL (rules only see non-NULL values). Outputs are fitted to the column:
text longer than VARCHAR(n) is cut, except on a unique column, where a cut could create duplicates and
the run stops instead; NULL in a NOT NULL column and text in a numeric column stop it too. Uniqueness
across chunks is verified by the blocking `unique_columns` check (checks.TableAudit).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data_pipeline.anonymize.pools import Pools
from data_pipeline.anonymize.registry import RULES, RuleContext
from data_pipeline.anonymize.text import LATE_RULES
from data_pipeline.errors import ChecksFailed
from data_pipeline.keys import AnonKey
from data_pipeline.policy import ColumnPolicy
from data_pipeline.schema import Table

NUMERIC = ("integer", "float", "numeric")


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
            ctx = RuleContext(
                key=self.key,
                policy=policy,
                column=self.table.column(name),
                frame=frame,
                anonymized=done,
                row_pii={c: r for c, r in row_pii.items() if c != name},
                pools=self.pools,
            )
            done[name] = self._fit(self._apply(values, ctx), name, policy)
        return pd.DataFrame({c: done[c] for c in self.table.column_names}, index=frame.index)

    @staticmethod
    def _apply(values: pd.Series, ctx: RuleContext) -> pd.Series:
        """The rule over the non-NULL values; NULLs put back without changing the output's dtype."""
        present = values.notna()
        everything = bool(present.all())
        if not everything and not present.any():
            return pd.Series([None] * len(values), index=values.index, dtype=object)
        subset = values if everything else values[present]
        out = RULES[ctx.policy.rule].fn(subset, ctx)
        if len(out) != len(subset):
            raise ChecksFailed(f"rule `{ctx.policy.rule}` on {ctx.policy.qualified} changed the row count")
        if not out.index.equals(subset.index):
            out = pd.Series(out.to_numpy(), index=subset.index, dtype=out.dtype)
        if everything:
            return out
        if pd.api.types.is_integer_dtype(out.dtype) and not pd.api.types.is_extension_array_dtype(out.dtype):
            out = out.astype("Int64")  # keeps integers exact next to NULLs
        return out.reindex(values.index)

    def _fit(self, values: pd.Series, name: str, policy: ColumnPolicy) -> pd.Series:
        column = self.table.column(name)
        textual = pd.api.types.is_string_dtype(values.dtype) or values.dtype == object
        if column.generic in NUMERIC and pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
            raise ChecksFailed(f"{policy.qualified}: rule `{policy.rule}` produced text for a {column.type} column")
        if column.length and column.generic == "string" and policy.rule != "null" and textual:
            lengths = pc.utf8_length(pa.array(values.astype("str").array))
            too_long = pc.fill_null(pc.greater(lengths, column.length), False)
            if pc.any(too_long).as_py():
                if name in self.table.unique_columns():
                    raise ChecksFailed(
                        f"{policy.qualified}: rule `{policy.rule}` makes values longer than "
                        f"VARCHAR({column.length}) on a unique column; widen the column or pick a "
                        "shorter rule"
                    )
                cut = values.astype("str").str.slice(0, column.length)
                values = values.where(~too_long.to_numpy(zero_copy_only=False), cut)
        if not column.nullable and values.isna().any():
            raise ChecksFailed(f"{policy.qualified}: rule `{policy.rule}` produced NULL in a NOT NULL column")
        return values
