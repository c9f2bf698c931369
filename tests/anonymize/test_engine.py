"""The engine: the same mapping whatever the chunking and row order, FK columns mapped exactly like the
keys they reference, outputs that fit their columns, and a pinned mapping for a fixed key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from anon_helpers import KEY, OTHER_KEY, anonymize, column, table

from data_pipeline import checks
from data_pipeline.anonymize.engine import TableAnonymizer
from data_pipeline.anonymize.pools import Pools
from data_pipeline.anonymize.registry import RULES
from data_pipeline.errors import BadInput, ChecksFailed
from data_pipeline.policy import resolve
from data_pipeline.schema import Schema, reflect

PEOPLE = {
    "id": {"class": "key", "rule": "keep"},
    "first_name": {"class": "pii", "rule": "first_name"},
    "email": {"class": "pii", "rule": "email"},
    "phone": {"class": "pii", "rule": "phone"},
    "city": {"class": "pii", "rule": "city"},
    "joined": {"class": "pii", "rule": "date_shift", "subject": "id"},
}


def _people(n: int = 5000) -> tuple[Schema, pd.DataFrame]:
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({
        "id": np.arange(n),
        "first_name": rng.choice(["Ann", "Bob", "Chloé", "Dieter", None], n),
        "email": [f"p{i}@shop.example" for i in range(n)],
        "phone": [None if i % 7 == 0 else f"+1 555 {i % 1000:03d} {i:04d}" for i in range(n)],
        "city": rng.choice(["Lyon", "Leeds", "Köln"], n),
        "joined": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="min"),
    })  # fmt: skip
    spec = table(
        "people",
        column("id", "integer", primary_key=True),
        column("first_name", length=50),
        column("email", length=120),
        column("phone", length=30),
        column("city", length=60),
        column("joined", "datetime"),
        unique=(("email",),),
    )
    return Schema((spec,)), frame


def test_the_mapping_ignores_chunking_and_row_order() -> None:
    schema, frame = _people()
    doc = {"tables": {"people": {"columns": PEOPLE}}}
    whole = anonymize(schema, doc, {"people": frame})["people"]
    shuffled = frame.sample(frac=1, random_state=2)
    chunked = anonymize(schema, doc, {"people": shuffled}, chunk=777)["people"].sort_index()
    pd.testing.assert_frame_equal(whole, chunked, check_dtype=False)
    again = anonymize(schema, doc, {"people": frame})["people"]  # another run
    pd.testing.assert_frame_equal(whole, again)
    other = anonymize(schema, doc, {"people": frame}, key=OTHER_KEY)["people"]
    assert (other["email"] != whole["email"]).all() and (other["joined"] != whole["joined"]).mean() > 0.9


def test_arrow_text_in_several_chunks_maps_like_python_text() -> None:
    """What the vault hands over (Arrow-backed text, NULLs in the validity bitmap, several chunks
    after a concat) takes the engine's Arrow paths; the mapping is the same as for Python objects."""
    schema, frame = _people()
    doc = {"tables": {"people": {"columns": PEOPLE}}}
    text = ["first_name", "email", "phone", "city"]
    arrow = frame.astype(dict.fromkeys(text, "str"))
    chunked = pd.concat([arrow.iloc[:1234], arrow.iloc[1234:]])
    assert pa.array(chunked["phone"].array).num_chunks == 2
    expected = anonymize(schema, doc, {"people": frame})["people"]
    for source in (arrow, chunked):
        out = anonymize(schema, doc, {"people": source})["people"]
        assert out["phone"].isna().sum() == frame["phone"].isna().sum() > 0
        pd.testing.assert_frame_equal(out.astype(object), expected.astype(object), check_dtype=False)


def test_columns_sharing_a_domain_map_alike_and_others_do_not() -> None:
    spec = table("t", column("a"), column("b"), column("c"))
    frame = pd.DataFrame({"a": ["x@y.example"], "b": ["x@y.example"], "c": ["x@y.example"]})
    doc = {"tables": {"t": {"columns": {
        "a": {"class": "pii", "rule": "email"},
        "b": {"class": "pii", "rule": "email"},
        "c": {"class": "pii", "rule": "email", "domain": "staff_email"},
    }}}}  # fmt: skip
    out = anonymize(Schema((spec,)), doc, {"t": frame})["t"]
    assert out["a"][0] == out["b"][0] != out["c"][0]


