"""Applies a resolved policy to a chunk of one table: the only place rules are called.

Order matters and is fixed: structured columns first, then free text and JSON, which reuse the row's
anonymized values. NULL stays NULL: rules see only non-NULL values, except that a rule whose output
depends on the value alone (`per_value`) runs over a placeholder in NULL rows and its output there is
dropped. Such a rule runs once per distinct value of a chunk when the column repeats (names, cities).
Outputs are fitted to the column: text longer than VARCHAR(n) is cut, except on a unique column,
where a cut could create duplicates and the run stops instead; NULL in a NOT NULL column and text in
a numeric column stop it too. Uniqueness across chunks is verified by the blocking `unique_columns`
check (checks.TableAudit).

Arrow-backed text stays in Arrow between the steps (NULL masks from the validity bitmap, NULL slots
read as placeholders, NULLs put back as a validity bitmap around the same buffers): pandas' generic
paths cost more than most rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data_pipeline.anonymize.hashing import max_bytes, one_chunk, string_buffers
from data_pipeline.anonymize.pools import Pools
from data_pipeline.anonymize.registry import RULES, Rule, RuleContext
from data_pipeline.decimals import all_numbers, decimal_text
from data_pipeline.errors import ChecksFailed
from data_pipeline.keys import AnonKey
from data_pipeline.policy import ColumnPolicy
from data_pipeline.schema import Column, Table
from data_pipeline.scrub import scrubbed

PROBE = 1024  # first values looked at to decide whether a column repeats
REPEATS = 0.8  # ... and the share of them that may be distinct for encoding distinct values to pay


@dataclass(frozen=True)
class TableAnonymizer:
    """Everything needed to anonymize chunks of one table; holds no data."""

    table: Table
    columns: dict[str, ColumnPolicy]
    key: AnonKey
    pools: Pools
    # per column: whether its values repeat, probed on the first chunk (speed depends on it, never a result)
    _repeating: dict[str, bool] = field(default_factory=dict, init=False, repr=False, compare=False)

    @cached_property
    def order(self) -> list[str]:
        """Columns in table order, text-scrubbing rules last (a stable sort): they reuse the row's fakes."""
        return sorted(self.table.column_names, key=lambda c: RULES[self.columns[c].rule].scrubs_text)

    @cached_property
    def _row_pii(self) -> dict[str, dict[str, str]]:
        """Per column: the other pii columns of the table and their rules (fixed per table)."""
        pii = {c: p.rule for c, p in self.columns.items() if p.cls == "pii"}
        return {name: {c: r for c, r in pii.items() if c != name} for name in self.columns}

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        done: dict[str, pd.Series] = {}
        for name in self.order:
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
                row_pii=self._row_pii[name],
                pools=self.pools,
            )
            # raw values are in hand: an error leaves naming the table, column and rule, never a value
            with scrubbed("anonymize", self.table.name, name, policy.rule):
                out = self._apply(name, _dates_as_datetimes(values, ctx.column), ctx)
                done[name] = self._fit(out, name, policy)
        # every output is aligned with frame.index (checked in _call): nothing to copy
        return pd.DataFrame({c: done[c] for c in self.table.column_names}, index=frame.index, copy=False)

    def _apply(self, name: str, values: pd.Series, ctx: RuleContext) -> pd.Series:
        """The rule over the non-NULL values; NULLs put back without changing the output's dtype.
        A rule whose output depends on the value alone runs once per distinct value of a column
        that repeats (names, cities, birth dates)."""
        present = _present(values)
        if not len(values) or (present is not None and not present.any()):  # an empty table too
            return pd.Series([None] * len(values), index=values.index, dtype=object)
        rule = RULES[ctx.policy.rule]
        per_value = rule.per_value and "country_column" not in ctx.options and self._repeats(name, values)
        arrow = _arrow_text(values) if per_value else None
        if arrow is not None:  # repeating text: each distinct value once (NULLs ride along as -1)
            codes, uniques = _factorized(arrow)
            return _spread(_call(rule, pd.Series(uniques.to_pandas().array), ctx), codes, values.index)
        filled = _nulls_filled(values) if rule.per_value and present is not None else None
        if filled is not None:  # NULL rows hold a placeholder; their outputs are dropped again
            return _with_nulls(_call(rule, filled, ctx), present, values.index)
        subset = values if present is None else _rows(values, present)
        if not per_value:
            out = _call(rule, subset, ctx)
        else:
            codes, uniques = _factorized(subset)
            out = _call(rule, pd.Series(uniques), ctx)
            out = pd.Series(out.array.take(codes), index=subset.index, name=out.name)
        return out if present is None else _with_nulls(out, present, values.index)

    def _repeats(self, name: str, values: pd.Series) -> bool:
        """Whether under REPEATS of the first PROBE non-NULL values of the column's first chunk are
        distinct: then encoding the distinct values pays."""
        if name not in self._repeating:
            head = values.iloc[:PROBE].dropna()
            arrow = _arrow_text(head)
            distinct = pc.count_distinct(arrow).as_py() if arrow is not None else len(pd.unique(head))
            self._repeating[name] = len(head) >= PROBE // 2 and distinct < REPEATS * len(head)
        return self._repeating[name]

    def _fit(self, values: pd.Series, name: str, policy: ColumnPolicy) -> pd.Series:
        column = self.table.column(name)
        if column.generic == "numeric":  # kept as exact decimal text (data_pipeline.decimals)
            values = decimal_text(values, column.scale)
            if not all_numbers(values):
                raise ChecksFailed(
                    f"{policy.qualified}: rule `{policy.rule}` produced text that is not a number "
                    f"for a {column.type} column"
                )
        elif column.generic in ("integer", "float") and _text(values):
            raise ChecksFailed(
                f"{policy.qualified}: rule `{policy.rule}` produced text for a {column.type} column"
            )
        too_long = _too_long(values, column.length) if column.generic == "string" else None
        if too_long is not None:
            if name in self.table.unique_columns():
                raise ChecksFailed(
                    f"{policy.qualified}: rule `{policy.rule}` makes values longer than "
                    f"VARCHAR({column.length}) on a unique column; widen the column or pick a "
                    "shorter rule"
                )
            values = values.where(~too_long, values.astype("str").str.slice(0, column.length))
        if not column.nullable and _has_null(values):
            raise ChecksFailed(f"{policy.qualified}: rule `{policy.rule}` produced NULL in a NOT NULL column")
        return values


