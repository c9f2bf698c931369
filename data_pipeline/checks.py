"""Built-in checks: pure functions from data to a `CheckOutcome` holding counts, never values.

They fail closed: row counts kept, every column classified, unique columns unique, every FK resolves,
no original identifying value anywhere in the output (free text included), k-anonymity on the
quasi-identifiers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data_pipeline.anonymize.detect import PATTERNS, VALID, find_all, may_hold
from data_pipeline.anonymize.formats import Chars
from data_pipeline.anonymize.hashing import keyed_hash, text_array
from data_pipeline.anonymize.registry import RULES
from data_pipeline.hashset import BUCKET_BITS, SpilledHashes, bucket_slice, contains
from data_pipeline.keys import AnonKey
from data_pipeline.policy import ColumnPolicy
from data_pipeline.schema import Table

FINGERPRINT_DOMAIN = "leak-fingerprint"


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    description: str
    metadata: dict[str, int | float | str] = field(default_factory=dict)


def row_count_kept(source_rows: int, output_rows: int) -> CheckOutcome:
    return CheckOutcome(
        "row_count_kept",
        source_rows == output_rows,
        f"{output_rows} rows out of {source_rows} in",
        {"source_rows": source_rows, "output_rows": output_rows},
    )


def columns_classified(
    table: Table, output_columns: Iterable[str], policy: dict[str, ColumnPolicy]
) -> CheckOutcome:
    cols = list(output_columns)
    unclassified = [c for c in table.column_names if c not in policy]
    mismatch = sorted(set(cols) ^ set(table.column_names))
    problems = unclassified + mismatch
    return CheckOutcome(
        "columns_classified",
        not problems,
        "every column classified by the policy"
        if not problems
        else f"unclassified or unexpected columns: {', '.join(problems)}",
        {"columns": len(cols), "unclassified": len(problems)},
    )


def _row_keys(frame: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per row of key columns, canonical across int/float-with-NULL/text readings.
    Keys are mostly distinct, so pandas' factorizing first (`categorize`) would only add work."""
    canon = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_float_dtype(values.dtype) and (values.dropna() % 1 == 0).all():
            values = values.astype("Int64")
        elif isinstance(values.dtype, pd.DatetimeTZDtype):
            values = _microseconds(values.dt.tz_convert("UTC").dt.tz_localize(None))
        elif pd.api.types.is_datetime64_dtype(values.dtype):
            values = _microseconds(values)
        if not pd.api.types.is_numeric_dtype(values.dtype):
            values = _utf8(values.astype(str))
        canon[column] = values
    return pd.util.hash_pandas_object(pd.DataFrame(canon), index=False, categorize=False).to_numpy()


def _microseconds(stamps: pd.Series) -> pd.Series:
    """Timestamps (and DATEs, read as midnights) as integer microseconds, whatever unit each side of
    a key was read in: formatting them as text, as other non-numeric keys are, cost most of a
    foreign-key check on a table keyed by a timestamp."""
    return pd.Series(stamps.to_numpy("datetime64[us]").view(np.int64), index=stamps.index)