def test_nothing_of_a_pool_rule_equals_its_original(run_rule) -> None:
    from data_pipeline.anonymize.pools import pool

    names = pd.Series(pool("en_US", "first_name"))
    raw = pd.DataFrame({"first_name": names})
    out = pd.DataFrame({"first_name": run_rule("first_name", names)})
    policy = resolve(
        Schema((table("t", column("first_name")),)),
        {"tables": {"t": {"columns": {"first_name": {"class": "pii", "rule": "first_name"}}}}},
    )
    assert checks.same_as_original_share(raw, out, policy.for_table("t")) == {"first_name": 0.0}


@pytest.fixture
def keyed_schema() -> Schema:
    """A text natural key with a self reference, and a composite FK onto a composite PK."""
    md = sa.MetaData()
    sa.Table(
        "accounts",
        md,
        sa.Column("code", sa.String(20), primary_key=True),
        sa.Column("parent", sa.String(20), sa.ForeignKey("accounts.code")),
    )
    sa.Table(
        "orders",
        md,
        sa.Column("account", sa.String(20), sa.ForeignKey("accounts.code"), primary_key=True),
        sa.Column("number", sa.String(10), primary_key=True),
    )
    sa.Table(
        "shipments",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account", sa.String(20)),
        sa.Column("order_number", sa.String(10)),
        sa.ForeignKeyConstraint(["account", "order_number"], ["orders.account", "orders.number"]),
    )
    engine = sa.create_engine("sqlite://")
    md.create_all(engine)
    return reflect(engine)


def test_foreign_keys_map_exactly_like_their_keys(keyed_schema: Schema) -> None:
    frames = {
        "accounts": pd.DataFrame({"code": ["ACME", "ACME-EU", "INITECH"], "parent": [None, "ACME", "ACME"]}),
        "orders": pd.DataFrame({"account": ["ACME", "ACME", "INITECH"], "number": ["1", "2", "1"]}),
        "shipments": pd.DataFrame(
            {"id": [1, 2, 3], "account": ["ACME", "INITECH", "ACME"], "order_number": ["2", "1", "1"]}
        ),
    }
    doc = {
        "tables": {
            "accounts": {
                "columns": {
                    "code": {"class": "key", "rule": "token", "prefix": "acc_"},
                    "parent": {"class": "key", "rule": "keep"},
                }
            },
            "orders": {
                "columns": {
                    "account": {"class": "key", "rule": "keep"},
                    "number": {"class": "key", "rule": "token"},
                }
            },
            "shipments": {
                "columns": {
                    "id": {"class": "key", "rule": "keep"},
                    "account": {"class": "key", "rule": "keep"},
                    "order_number": {"class": "key", "rule": "keep"},
                }
            },
        }
    }
    out = anonymize(keyed_schema, doc, frames)
    code = dict(zip(frames["accounts"]["code"], out["accounts"]["code"], strict=True))
    assert all(v.startswith("acc_") and k not in v for k, v in code.items())
    assert out["accounts"]["parent"].tolist()[1:] == [code["ACME"], code["ACME"]]  # self reference
    assert pd.isna(out["accounts"]["parent"][0])
    assert out["orders"]["account"].tolist() == [code["ACME"], code["ACME"], code["INITECH"]]
    pairs = set(zip(out["orders"]["account"], out["orders"]["number"], strict=True))
    shipped = set(zip(out["shipments"]["account"], out["shipments"]["order_number"], strict=True))
    assert shipped <= pairs and len(shipped) == 3  # the composite FK resolves
    for name in ("orders", "shipments"):
        parents = {fk.ref_table: out[fk.ref_table] for fk in keyed_schema.table(name).foreign_keys}
        assert checks.foreign_keys_resolve(out[name], keyed_schema.table(name), parents).passed