def _arrow_text(values: pd.Series) -> pa.Array | pa.ChunkedArray | None:
    """The Arrow array behind Arrow-backed text (no copy); None for any other dtype."""
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        return pa.array(values.array)
    return None


def _present(values: pd.Series) -> np.ndarray | None:
    """Where values are not NULL; None when none is (Arrow text: read from its null count)."""
    arrow = _arrow_text(values)
    if arrow is not None:
        return None if not arrow.null_count else arrow.is_valid().to_numpy(zero_copy_only=False)
    present = values.notna().to_numpy()
    return None if present.all() else present


def _has_null(values: pd.Series) -> bool:
    arrow = _arrow_text(values)
    return bool(arrow.null_count) if arrow is not None else bool(values.isna().any())


def _rows(values: pd.Series, present: np.ndarray) -> pd.Series:
    """values[present], filtered in Arrow for Arrow text (pandas' boolean indexing costs more)."""
    arrow = _arrow_text(values)
    if arrow is None:
        return values[present]
    return _text_series(arrow.filter(pa.array(present)), values.index[present], values.name)


def _dates_as_datetimes(values: pd.Series, column: Column) -> pd.Series:
    """A DATE column arrives as Python date objects; as datetime64 every later step is columnar."""
    if column.generic != "date" or values.dtype != object:
        return values
    try:
        days = pa.array(values.to_numpy(dtype=object), type=pa.date32(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not dates after all: the rule parses them
        return values
    return pd.Series(days.to_numpy(zero_copy_only=False).astype("datetime64[s]"), index=values.index)


def _call(rule: Rule, values: pd.Series, ctx: RuleContext) -> pd.Series:
    out = rule.fn(values, ctx)
    if len(out) != len(values):
        raise ChecksFailed(f"rule `{rule.name}` on {ctx.policy.qualified} changed the row count")
    if not out.index.equals(values.index):
        out = pd.Series(out.to_numpy(), index=values.index, dtype=out.dtype)
    return out


def _with_nulls(out: pd.Series, present: np.ndarray, index: pd.Index) -> pd.Series:
    """`out` NULL where `present` does not hold, by position (no index alignment), dtype kept. `out`
    holds a value for the present rows alone, or for every row (a per-value rule run over
    placeholders; present is never all true here, so the lengths tell the two apart)."""
    full = len(out) == len(present)
    text = _arrow_text(out)
    if text is not None and out.dtype == pd.StringDtype(na_value=np.nan) and not text.null_count:
        return _text_series(_text_with_nulls(text, present), index, out.name)
    if full and out.dtype.kind == "M":
        return out.where(present)
    if full:
        take = np.where(present, np.arange(len(present)), -1)
    else:
        take = np.full(len(present), -1, dtype=np.int64)
        take[present] = np.arange(len(out))
    return _spread(out, take, index)


def _nulls_filled(values: pd.Series) -> pd.Series | None:
    """The column with a placeholder in its NULL rows, made without filtering: Arrow text loses its
    validity bitmap (a NULL slot reads as the bytes it spans, usually none), datetimes get the epoch.
    Only for per-value rules, whose output in such a row is dropped again. None for other dtypes."""
    text = _arrow_text(values)
    if text is not None:
        text = one_chunk(text)
        _, offsets, data = text.buffers()
        bare = pa.Array.from_buffers(text.type, len(text), [None, offsets, data], offset=text.offset)
        return _text_series(bare, values.index, values.name)
    if values.dtype.kind == "M":
        return pd.Series(values.to_numpy(), index=values.index, name=values.name).fillna(pd.Timestamp(0))
    return None


def _text_with_nulls(text: pa.Array | pa.ChunkedArray, present: np.ndarray) -> pa.Array:
    """Arrow text NULL where `present` does not hold, around the same data buffer: a validity bitmap
    is new, and offsets too when `text` holds the present rows alone (a NULL is an empty slot)."""
    offsets, data = string_buffers(text)
    if len(offsets) - 1 < len(present):
        ends = np.zeros(len(present) + 1, dtype=offsets.dtype)
        ends[0] = offsets[0]
        ends[1:][present] = offsets[1:]
        offsets = np.maximum.accumulate(ends, out=ends)  # a NULL slot ends where the previous value ends
    validity = np.packbits(present, bitorder="little")
    kind = pa.large_string() if offsets.dtype == np.int64 else pa.string()
    buffers = [pa.py_buffer(validity), pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(kind, len(present), buffers)


def _text_series(text: pa.Array, index: pd.Index, name: object) -> pd.Series:
    """Arrow text as a pandas column over `index`, around the same buffers."""
    return pd.Series(text.to_pandas().array, index=index, name=name, copy=False)


def _spread(out: pd.Series, take: np.ndarray, index: pd.Index) -> pd.Series:
    """out[take] by position, NULL where take is -1; with NULLs, integers and booleans become nullable
    so they stay exact."""
    if not (take < 0).any():
        return pd.Series(out.array.take(take), index=index, name=out.name)
    if pd.api.types.is_bool_dtype(out.dtype) and not pd.api.types.is_extension_array_dtype(out.dtype):
        out = out.astype("boolean")
    elif pd.api.types.is_integer_dtype(out.dtype) and not pd.api.types.is_extension_array_dtype(out.dtype):
        out = out.astype("Int64")
    return pd.Series(out.array.take(take, allow_fill=True), index=index, name=out.name)


def _text(values: pd.Series) -> bool:
    if isinstance(values.dtype, pd.StringDtype):
        return True
    return values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in ("string", "mixed")


def _too_long(values: pd.Series, length: int | None) -> np.ndarray | None:
    """Rows whose text is longer than `length` characters; None when there are none."""
    if not length or not (pd.api.types.is_string_dtype(values.dtype) or values.dtype == object):
        return None
    text = pa.array((values if isinstance(values.dtype, pd.StringDtype) else values.astype("str")).array)
    if max_bytes(text) <= length:  # the usual case, decided from the offsets alone
        return None
    too_long = pc.fill_null(pc.greater(pc.utf8_length(text), length), False)
    return too_long.to_numpy(zero_copy_only=False) if pc.any(too_long).as_py() else None


def _factorized(values: pd.Series | pa.Array) -> tuple[np.ndarray, pd.Index | pa.Array]:
    """(codes, distinct values), NULLs coded -1."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        encoded = pc.dictionary_encode(one_chunk(values))
        return pc.fill_null(encoded.indices, -1).to_numpy(), encoded.dictionary
    return pd.factorize(values)