def _utf8(text: pd.Series) -> pd.Series:
    """Arrow-backed text as UTF-8 `bytes` objects, which pandas hashes exactly as the `str` they
    encode but without making a Python string per value (a fifth of the cost); other text as is."""
    if text.hasnans or not (isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow"):
        return text
    raw = pa.array(text.array).cast(pa.binary()).to_numpy(zero_copy_only=False)
    return pd.Series(raw, index=text.index, dtype=object)


def foreign_keys_resolve(child: pd.DataFrame, table: Table, parents: dict[str, pd.DataFrame]) -> CheckOutcome:
    """Every foreign key of `table` over whole frames (the batched form is `dangling_references`)."""
    broken = {}
    for fk in table.foreign_keys:
        missing = dangling_references(
            [child[list(fk.columns)]], [parents[fk.ref_table][list(fk.ref_columns)]]
        )
        if missing:
            broken[f"{','.join(fk.columns)}->{fk.ref_table}"] = missing
    return foreign_keys_outcome(table, broken)


def dangling_references(
    child: Iterable[pd.DataFrame], parent: Iterable[pd.DataFrame], spill_dir: Path | None = None
) -> int:
    """Rows of `child` (batches of its key columns) whose non-NULL key is no row of `parent` (batches of
    the referenced columns, in the same order). Only 64-bit hashes are kept, spilled to disk past a
    buffer and compared one bucket at a time, so memory does not grow with rows."""
    children, parents = SpilledHashes(spill_dir, repeats=True), SpilledHashes(spill_dir)
    try:
        for frame in child:
            keys = frame.dropna()
            if len(keys):
                children.add(_row_keys(keys))
        if not children.added:
            return 0
        for frame in parent:
            keys = frame.dropna()
            if len(keys):
                parents.add(_row_keys(keys))
        known, keys = parents.in_memory(), children.in_memory()
        if known is not None and keys is not None:
            return int((~contains(known, keys)).sum())
        return sum(int((~contains(parents.bucket(b), keys)).sum()) for b, keys in children.buckets())
    finally:
        children.close()
        parents.close()


def foreign_keys_outcome(table: Table, broken: dict[str, int]) -> CheckOutcome:
    """`broken`: dangling rows per foreign key (`cols->table`)."""
    return CheckOutcome(
        "foreign_keys_resolve",
        not broken,
        "every foreign key resolves"
        if not broken
        else "dangling references: " + ", ".join(f"{k} ({v})" for k, v in broken.items()),
        {"dangling": sum(broken.values()), "foreign_keys": len(table.foreign_keys)},
    )


def normalize(values: pd.Series) -> pa.Array:
    """Lowercase ASCII letters and digits only, so '+1 (555) 010' and '+1-555-010' fingerprint alike.
    Works on the Arrow byte buffer (no regex, no Python objects): a leak check folds every
    identifying value of the source and of the output. NULLs are dropped."""
    text = text_array(values.dropna())
    if not len(text):
        return text
    # Folded here on Chars' own copy of the bytes, not by Arrow's ascii_lower: that kernel returns an
    # invalid array (offsets past its data) for input whose offsets do not start at 0, the shape pandas
    # gives for a frame of a sliced table, and masked_text then read and wrote out of bounds (issue 19).
    chars = Chars.of(text)
    data = chars.data
    upper = np.subtract(data, 65, dtype=np.uint8) < 26  # uint8 arithmetic wraps: one comparison a range
    data[upper] += 32
    keep = (np.subtract(data, 48, dtype=np.uint8) < 10) | (np.subtract(data, 97, dtype=np.uint8) < 26)
    return chars.masked(keep)


def fingerprints(values: pd.Series, key: AnonKey) -> np.ndarray:
    """Keyed fingerprints of values: a set to test membership against, useless without the key."""
    folded = normalize(values)
    folded = folded.filter(pc.greater_equal(pc.binary_length(folded), 6))
    if not len(folded):
        return np.array([], dtype=np.uint64)
    return np.unique(keyed_hash(folded, key.hash_key(FINGERPRINT_DOMAIN)))


def identifying_columns(policy: dict[str, ColumnPolicy]) -> list[str]:
    """Columns whose originals identify a person alone: their values must appear nowhere."""
    return [c for c, p in policy.items() if p.cls == "pii" and RULES[p.rule].identifying]


HIGH_PRECISION = ("email", "card_number", "iban")  # checksums/shape make false hits rare


def find_each(text: pd.Series, kinds: Iterable[str]) -> Iterator[tuple[str, pd.Series]]:
    """(kind, every match of its pattern, indexed by row and exploded) for each kind. With several
    kinds Arrow's RE2 first keeps the rows that can hold a match of any (`may_hold`), and `find_all`
    narrows them per kind, so Python's regex, the slow part, sees only those (most text holds none)."""
    kinds = tuple(kinds)
    candidates = text[may_hold(text, kinds)] if len(kinds) > 1 and len(text) else text
    for kind in kinds:
        yield kind, find_all(candidates, kind)


def embedded_identifiers(text: pd.Series, kinds: Iterable[str] = HIGH_PRECISION) -> pd.Series:
    """Identifiers found inside text, validated where a checksum exists."""
    parts = []
    for kind, found in find_each(text, kinds):
        found = found.astype(str)
        if kind in VALID and not found.empty:
            found = found[found.map(VALID[kind])]
        parts.append(found)
    return pd.concat(parts, ignore_index=True) if parts else pd.Series([], dtype=str)


def columns_to_protect(table: Table, policy: dict[str, ColumnPolicy]) -> tuple[list[str], list[str]]:
    """(identifying columns, text columns that can pass values through), as read by
    `source_values_to_protect`: lets a caller read only these columns."""
    identifying = identifying_columns(policy)
    through = [
        c.name
        for c in table.columns
        if c.generic == "string" and c.name not in identifying and not RULES[policy[c.name].rule].generates
    ]
    return identifying, through


def source_values_to_protect(
    frame: pd.DataFrame, table: Table, policy: dict[str, ColumnPolicy]
) -> list[pd.Series]:
    """What must never reappear: identifying pii values, plus identifiers found in any text column
    that can pass values through (keep, generalize, free text...), so a column misclassified as `safe`
    is still caught. Columns of generating rules are checked row by row instead (leak_count)."""
    identifying, through = columns_to_protect(table, policy)
    out = [frame[c] for c in identifying]
    for name in through:
        text = frame[name].dropna().astype(str)
        kinds = (*HIGH_PRECISION, "phone") if policy[name].rule == "free_text" else HIGH_PRECISION
        out.append(embedded_identifiers(text, kinds))
    return out


def _has_text(values: pd.Series) -> bool:
    """Whether a column is text with at least one value (only text can carry an original)."""
    textual = pd.api.types.is_string_dtype(values.dtype) or values.dtype == object
    return textual and not values.isna().all()


def _surviving_identifiers(raw: pd.Series, out: pd.Series) -> int:
    """Identifiers found in a row's raw text that are still in the same row's output text."""

    def found(text: pd.Series) -> pd.DataFrame:
        parts = [found for _, found in find_each(text, PATTERNS)]
        hits = pd.concat(parts) if parts else pd.Series(dtype=object)
        hits = hits.dropna()
        return pd.DataFrame({"row": hits.index, "value": normalize(hits.astype(str)).to_pandas()})

    after = found(out.dropna().astype(str))
    if after.empty:  # only rows whose output holds an identifier can hold a surviving one
        return 0
    raw = raw.dropna()
    raw = raw[raw.index.isin(after["row"])].astype(str)
    # and only rows whose folded raw text contains one of them: an identifier found in the raw text
    # folds to a substring of the folded text, so the regexes need not look anywhere else
    folded = dict(zip(raw.index, normalize(raw).to_pylist(), strict=True))
    holding = {
        row for row, value in zip(after["row"], after["value"], strict=True) if value in folded.get(row, "")
    }
    before = found(raw[raw.index.isin(holding)])
    before = before[before["value"].str.len() >= 6]
    return len(before.merge(after, on=["row", "value"]).drop_duplicates())


def row_leaks(raw: pd.DataFrame, out: pd.DataFrame, policy: dict[str, ColumnPolicy]) -> dict[str, int]:
    """Originals that reached their own row's output, per column: identifiers surviving in free text and
    JSON, and identifying outputs of generating rules equal to their original."""
    hits: dict[str, int] = {}
    for column, p in policy.items():
        rule = RULES[p.rule]
        generated = rule.generates and p.cls == "pii" and rule.identifying
        if not rule.scrubs_text and not generated:
            continue
        before, after = raw[column], out[column]
        if not _has_text(after):
            continue
        if rule.scrubs_text:
            found = _surviving_identifiers(before, after)
        else:
            both = before.notna().to_numpy() & after.notna().to_numpy()
            if not both.all():  # selecting every row would only copy them
                before, after = before[both], after[both]
            found = pc.sum(pc.equal(normalize(before), normalize(after))).as_py() or 0
        if found:
            hits[column] = found
    return hits


def passthrough_prints(
    out: pd.DataFrame, policy: dict[str, ColumnPolicy], key: AnonKey
) -> dict[str, np.ndarray]:
    """Per column that can carry text through unchanged (keep, generalize, mask, project rules):
    fingerprints of what it holds, whole values and identifiers inside them. Any of them among the
    source's identifying fingerprints is a leak."""
    prints = {}
    for column, p in policy.items():
        if RULES[p.rule].scrubs_text or RULES[p.rule].generates or not _has_text(after := out[column]):
            continue
        text = after.dropna().astype(str)
        found = fingerprints(pd.concat([text, embedded_identifiers(text, PATTERNS)], ignore_index=True), key)
        if len(found):
            prints[column] = found
    return prints


def count_known(prints: dict[str, np.ndarray], source_runs: Iterable[np.ndarray]) -> dict[str, int]:
    """Per column, how many of its `prints` (distinct) are in the source's fingerprints, read one
    sorted run at a time so that only one run is ever in memory (and only when there is something
    to look up)."""
    found = {c: np.zeros(len(p), dtype=bool) for c, p in prints.items() if len(p)}
    if found:
        for run in source_runs:
            for column, hits in found.items():
                hits |= contains(run, prints[column])
    return {c: int(hits.sum()) for c, hits in found.items() if hits.any()}


def count_known_spilled(
    prints: dict[str, SpilledHashes], source_runs: Callable[[], Iterable[np.ndarray]]
) -> tuple[dict[str, int], int]:
    """`count_known` for prints spilled to disk: one bucket of every column's prints at a time against
    the matching slice of each sorted run (`source_runs` may memory-map them: only the slices are
    read), so memory does not grow with rows. Also returns how many fingerprints were looked up."""
    if not any(p.added for p in prints.values()):
        return {}, 0
    if not any(p.spilled for p in prints.values()):  # small: one pass as count_known does
        looked_up = 0

        def runs() -> Iterator[np.ndarray]:
            nonlocal looked_up
            for run in source_runs():
                looked_up += len(run)
                yield run

        arrays = {
            c: np.concatenate([v for _, v in p.buckets()] or [np.empty(0, np.uint64)])
            for c, p in prints.items()
        }
        return count_known(arrays, runs()), looked_up
    found = dict.fromkeys(prints, 0)
    looked_up = -1
    for bucket in range(1 << BUCKET_BITS):
        wanted = {c: p.bucket(bucket) for c, p in prints.items()}
        wanted = {c: v for c, v in wanted.items() if len(v)}
        if not wanted and looked_up >= 0:
            continue
        hits = {c: np.zeros(len(v), dtype=bool) for c, v in wanted.items()}
        total = 0
        for run in source_runs():
            total += len(run)
            if hits:
                part = bucket_slice(run, bucket)
                for column, seen in hits.items():
                    seen |= contains(part, wanted[column])
            del run
        looked_up = max(looked_up, total)
        for column, seen in hits.items():
            found[column] += int(seen.sum())
    return {c: n for c, n in found.items() if n}, max(looked_up, 0)


def leaked_originals(
    raw: pd.DataFrame,
    out: pd.DataFrame,
    policy: dict[str, ColumnPolicy],
    source_prints: np.ndarray,
    key: AnonKey,
) -> CheckOutcome:
    """All leak checks on one batch (TableAudit runs the same over a whole table)."""
    hits = _added(
        row_leaks(raw, out, policy), count_known(passthrough_prints(out, policy, key), [source_prints])
    )
    return _leak_outcome(hits, policy, len(source_prints))


def _added(*counts: dict[str, int]) -> dict[str, int]:
    total: dict[str, int] = {}
    for count in counts:
        for column, n in count.items():
            total[column] = total.get(column, 0) + n
    return total


def _leak_outcome(
    hits: dict[str, int], policy: dict[str, ColumnPolicy], fingerprint_count: int
) -> CheckOutcome:
    """Names each leaking table.column with its count, never a value."""
    total = sum(hits.values())
    where = ", ".join(f"{policy[c].qualified} ({n})" for c, n in sorted(hits.items()))
    return CheckOutcome(
        "no_leaked_originals",
        total == 0,
        "no original identifying value found in the output"
        if total == 0
        else f"{total} original identifying value(s) found in {where}; anonymize that column "
        "(its class and rule in the policy)",
        {"leaked_values": total, "fingerprints": fingerprint_count} | ({"leaked_in": where} if where else {}),
    )


def same_as_original_counts(
    raw: pd.DataFrame, out: pd.DataFrame, policy: dict[str, ColumnPolicy]
) -> dict[str, tuple[int, int]]:
    """(rows whose pii output equals its own original, rows with both present), per column."""
    counts = {}
    for column, p in policy.items():
        if p.cls != "pii" or p.rule in ("keep", "null"):
            continue
        before, after = raw[column], out[column]
        both = before.notna().to_numpy() & after.notna().to_numpy()
        total = int(both.sum())
        if total:
            counts[column] = (_same_count(before, after, both), total)
    return counts


def _same_count(before: pd.Series, after: pd.Series, both: np.ndarray) -> int:
    """Rows where both values are present (`both`) and equal. Text and numpy values of one type
    are compared whole, missing ones masked, so no column is copied to select the present rows."""
    if _text(before) and _text(after):  # Arrow-backed, or free text's Python strings
        return pc.sum(pc.equal(text_array(before), text_array(after))).as_py() or 0
    if before.dtype == after.dtype and isinstance(before.dtype, np.dtype) and before.dtype.kind in "iufbmM":
        return int(((before.to_numpy() == after.to_numpy()) & both).sum())
    if before.dtype == after.dtype and isinstance(before.dtype, pd.DatetimeTZDtype | pd.ArrowDtype):
        return pc.sum(pc.equal(pa.array(before.array), pa.array(after.array))).as_py() or 0
    before, after = before[both], after[both]
    if before.dtype != after.dtype:  # e.g. date objects in, datetime64 out: compare as text
        before, after = before.astype(str), after.astype(str)
    return int((before.to_numpy() == after.to_numpy()).sum())


def _text(values: pd.Series) -> bool:
    """Text held by Arrow, or only Python strings (what free text and JSON rules hand back)."""
    return isinstance(values.dtype, pd.StringDtype) or (
        values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) == "string"
    )


