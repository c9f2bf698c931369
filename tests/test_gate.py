"""`data-pipeline gate`: what an application's CI runs before its code ships."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from data_pipeline.config import DEFAULT_SUITES, REPO_ROOT, Settings


@pytest.fixture
def published(run_cli, settings: Settings) -> Settings:
    result = run_cli()
    assert result.exit_code == 0, result.output
    return settings


def gate(settings: Settings, *args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    """Run the gate as a subprocess, the way the CI workflow in examples/ci does."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "data_pipeline.cli",
            "gate",
            "--target",
            settings.target_url,
            "--home",
            str(settings.home),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def test_the_example_workflow_gate_passes_on_a_good_release(published: Settings, tmp_path: Path) -> None:
    workflow = yaml.safe_load((REPO_ROOT / "examples/ci/deploy-gate.yml").read_text())
    step = next(
        s for s in workflow["jobs"]["data-gate"]["steps"] if s.get("name") == "Gate on data expectations"
    )
    args = step["run"].split()[2:]  # after "data-pipeline gate"
    shutil.copytree(DEFAULT_SUITES, tmp_path / "expectations")
    result = gate(published, *args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    cases = ET.parse(tmp_path / "gate.xml").getroot().iter("testcase")
    cases = list(cases)
    assert len(cases) == sum(
        len(json.loads(p.read_text())["expectations"]) for p in DEFAULT_SUITES.glob("*.json")
    )
    assert not any(c.find("failure") is not None for c in cases)
    assert "PASS" in result.stdout
    assert (tmp_path / "gate.md").read_text().startswith("#") or "|" in (tmp_path / "gate.md").read_text()


def test_a_failing_expectation_exits_1_and_is_listed_in_junit(published: Settings, tmp_path: Path) -> None:
    suites = tmp_path / "suites"
    shutil.copytree(DEFAULT_SUITES, suites)
    suite = json.loads((suites / "products.json").read_text())
    suite["expectations"].append(
        {
            "type": "expect_table_row_count_to_be_between",
            "kwargs": {"min_value": 10_000_000},
            "meta": {"severity": "critical"},
        }
    )
    (suites / "products.json").write_text(json.dumps(suite))
    junit = tmp_path / "gate.xml"
    result = gate(published, "--suites", str(suites), "--junit", str(junit))
    assert result.returncode == 1, result.stdout + result.stderr
    failures = [c for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failures] == ["expect_table_row_count_to_be_between"] or len(failures) == 1


def test_a_failed_warning_fails_only_with_strict(published: Settings, tmp_path: Path) -> None:
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "products.json").write_text(
        json.dumps(
            {
                "name": "products",
                "expectations": [
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": "price", "max_value": 0.01},
                        "meta": {"severity": "warning"},
                    }
                ],
            }
        )
    )
    assert gate(published, "--suites", str(suites)).returncode == 0
    assert gate(published, "--suites", str(suites), "--strict").returncode == 1


