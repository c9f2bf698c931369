"""Built-in privacy and integrity checks: counts out, never values; each can fail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml
from support import target_tables

from data_pipeline import checks
from data_pipeline.config import DEFAULT_POLICY, Settings
from data_pipeline.keys import AnonKey
from data_pipeline.policy import ColumnPolicy
from data_pipeline.schema import Column, ForeignKey, Table

KEY = AnonKey(b"a-test-key-0123456789")
NOTES = Table(
    "notes",
    (
        Column("id", "INTEGER", "integer", False, primary_key=True),
        Column("body", "TEXT", "string", True),
        Column("owner", "INTEGER", "integer", True),
    ),
    ("id",),
    (ForeignKey(("owner",), "notes", ("id",)),),
    (),
)
POLICY = {
    "id": ColumnPolicy("notes", "id", "key", "keep", "keep"),
    "body": ColumnPolicy("notes", "body", "pii", "free_text", "free_text"),
    "owner": ColumnPolicy("notes", "owner", "key", "keep", "notes.id"),
}


def test_leak_check_finds_an_original_email_inside_free_text() -> None:
    raw = pd.DataFrame(
        {"id": [1, 2], "body": ["mail jane.doe@corp.example now", "nothing"], "owner": [None, 1]}
    )
    prints = np.unique(
        np.concatenate(
            [checks.fingerprints(v, KEY) for v in checks.source_values_to_protect(raw, NOTES, POLICY)]
        )
    )
    leaked = pd.DataFrame({"id": [1, 2], "body": ["see JANE.DOE@corp.example", "x"], "owner": [None, 1]})
    clean = pd.DataFrame({"id": [1, 2], "body": ["see someone@example.com", "x"], "owner": [None, 1]})
    assert not checks.leaked_originals(raw, leaked, POLICY, prints, KEY).passed
    outcome = checks.leaked_originals(raw, clean, POLICY, prints, KEY)
    assert outcome.passed and outcome.metadata["leaked_values"] == 0
    assert "jane" not in repr(outcome)


def test_an_identifier_surviving_in_its_own_rows_text_is_counted_however_it_is_written() -> None:
    """Found in the row's raw text and again in its output, compared folded (case, separators): the
    phone rewritten with dots and the shouted e-mail count; the same phone in another row does not."""
    raw = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "body": ["call +1 415 555 0142 or jane.doe@corp.example", "nothing here", None],
            "owner": [None, 1, 1],
        }
    )
    out = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "body": ["ring +1.415.555.0142, JANE.DOE@CORP.EXAMPLE", "call +1 415 555 0142", "x"],
            "owner": [None, 1, 1],
        }
    )
    assert checks.row_leaks(raw, out, POLICY) == {"body": 2}
    scrubbed = out.assign(body=["ring +1 202 555 0199, someone@example.com", "nothing here", "x"])
    assert checks.row_leaks(raw, scrubbed, POLICY) == {}


def test_a_column_misclassified_safe_is_caught_by_the_global_fingerprints() -> None:
    policy = {**POLICY, "body": ColumnPolicy("notes", "body", "safe", "keep", "keep")}
    raw = pd.DataFrame({"id": [1], "body": ["card 4111 1111 1111 1111"], "owner": [None]})
    prints = np.unique(
        np.concatenate(
            [checks.fingerprints(v, KEY) for v in checks.source_values_to_protect(raw, NOTES, policy)]
        )
    )
    assert not checks.leaked_originals(raw, raw, policy, prints, KEY).passed


def test_a_generated_value_equal_to_another_persons_original_is_not_a_leak() -> None:
    people = Table(
        "p",
        (
            Column("id", "INTEGER", "integer", False, primary_key=True),
            Column("phone", "TEXT", "string", True),
        ),
        ("id",),
        (),
        (),
    )
    policy = {
        "id": ColumnPolicy("p", "id", "key", "keep", "keep"),
        "phone": ColumnPolicy("p", "phone", "pii", "phone", "phone"),
    }
    raw = pd.DataFrame({"id": [1, 2], "phone": ["+1 555 0100", "+1 555 0199"]})
    prints = np.unique(
        np.concatenate(
            [checks.fingerprints(v, KEY) for v in checks.source_values_to_protect(raw, people, policy)]
        )
    )
    swapped = pd.DataFrame({"id": [1, 2], "phone": ["+1 555 0199", "+1 555 0123"]})
    assert checks.leaked_originals(raw, swapped, policy, prints, KEY).passed
    same_row = pd.DataFrame({"id": [1, 2], "phone": ["+1 555 0100", "+1 555 0123"]})
    assert not checks.leaked_originals(raw, same_row, policy, prints, KEY).passed


def test_fingerprints_depend_on_the_key() -> None:
    values = pd.Series(["jane.doe@corp.example"])
    assert not np.array_equal(
        checks.fingerprints(values, KEY), checks.fingerprints(values, AnonKey(b"other-key-0123456789"))
    )


def test_foreign_keys_resolve_with_self_reference_and_nulls() -> None:
    ok = pd.DataFrame({"id": [1, 2, 3], "owner": [np.nan, 1.0, 2.0]})  # ints with NULL read back as float
    assert checks.foreign_keys_resolve(ok, NOTES, {"notes": ok}).passed
    broken = pd.DataFrame({"id": [1, 2], "owner": [np.nan, 7.0]})
    outcome = checks.foreign_keys_resolve(broken, NOTES, {"notes": broken})
    assert not outcome.passed and outcome.metadata["dangling"] == 1


def test_audit_detects_duplicate_keys_across_batches() -> None:
    tokens = {**POLICY, "id": ColumnPolicy("notes", "id", "key", "token", "notes.id")}
    audit = checks.TableAudit(NOTES, tokens, [], list, KEY, 5)
    first = pd.DataFrame({"id": [1, 2], "body": ["a", "b"], "owner": [None, None]})
    audit.add(first, first)
    audit.add(first, first)  # the same keys again in a later batch
    outcomes = {o.name: o for o in audit.outcomes(source_rows=4)}
    assert not outcomes["unique_columns"].passed
    assert outcomes["row_count_kept"].passed


def test_k_anonymity_reports_the_smallest_group() -> None:
    frame = pd.DataFrame({"zip": ["10", "10", "10", "20"], "year": [1980, 1980, 1980, 1990]})
    outcome = checks.k_anonymity(frame, ["zip", "year"], k=2)
    assert not outcome.passed and outcome.metadata["smallest_group"] == 1
    assert checks.k_anonymity(frame, ["year"], k=1).passed


def test_a_k_anonymity_failure_publishes_nothing(run_cli, settings: Settings, tmp_path) -> None:
    policy = yaml.safe_load(DEFAULT_POLICY.read_text())
    columns = policy["tables"]["customers"]["columns"]
    columns["birth_date"] = {"class": "quasi", "rule": "generalize_date", "to": "month"}
    columns["postal_code"] = {"class": "quasi", "rule": "generalize_postal", "keep": 3}
    path = tmp_path / "quasi.yaml"
    path.write_text(yaml.safe_dump(policy))
    result = run_cli("run", "--policy", str(path))
    assert result.exit_code == 1, result.output
    assert "k_anonymity" in result.output and "nothing was published" in result.output
    assert target_tables(settings) == []


def test_the_source_fingerprints_are_read_only_when_text_passed_through() -> None:
    """Free text and generating rules are checked row by row; a kept text column is looked up in the
    source's fingerprints, one sorted run at a time."""
    raw = pd.DataFrame({"id": [1, 2], "body": ["call jane.doe@corp.example", "hi"], "owner": [None, 1]})
    reads = []

    def source_runs():
        reads.append(1)
        return [
            checks.fingerprints(pd.Series(["nobody@corp.example"]), KEY),
            checks.fingerprints(raw["body"], KEY),
        ]

    scrubbed = checks.TableAudit(NOTES, POLICY, [], source_runs, KEY, 5)
    scrubbed.add(raw, raw.assign(body=["call someone@example.org", "hi"]))
    assert {o.name: o for o in scrubbed.outcomes(2)}["no_leaked_originals"].passed and not reads
    kept = {**POLICY, "body": ColumnPolicy("notes", "body", "safe", "keep", "keep")}
    leaking = checks.TableAudit(NOTES, kept, [], source_runs, KEY, 5)
    leaking.add(raw, raw)
    outcome = {o.name: o for o in leaking.outcomes(2)}["no_leaked_originals"]
    assert not outcome.passed and outcome.metadata["leaked_values"] >= 1 and reads == [1]