def same_as_original_share(
    raw: pd.DataFrame, out: pd.DataFrame, policy: dict[str, ColumnPolicy]
) -> dict[str, float]:
    """Share of rows whose pii output equals its own original, per column (reported, by design)."""
    return {
        c: round(same / total, 6) for c, (same, total) in same_as_original_counts(raw, out, policy).items()
    }


def k_anonymity(frame: pd.DataFrame, quasi: list[str], k: int) -> CheckOutcome:
    sizes = group_sizes(frame[quasi]) if quasi else pd.Series(dtype="int64")
    return k_anonymity_from_counts(sizes, quasi, k)


def group_sizes(frame: pd.DataFrame) -> pd.Series:
    """Rows per combination of the columns' text, exactly `frame.astype(str).value_counts(dropna=False)`.
    Columns whose values are equal exactly when their texts are (text, integers, booleans, naive
    datetimes) are counted as they are and only their distinct values made text: a datetime column's
    text depends only on its set of values, which the distinct ones share."""
    as_is = [c for c in frame.columns if _text_faithful(frame[c].dtype)]
    if len(as_is) < len(frame.columns):
        frame = frame.astype({c: str for c in frame.columns if c not in as_is})
    sizes = frame.value_counts(dropna=False)
    if not as_is:
        return sizes
    keys = sizes.index.to_frame(index=False).astype(dict.fromkeys(as_is, str))
    return sizes.groupby(pd.MultiIndex.from_frame(keys), dropna=False).sum()