def test_bad_input_exits_2_with_one_line(published: Settings, tmp_path: Path) -> None:
    missing = gate(published, "--suites", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "not found" in missing.stderr
    unreachable = subprocess.run(
        [
            sys.executable,
            "-m",
            "data_pipeline.cli",
            "gate",
            "--target",
            "postgresql://u:hunter2@127.0.0.1:1/x",
            "--suites",
            str(DEFAULT_SUITES),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unreachable.returncode == 2, unreachable.stderr
    assert "cannot connect to target" in unreachable.stderr and "hunter2" not in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
    wrong = gate(published, "--release", "7", "--suites", str(DEFAULT_SUITES))
    assert wrong.returncode == 2 and "holds release 1, not 7" in wrong.stderr


def test_expectations_init_drafts_suites_that_pass_on_the_release(
    run_cli, published: Settings, tmp_path: Path
) -> None:
    drafts = tmp_path / "drafts"
    result = run_cli("expectations init", "--suites", str(drafts), "--release", "1")
    assert result.exit_code == 0, result.output
    assert sorted(p.stem for p in drafts.glob("*.json")) == sorted(
        ["customers", "employees", "order_items", "orders", "payments", "products", "support_tickets"]
    )
    again = run_cli("expectations init", "--suites", str(drafts))
    assert "0 suite(s) drafted" in again.output  # never overwrites without --force
    assert gate(published, "--suites", str(drafts)).returncode == 0


def test_a_cross_table_suite_validates_a_join_of_the_release(published: Settings, tmp_path: Path) -> None:
    suites = tmp_path / "suites"
    suites.mkdir()
    shutil.copy(DEFAULT_SUITES / "orders_with_customers.json", suites)
    junit = tmp_path / "gate.xml"
    assert gate(published, "--suites", str(suites), "--junit", str(junit)).returncode == 0
    assert len(list(ET.parse(junit).getroot().iter("testcase"))) == 3

    fanned_out = json.loads((suites / "orders_with_customers.json").read_text())
    fanned_out["query"] = "SELECT o.id FROM orders o JOIN order_items i ON i.order_id = o.id"
    (suites / "orders_with_customers.json").write_text(json.dumps(fanned_out))
    fanned_out["expectations"] = [e for e in fanned_out["expectations"] if e["kwargs"]["column"] == "id"]
    (suites / "orders_with_customers.json").write_text(json.dumps(fanned_out))
    assert gate(published, "--suites", str(suites)).returncode == 1

    fanned_out["query"] = "SELECT nope FROM nowhere"
    (suites / "orders_with_customers.json").write_text(json.dumps(fanned_out))
    broken = gate(published, "--suites", str(suites))
    assert broken.returncode == 2 and "its query failed" in broken.stderr


def test_a_bad_row_far_past_the_first_rows_fails_the_gate(published: Settings, tmp_path: Path) -> None:
    """Every row is validated, in the database: the last order's status (outside the suite's value
    set) fails the gate."""
    import sqlalchemy as sa

    planted = "teleported-7c41e0"
    engine = sa.create_engine(published.target_url)
    with engine.begin() as conn:
        orders = conn.exec_driver_sql("SELECT count(*) FROM orders").scalar()
        conn.exec_driver_sql(
            "UPDATE orders SET status = ? WHERE id = (SELECT max(id) FROM orders)", (planted,)
        )
    engine.dispose()
    junit = tmp_path / "gate.xml"
    result = gate(published, "--suites", str(DEFAULT_SUITES), "--junit", str(junit))
    assert result.returncode == 1, result.stdout + result.stderr
    failures = {
        c.get("name"): c.find("failure").get("message")
        for c in ET.parse(junit).getroot().iter("testcase")
        if c.find("failure") is not None
    }
    assert failures == {"expect_column_values_to_be_in_set(status)": f"1 of {orders} rows unexpected"}
    docs = published.home / "gx"
    assert f"Data Docs: {docs / 'uncommitted/data_docs/local_site/index.html'}" in result.stdout
    for path in [junit, *(p for p in docs.rglob("*") if p.is_file())]:
        assert planted.encode() not in path.read_bytes(), path
    assert planted not in result.stdout + result.stderr


def test_the_gate_takes_suites_from_a_gx_project_and_writes_its_data_docs(
    published: Settings, tmp_path: Path
) -> None:
    """A GX File Data Context (DP_GX_DIR): its suites, as GX wrote them with GX's severity, are
    validated, and the scrubbed Data Docs land in its own local site."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.core.expectation_suite import ExpectationSuite

    context = gx.get_context(mode="file", project_root_dir=str(tmp_path / "app"))
    context.suites.add(
        ExpectationSuite(
            name="products",
            expectations=[
                gxe.ExpectColumnValuesToNotBeNull(column="id"),
                gxe.ExpectColumnValuesToBeBetween(column="price", max_value=0.01, severity="warning"),
            ],
        )
    )
    project = Path(context.root_directory)
    os.environ["DP_GX_DIR"] = str(project)
    empty = published.suites_dir  # no suites of its own
    assert not list(empty.iterdir())
    assert gate(published, "--suites", str(empty)).returncode == 0  # the warning fails, not blocking
    del os.environ["DP_GX_DIR"]  # the flag does the same
    strict = gate(published, "--suites", str(empty), "--strict", "--gx-dir", str(project))
    assert strict.returncode == 1 and "expect_column_values_to_be_between(price)" in strict.stdout
    site = project / "uncommitted" / "data_docs" / "local_site"
    assert "validations/products/" in (site / "index.html").read_text(encoding="utf-8")
    assert not (published.home / "gx").exists()
    nowhere = gate(published, "--suites", str(empty), "--gx-dir", str(tmp_path / "nowhere"))
    assert nowhere.returncode == 2 and "is not a GX project" in nowhere.stderr


DRAFTED = """
CREATE TABLE drafted (
    id integer PRIMARY KEY, late integer, gap integer, price numeric(10, 2), paid boolean,
    status varchar(10), code varchar(10), at timestamp
)
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_suite_drafted_chunk_by_chunk_is_the_one_drafted_from_the_whole_table(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`expectations init` reads a table 7 rows at a time here (a chunk's dtypes differ: ints with
    and without a NULL, a chunk of NULLs only), and drafts what the whole table would give."""
    import pandas as pd
    import sqlalchemy as sa

    from data_pipeline import gate
    from data_pipeline.expectations import draft_suite

    url = f"sqlite:///{tmp_path / 'target.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    engine = sa.create_engine(url)
    rows = [
        {
            "id": i,
            "late": None if i < 10 else i,  # NULL in the first chunks only
            "gap": None if i == 30 else i * 3,  # one NULL in one chunk
            "price": f"{i / 4:.2f}",
            "paid": None if i % 9 == 0 else i % 2 == 0,
            "status": ("new", "paid", "sent")[i % 3],  # a value set
            "code": f"c{i}",  # too many values for one
            "at": f"2024-01-{1 + i % 28:02d} 10:00:00",
        }
        for i in range(40)
    ]
    with engine.begin() as conn:
        conn.exec_driver_sql(DRAFTED)
        conn.execute(sa.table("drafted", *(sa.column(c) for c in rows[0])).insert(), rows)
    monkeypatch.setattr(gate, "DRAFT_ROWS", 7)
    with engine.connect() as conn:
        whole = draft_suite(pd.read_sql_table("drafted", conn), "drafted", unique_columns={"id"})
    drafted = gate.draft_table(engine, "drafted", None, {"id"})
    assert drafted == whole
    kinds = {(e["type"], e["kwargs"].get("column")) for e in drafted["expectations"]}
    assert ("expect_column_values_to_be_in_set", "status") in kinds
    assert ("expect_column_values_to_be_in_set", "code") not in kinds
    assert ("expect_column_values_to_be_between", "late") in kinds