def test_kept_keys_are_left_to_the_source_constraint() -> None:
    """An identity cannot create duplicates: only keys some rule rewrites are hashed and counted."""
    assert checks.TableAudit(NOTES, POLICY, [], list, KEY, 5).unique_sets == []
    tokens = {**POLICY, "id": ColumnPolicy("notes", "id", "key", "token", "notes.id")}
    assert checks.TableAudit(NOTES, tokens, [], list, KEY, 5).unique_sets == [("id",)]


def test_group_sizes_are_those_of_each_values_text() -> None:
    """Counted on the values, then made text: the same groups as counting the text itself, for
    datetimes (whose text depends on the whole column), NULLs, and values equal but printed apart."""
    frames = [
        pd.DataFrame({"d": pd.to_datetime(["2020-01-01", None, "2020-01-01", "2021-01-01"])}),
        pd.DataFrame({"d": pd.to_datetime(["2020-01-01", "2020-01-01 10:00", None], format="mixed")}),
        pd.DataFrame({"zip": pd.Series(["10", None, "10"], dtype="str"), "n": [1, 2, 1]}),
        pd.DataFrame({"o": pd.Series([1, 1.0, True, None, np.nan, "1"], dtype=object), "b": [True] * 6}),
        pd.DataFrame({"f": [0.0, -0.0, np.nan, 1.5], "i": pd.array([1, 1, None, None], dtype="Int64")}),
    ]
    for frame in frames:
        expected = frame.astype(str).value_counts(dropna=False)
        assert _as_text(checks.group_sizes(frame)) == _as_text(expected), frame.dtypes