def _text_faithful(dtype: object) -> bool:
    """Whether two values of `dtype` are equal exactly when their texts are (not floats: -0.0 == 0.0;
    not objects: 1 == 1.0 == True)."""
    return isinstance(dtype, pd.StringDtype) or (isinstance(dtype, np.dtype) and dtype.kind in "iubM")


def k_anonymity_from_counts(sizes: pd.Series, quasi: list[str], k: int) -> CheckOutcome:
    if sizes.empty:
        return k_anonymity_outcome(None, 0, quasi, k)
    return k_anonymity_outcome(int(sizes.min()), int((sizes < k).sum()), quasi, k)


def k_anonymity_outcome(smallest: int | None, below_k: int, quasi: list[str], k: int) -> CheckOutcome:
    """`smallest`: the smallest group's rows (None: no rows); `below_k`: how many groups have fewer than k."""
    if not quasi or smallest is None:
        return CheckOutcome("k_anonymity", True, "no quasi-identifiers", {"k": k, "smallest_group": -1})
    return CheckOutcome(
        "k_anonymity",
        smallest >= k,
        f"smallest group over ({', '.join(quasi)}) has {smallest} rows (k={k})",
        {"k": k, "smallest_group": smallest, "groups_below_k": below_k},
    )


GROUPS_IN_MEMORY = 1 << 20  # GroupSizes spills past this many groups