def test_an_fk_column_cannot_map_differently_from_its_key(keyed_schema: Schema) -> None:
    doc = {
        "tables": {
            "accounts": {
                "columns": {
                    "code": {"class": "key", "rule": "token"},
                    "parent": {"class": "pii", "rule": "username"},
                }
            },
            "orders": {
                "columns": {
                    "account": {"class": "key", "rule": "keep"},
                    "number": {"class": "key", "rule": "keep"},
                }
            },
            "shipments": {
                "columns": {c: {"class": "key", "rule": "keep"} for c in ("id", "account", "order_number")}
            },
        }
    }
    with pytest.raises(BadInput, match="FK columns must map like their key"):
        resolve(keyed_schema, doc)


def test_outputs_fit_the_column(run_rule) -> None:
    long_names = pd.Series(["x" * 5, None])
    assert run_rule("street_address", long_names, length=6).str.len().max() <= 6  # cut: not unique
    with pytest.raises(ChecksFailed, match="longer than VARCHAR"):
        run_rule("token", pd.Series(["a"]), length=5, unique=True, prefix="toolong_")
    with pytest.raises(ChecksFailed, match="NULL in a NOT NULL column"):
        run_rule("constant", pd.Series(["a"]), nullable=False, value=None)
    with pytest.raises(ChecksFailed, match="produced text for a INTEGER column"):
        run_rule("constant", pd.Series([1, 2]), cls="safe", value="x")
    ints = run_rule("token", pd.Series([5.0, None, 7.0]), cls="key", generic="integer")
    assert ints.dtype == "Int64" and ints.isna().tolist() == [False, True, False]
    assert ints[0] == run_rule("token", pd.Series([5]), cls="key")[0]  # exact next to NULLs


def test_a_numeric_column_gets_exact_decimal_text(run_rule) -> None:
    """NUMERIC holds more digits than a float (checkpoints keep its text): a rule's numbers come back
    as text at the column's scale, and text that is not a number fails the column."""
    generalized = run_rule(
        "generalize_number",
        pd.Series(["53200.55", "-0.5", None]),
        cls="quasi",
        generic="numeric",
        scale=2,
        bucket=1000,
    )
    assert generalized.tolist()[:2] == ["53000.00", "-1000.00"] and pd.isna(generalized[2])
    assert run_rule("constant", pd.Series(["1.5"]), cls="safe", generic="numeric", value=7).tolist() == ["7"]
    with pytest.raises(ChecksFailed, match="produced text that is not a number for a NUMERIC column"):
        run_rule("constant", pd.Series(["1.5"]), cls="safe", generic="numeric", value="n/a")


def test_a_rule_that_can_collide_is_refused_on_a_unique_column(run_rule) -> None:
    for rule in ("phone", "first_name", "mask", "card_number"):
        with pytest.raises(BadInput, match="UNIQUE/PRIMARY KEY"):
            run_rule(rule, pd.Series(["+1 555 010 1234"]), unique=True)


KNOWN = [  # a fixed key's outputs: a pandas, Faker or rule change that alters the mapping fails here
    ("first_name", "Anna", "Darren"),
    ("last_name", "Smith", "Hays"),
    ("city", "Springfield", "Deborahstad"),
    ("street_address", "12 Main Street", "7 Graham Lodge"),
    ("email", "anna@example.org", "edwin.schaefer.18tgx2la0@example.net"),
    ("username", "anna", "kristopher_barnes_40bi0w24k"),
    ("phone", "+1 555 010 1234", "+1 197 428 2244"),
    ("postal_code", "SW1A 1AA", "WE9W 6TD"),
    ("card_number", "4111111111111111", "9469157218166174"),
    ("iban", "DE89370400440532013000", "DE36748058987608785496"),
    ("token", "A-1", "1dsv50vtwanzm"),
]


@pytest.mark.parametrize(("rule", "value", "expected"), KNOWN)
def test_known_vectors(run_rule, rule: str, value: str, expected: str) -> None:
    assert run_rule(rule, pd.Series([value]), key=KEY)[0] == expected