def _as_text(sizes: pd.Series) -> list[tuple[str, int]]:
    return sorted((str(group), int(rows)) for group, rows in sizes.items())


def test_unique_keys_hash_alike_as_arrow_text_and_python_strings() -> None:
    """A duplicate is found whichever way a batch holds its text."""
    arrow = pd.DataFrame({"k": pd.Series(["a", "é", "日本"], dtype="str")})
    python = pd.DataFrame({"k": pd.Series(["日本", "x"], dtype=object)})
    assert checks._row_keys(arrow)[2] == checks._row_keys(python)[0]
    tokens = {**POLICY, "id": ColumnPolicy("notes", "id", "key", "token", "notes.id")}
    audit = checks.TableAudit(NOTES, tokens, [], list, KEY, 5)
    for ids in (arrow["k"], python["k"]):
        batch = pd.DataFrame({"id": ids, "body": "b", "owner": None})
        audit.add(batch, batch)
    assert {o.name: o for o in audit.outcomes(5)}["unique_columns"].metadata["duplicate_keys"] == 1


def test_timestamp_keys_resolve_whatever_unit_and_zone_each_side_was_read_in() -> None:
    """A composite key with a timestamp (orders (id, placed_at)) resolves by instant, not by text."""
    stamps = ["2020-01-01 10:00:00.000001", "2021-06-30 00:00:00.000000"]
    child = pd.DataFrame({"id": [1, 2, 2], "at": pd.to_datetime([*stamps, None]).astype("datetime64[ns]")})
    parent = pd.DataFrame(
        {"id": [1.0, 2.0], "at": pd.to_datetime(stamps).tz_localize("UTC").tz_convert("Asia/Tokyo")}
    )
    assert checks.dangling_references([child], [parent]) == 0
    later = parent.assign(at=parent["at"] + pd.Timedelta(microseconds=1))
    assert checks.dangling_references([child], [later]) == 2


def test_normalize_keeps_lowercase_ascii_letters_and_digits() -> None:
    values = pd.Series(["+1 (555) 010-99", "Jane.DOE@Corp.example", "", "--", "Zoë Ünal 42", None, "ok"])
    expected = ["155501099", "janedoecorpexample", "", "", "zonal42", "ok"]
    assert checks.normalize(values).to_pylist() == expected
    assert checks.normalize(values.iloc[4:]).to_pylist() == expected[4:]  # a slice of a buffer


def test_normalize_of_a_frame_from_a_sliced_table() -> None:
    """Issue 19: pandas hands back a slice of an Arrow table as strings whose offsets do not start at 0;
    Arrow's ascii_lower made an invalid array of them, and masked_text wrote past its buffer."""
    table = pa.table({"s": pa.array([f"Name{i} X" for i in range(1000)], pa.string())})
    values = table.slice(3, 300).to_pandas()["s"]
    folded = checks.normalize(values)
    folded.validate(full=True)
    assert folded.to_pylist() == [f"name{i}x" for i in range(3, 303)]


def test_same_as_original_counts_only_rows_with_both_values() -> None:
    policy = {c: ColumnPolicy("t", c, "pii", "token", "token") for c in ("a", "b")}
    raw = pd.DataFrame({"a": pd.Series(["x", None, "y", "z"], dtype="str"), "b": [1.0, np.nan, 2.0, 3.0]})
    out = pd.DataFrame({"a": pd.Series(["x", None, None, "q"], dtype="str"), "b": [1.0, np.nan, 5.0, np.nan]})
    assert checks.same_as_original_counts(raw, out, policy) == {"a": (1, 2), "b": (1, 2)}