class GroupSizes:
    """Rows per combination of the quasi-identifiers, as `group_sizes` counts them, with bounded memory.

    Each batch's counts are merged in memory up to `limit` groups. Past it they are spilled: split by
    a hash of the combination into `buckets` Parquet files (anonymized, generalized values and counts,
    under a private directory in `spill_dir`), so that every combination's counts land in one bucket;
    the groups are then summed and measured one bucket at a time. Exact: no hash stands for a group.
    """

    def __init__(self, spill_dir: Path | None = None, *, limit: int | None = None, buckets: int = 64) -> None:
        self._spill_dir, self._limit, self._buckets = spill_dir, limit or GROUPS_IN_MEMORY, buckets
        self._sizes: pd.Series | None = None
        self._dir: Path | None = None
        self._spills = 0

    def add(self, frame: pd.DataFrame) -> None:
        if not len(frame) or not len(frame.columns):
            return
        sizes = group_sizes(frame)
        self._sizes = sizes if self._sizes is None else self._sizes.add(sizes, fill_value=0)
        if len(self._sizes) > self._limit:
            self._spill()

    def smallest(self, k: int) -> tuple[int | None, int]:
        """(rows of the smallest group, or None without rows; groups with fewer than k rows)."""
        if self._dir is None:
            if self._sizes is None or self._sizes.empty:
                return None, 0
            return int(self._sizes.min()), int((self._sizes < k).sum())
        self._spill()
        smallest, below = None, 0
        try:
            for bucket in range(self._buckets):
                files = sorted(self._dir.glob(f"*-{bucket:03d}.parquet"))
                if not files:
                    continue
                counts = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
                keys = [c for c in counts.columns if c != "rows"]
                sizes = counts.groupby(keys, dropna=False, sort=False)["rows"].sum()
                least = int(sizes.min())
                smallest = least if smallest is None else min(smallest, least)
                below += int((sizes < k).sum())
        finally:
            self.close()
        return smallest, below

    def close(self) -> None:
        import shutil

        self._sizes = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _spill(self) -> None:
        import tempfile

        if self._sizes is None or self._sizes.empty:
            return
        if self._dir is None:
            if self._spill_dir is not None:
                Path(self._spill_dir).mkdir(parents=True, exist_ok=True)
            self._dir = Path(tempfile.mkdtemp(prefix="groups-", dir=self._spill_dir))
        keys = self._sizes.index.to_frame(index=False).astype(str)
        keys.columns = [f"q{i}" for i in range(len(keys.columns))]
        counts = keys.assign(rows=self._sizes.to_numpy().astype(np.int64))
        bucket = pd.util.hash_pandas_object(keys, index=False).to_numpy() % np.uint64(self._buckets)
        for number, part in counts.groupby(bucket, sort=False):
            part.to_parquet(self._dir / f"{self._spills:05d}-{int(number):03d}.parquet", index=False)
        self._spills += 1
        self._sizes = None