def test_known_date_shift() -> None:
    spec = table("t", column("s", "integer"), column("at", "datetime"))
    doc = {
        "tables": {
            "t": {
                "columns": {
                    "s": {"class": "key", "rule": "keep"},
                    "at": {"class": "pii", "rule": "date_shift", "subject": "s"},
                }
            }
        }
    }
    frame = pd.DataFrame({"s": [1], "at": [pd.Timestamp("2024-01-01")]})
    assert anonymize(Schema((spec,)), doc, {"t": frame})["t"]["at"][0] == pd.Timestamp("2023-12-13")


def test_running_a_rule_on_distinct_values_only_changes_nothing(run_rule) -> None:
    """Repetitive columns go through `per_value` rules once per distinct value: same result."""
    from data_pipeline.anonymize import RULES
    from data_pipeline.anonymize.registry import RuleContext

    rng = np.random.default_rng(4)
    names = pd.Series(rng.choice(["Ann", "Bob", "Chloé", "Dieter"], 10_000))
    out = run_rule("first_name", names)
    spec = table("t", column("v"))
    doc = {"tables": {"t": {"columns": {"v": {"class": "pii", "rule": "first_name"}}}}}
    policy = resolve(Schema((spec,)), doc)
    ctx = RuleContext(
        key=KEY,
        policy=policy.for_table("t")["v"],
        column=spec.column("v"),
        frame=pd.DataFrame({"v": names}),
        anonymized={},
        pools=Pools("en_US"),
    )
    direct = RULES["first_name"].fn(names, ctx)
    assert out.tolist() == direct.tolist() and out.nunique() <= 4


@pytest.mark.parametrize(
    ("rule", "values", "options"),
    [
        ("phone", ["+44 20 7946 0018", None, "020 7946 0018", None, "(555) 010-2030"], {}),
        ("street_address", ["1 Main St", None, "22 Elm Rd", "1 Main St", None], {}),
        ("generalize_date", pd.to_datetime(["1990-05-17", None, "2001-12-31", None]), {"to": "month"}),
    ],
)
def test_null_stays_null_and_leaves_the_other_rows_alone(run_rule, rule, values, options) -> None:
    """Per-value rules also run over the NULL rows (a placeholder, whose output is dropped): NULL
    comes back NULL and every other row maps as it does with no NULL beside it."""
    series = pd.Series(values)
    if series.dtype == object:
        series = series.astype(pd.StringDtype("pyarrow", na_value=np.nan))  # as the vault hands text over
    out = run_rule(rule, series, **options)
    present = series.notna().to_numpy()
    alone = run_rule(rule, series[present].reset_index(drop=True), **options)
    assert out.isna().tolist() == (~present).tolist()
    assert out[present].tolist() == alone.tolist()


def test_the_engine_holds_no_data_and_no_reverse_mapping() -> None:
    schema, frame = _people(100)
    anonymize(schema, {"tables": {"people": {"columns": PEOPLE}}}, {"people": frame})
    assert set(vars(Pools("en_US"))) == {"locale"}
    fields = TableAnonymizer.__dataclass_fields__
    assert set(fields) == {"table", "columns", "key", "pools", "_repeating"}
    assert fields["_repeating"].type == "dict[str, bool]"  # a speed hint per column, never a value


REQUIRED = {
    "constant": {"value": "x"},
    "generalize_number": {"bucket": 10},
    "json": {"paths": {"a": "email"}},
}
EMPTY = {
    "string": pd.Series([], dtype="str"),
    "datetime": pd.Series([], dtype="datetime64[us]"),
    "float": pd.Series([], dtype="float64"),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_an_empty_table_goes_through_every_rule(run_rule, rule: str) -> None:
    """Production databases have empty tables: no rule may fail on none of its rows (a locale pick
    by `country_column` joined no pools at all)."""
    accepted = RULES[rule].types or {"string"}
    kind = next(k for k in EMPTY if k in accepted)
    options = {**REQUIRED.get(rule, {})}
    if "country_column" in RULES[rule].options:
        options["country_column"] = "c"
    cls = "safe" if rule == "keep" else "pii"
    out = run_rule(rule, EMPTY[kind], cls=cls, extra={"c": pd.Series([], dtype="str")}, **options)
    assert len(out) == 0