@pytest.mark.parametrize(
    ("raw", "out"),
    [
        (pd.Series(["x", None, "y", "z"], dtype="str"), pd.Series(["x", "w", None, "z"], dtype=object)),
        (pd.Series(["x", None, "y", "z"], dtype=object), pd.Series(["x", "w", None, "q"], dtype="str")),
        (
            pd.Series(pd.to_datetime(["2020-01-01", None, "2021-01-01", "2022-01-01"], utc=True)),
            pd.Series(pd.to_datetime(["2020-01-01", "2020-02-02", None, "2022-01-03"], utc=True)),
        ),
        (pd.Series([1, None, 2, 3], dtype="Int64"), pd.Series([1, 5, None, 3], dtype="Int64")),
        (
            pd.Series([{"a": 1}, None, [1], "s"], dtype=object),
            pd.Series([{"a": 1}, 1, None, "t"], dtype=object),
        ),
    ],
    ids=["arrow-text-vs-python", "python-vs-arrow-text", "zoned-timestamps", "nullable-ints", "documents"],
)
def test_same_as_original_counts_equal_present_values_whatever_each_side_holds(raw, out) -> None:
    """What each side holds (Arrow text, Python strings, zoned timestamps, documents) changes only
    how values are compared, never which count as the same."""
    policy = {"c": ColumnPolicy("t", "c", "pii", "token", "token")}
    both = [(b, a) for b, a in zip(raw, out, strict=True) if not pd.isna(b) and not pd.isna(a)]
    expected = (sum(str(b) == str(a) for b, a in both), len(both))
    assert checks.same_as_original_counts(pd.DataFrame({"c": raw}), pd.DataFrame({"c": out}), policy) == {
        "c": expected
    }


def test_the_audit_and_the_foreign_keys_spill_and_give_the_same_verdicts(tmp_path, monkeypatch) -> None:
    """With buffers of a few rows every set spills to disk (tmp_path), and the verdicts are those of
    the in-memory sets: duplicate keys across batches, leaked fingerprints, k-anonymity groups, and
    dangling references. Nothing is left in the spill directory."""
    from data_pipeline import hashset

    monkeypatch.setattr(hashset, "SPILL_BUFFER", 4)
    monkeypatch.setattr(checks, "GROUPS_IN_MEMORY", 2)
    tokens = {
        **POLICY,
        "id": ColumnPolicy("notes", "id", "key", "token", "notes.id"),
        "body": ColumnPolicy("notes", "body", "safe", "keep", "keep"),
    }
    originals = [f"person{i}@corp.example" for i in range(40)]

    def source_runs():
        return [
            checks.fingerprints(pd.Series(originals[:20]), KEY),
            checks.fingerprints(pd.Series(originals), KEY),
        ]

    spill = tmp_path / "spill"
    audit = checks.TableAudit(NOTES, tokens, ["owner"], source_runs, KEY, 3, spill_dir=spill)
    for start in range(0, 40, 8):  # 5 batches; ids 0..39 then 0 and 1 again; 3 leaked bodies
        ids = list(range(start, start + 8))
        body = [originals[i] if i in (3, 17, 33) else f"fake{i}@example.org" for i in ids]
        frame = pd.DataFrame({"id": ids, "body": body, "owner": [i // 4 for i in ids]})
        audit.add(frame, frame)
    again = pd.DataFrame({"id": [0, 1], "body": ["x@example.org", "y@example.org"], "owner": [99, 99]})
    audit.add(again, again)
    outcomes = {o.name: o for o in audit.outcomes(source_rows=42)}
    assert outcomes["unique_columns"].metadata["duplicate_keys"] == 2
    assert outcomes["no_leaked_originals"].metadata["leaked_values"] == 3
    k = outcomes["k_anonymity"].metadata  # owners 0..9 have 4 rows each, 99 has 2
    assert (k["smallest_group"], k["groups_below_k"]) == (2, 1)
    assert list(spill.iterdir()) == []

    parents = [pd.DataFrame({"id": range(i, i + 10)}) for i in range(0, 100, 10)]
    children = [pd.DataFrame({"owner": [np.nan, 5.0, 150.0, 99.0, 150.0]})] * 3
    assert checks.dangling_references(children, parents, spill) == 6
    assert checks.dangling_references(children[:1], [], spill) == 4  # no parent rows: every key
    assert list(spill.iterdir()) == []