class TableAudit:
    """The blocking checks of one table, accumulated batch by batch so memory stays bounded.

    Keeps only counts and 64-bit keyed hashes (of unique keys, of what passes through), never
    values. `source_prints` yields the source's identifying fingerprints in sorted runs; it is only
    called at the end, and only when something passed through, so a table whose rules all generate
    or scrub never reads them.
    """

    def __init__(
        self,
        table: Table,
        policy: dict[str, ColumnPolicy],
        quasi: list[str],
        source_prints: Callable[[], Iterable[np.ndarray]],
        key: AnonKey,
        k: int,
        spill_dir: Path | None = None,
    ) -> None:
        self.table, self.policy, self.quasi, self.k = table, policy, quasi, k
        self.source_prints, self.key = source_prints, key
        self.rows = 0
        self.columns: list[str] | None = None
        # Keys whose columns are all kept are the source's own, unique by its constraint: an identity
        # cannot create duplicates (and the target's constraint rejects any at publish, atomically).
        self.unique_sets = sorted(
            cols
            for cols in {(c,) for c in table.unique_columns()}
            | set(table.unique)
            | {table.primary_key} - {()}
            if any(c not in policy or policy[c].rule != "keep" for c in cols)
        )
        self._spill_dir = spill_dir
        self._unique_hashes = {u: SpilledHashes(spill_dir) for u in self.unique_sets}
        self._groups = GroupSizes(spill_dir)
        self.leaks: dict[str, int] = {}
        self._passthrough: dict[str, SpilledHashes] = {}
        self._same: dict[str, tuple[int, int]] = {}

    def add(self, raw: pd.DataFrame | None, out: pd.DataFrame, columns: list[str] | None = None) -> None:
        """`raw`: the batch's originals; None for output checked against them already (parts being
        combined), so only the table-wide checks run. `columns`: the output's, when `out` holds only
        those the table-wide checks read."""
        self.rows += len(out)
        if self.columns is None:
            self.columns = list(columns or out.columns)
        for cols in self.unique_sets:
            subset = out[list(cols)].dropna()
            if subset.empty:
                continue
            self._unique_hashes[cols].add(_row_keys(subset))
        if self.quasi and len(out):
            self._groups.add(out[self.quasi])
        if raw is None:
            return
        if len(out):
            self.leaks = _added(self.leaks, row_leaks(raw, out, self.policy))
            for column, prints in passthrough_prints(out, self.policy, self.key).items():
                self._passthrough.setdefault(column, SpilledHashes(self._spill_dir)).add(prints)
        for column, (same, total) in same_as_original_counts(raw, out, self.policy).items():
            seen, rows = self._same.get(column, (0, 0))
            self._same[column] = (seen + same, rows + total)

    def outcomes(self, source_rows: int) -> list[CheckOutcome]:
        """The verdicts; the audit's spilled sets are dropped as they are read."""
        dupes = {}
        for cols, hashes in self._unique_hashes.items():
            repeats = hashes.added - hashes.distinct()
            hashes.close()
            if repeats:
                dupes[",".join(cols)] = repeats
        unique = CheckOutcome(
            "unique_columns",
            not dupes,
            "unique and primary keys stay unique"
            if not dupes
            else "duplicates in " + ", ".join(f"{k} ({v})" for k, v in dupes.items()),
            {"duplicate_keys": sum(dupes.values())},
        )
        try:
            known, looked_up = count_known_spilled(self._passthrough, self.source_prints)
        finally:
            for hashes in self._passthrough.values():
                hashes.close()
        leak = _leak_outcome(_added(self.leaks, known), self.policy, looked_up)
        smallest, below_k = self._groups.smallest(self.k)
        return [
            row_count_kept(source_rows, self.rows),
            columns_classified(self.table, self.columns or self.table.column_names, self.policy),
            unique,
            leak,
            k_anonymity_outcome(smallest, below_k, self.quasi, self.k),
        ]

    @property
    def same_as_original(self) -> dict[str, float]:
        return {c: round(s / t, 6) for c, (s, t) in self._same.items() if t}
