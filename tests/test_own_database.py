"""Your own database gets no demo defaults, and its target owns its release numbers.

- The demo's expectation suites are for the demo: a `customers` table of your own is validated by your
  suites (DP_SUITES, by default DP_HOME/expectations, drafted by `expectations init`) or none.
- A refused rollback's roll-forward plan names the source, policy and target the release was made
  from (recorded at publish, password redacted), never the demo's.
- gate, expectations, releases and rollback never create the demo source.
- Release numbers come from the target: a fresh DP_HOME (another machine) or another database user
  continues at N+1 and lists what the target holds; a number taken meanwhile publishes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from refusals import one_error_line
from typer.testing import CliRunner

from data_pipeline.config import DEFAULT_POLICY
from data_pipeline.keys import generate_key_file

POLICY = {
    "version": 1,
    "tables": {
        "customers": {
            "columns": {
                "id": {"class": "key", "rule": "keep"},
                "email": {"class": "pii", "rule": "email"},
                "note": {"class": "pii", "rule": "free_text"},
            }
        }
    },
}


@pytest.fixture
def own_source(tmp_path: Path) -> tuple[str, Path]:
    """A `customers` table that is not the demo's (the demo's suite would fail it), and its policy."""
    path = tmp_path / "shop.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, note TEXT)")
        conn.execute(
            sa.text("INSERT INTO customers VALUES (:id, :email, :note)"),
            [{"id": i, "email": f"user{i}@shop.example", "note": f"order {i} shipped"} for i in range(1, 41)],
        )
    engine.dispose()
    policy = tmp_path / "shop-policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    return f"sqlite:///{path}", policy


def new_home(path: Path) -> Path:
    generate_key_file(path / "anon.key")
    return path


def invoke(*args: str, env: dict[str, str] | None = None):
    from data_pipeline.cli import app

    return CliRunner().invoke(app, list(args), env=env)


def test_your_own_customers_table_is_validated_by_your_suites_not_the_demos(
    tmp_path: Path, own_source: tuple[str, Path]
) -> None:
    source, policy = own_source
    home = new_home(tmp_path / "home")
    target = f"sqlite:///{tmp_path / 'target.db'}"
    where = ["--home", str(home), "--target", target]

    first = invoke("run", *where, "--source", source, "--policy", str(policy))
    assert first.exit_code == 0, first.output  # the demo's customers suite would fail this table
    assert "expectations" not in first.output.split("summary:")[1].split("no expectation suites")[0]
    assert f"no expectation suites in {home / 'expectations'}" in first.output
    assert "data-pipeline expectations init" in first.output

    drafted = invoke("expectations", "init", *where)
    assert drafted.exit_code == 0, drafted.output
    assert (home / "expectations" / "customers.json").exists()
    second = invoke("run", *where, "--source", source, "--policy", str(policy))
    assert second.exit_code == 0, second.output
    assert "no expectation suites" not in second.output  # yours now validate every run
    gate = invoke("gate", *where, env={"DP_SOURCE_URL": source})
    assert gate.exit_code == 0, gate.output
    assert not (home / "demo_source.db").exists()


def test_a_refused_rollback_names_what_the_release_was_made_from(
    tmp_path: Path, own_source: tuple[str, Path]
) -> None:
    source, policy = own_source
    home = new_home(tmp_path / "home")
    target = f"sqlite:///{tmp_path / 'target.db'}"
    assert (
        invoke(
            "run", "--home", str(home), "--target", target, "--source", source, "--policy", str(policy)
        ).exit_code
        == 0
    )

    # only the target and DP_HOME given: the defaults would name the demo's source and policy
    refused = invoke("rollback", "--to", "raw", "--home", str(home), "--target", target)
    assert refused.exit_code == 3, refused.output
    assert f"--source '{source}'" in refused.output and f"--policy {policy}" in refused.output
    assert f"--target '{target}'" in refused.output
    assert "demo_source.db" not in refused.output and str(DEFAULT_POLICY) not in refused.output
    for command in (
        ["releases"],
        ["gate", "--suites", str(tmp_path)],
        ["expectations", "init", "--suites", str(tmp_path / "s")],
    ):
        invoke(*command, "--home", str(home), "--target", target)
    assert not (home / "demo_source.db").exists()


def test_a_fresh_dp_home_continues_the_targets_release_numbers(
    tmp_path: Path, own_source: tuple[str, Path]
) -> None:
    source, policy = own_source
    target = f"sqlite:///{tmp_path / 'target.db'}"
    args = ["--target", target, "--source", source, "--policy", str(policy)]
    here, there = new_home(tmp_path / "here"), new_home(tmp_path / "there")
    assert invoke("run", "--home", str(here), *args).exit_code == 0

    elsewhere = invoke("run", "--home", str(there), *args)  # another machine: its own ledger, empty
    assert elsewhere.exit_code == 0, elsewhere.output
    assert "release 2 (after 1)" in elsewhere.output or "release 2" in elsewhere.output.splitlines()[0]
    assert "release 2 published" in elsewhere.output
    listed = invoke("releases", "--home", str(there), "--target", target)
    rows = [line for line in listed.output.splitlines() if line.startswith("│ ")]
    assert [r.split("│")[1].strip() for r in rows] == ["1", "2"]
    assert "unrecorded" in rows[0] and "only the target records it" in rows[0]

    refused = invoke("rollback", "--to", "1", "--home", str(there), "--target", target)
    assert refused.exit_code == 2
    assert (
        "release 1 of" in one_error_line(refused.output) and "not in this DP_HOME's ledger" in refused.output
    )
    back_here = invoke("run", "--home", str(here), *args)
    assert "release 3 published" in back_here.output


def test_a_number_taken_meanwhile_publishes_nothing(tmp_path: Path) -> None:
    from data_pipeline.errors import BadInput
    from data_pipeline.publish import publish, published_release, release_history
    from data_pipeline.schema import reflect

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    source = sa.create_engine(f"sqlite:///{tmp_path / 'source.db'}")
    with source.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    schema = reflect(source)
    publish(engine, schema, lambda table: [], release=1, policy_digest="a" * 64)
    publish(engine, schema, lambda table: [], release=2, policy_digest="a" * 64)
    with pytest.raises(BadInput, match="already holds release 2"):
        publish(engine, schema, lambda table: [], release=2, policy_digest="b" * 64)
    publish(engine, schema, lambda table: [], release=1, policy_digest="a" * 64, republish=True)  # rollback
    assert published_release(engine) == 1
    assert [row.release for row in release_history(engine)] == [1, 2, 1]


def test_the_same_target_reached_as_another_user_continues_its_numbering(
    tmp_path: Path, pg_url: str, own_source: tuple[str, Path]
) -> None:
    source, policy = own_source
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("DROP ROLE IF EXISTS dp_second_user")
        conn.exec_driver_sql("CREATE ROLE dp_second_user LOGIN SUPERUSER PASSWORD 'Secret-Pw-123'")
    admin.dispose()
    other = sa.engine.make_url(pg_url).set(username="dp_second_user", password="Secret-Pw-123")
    home = new_home(tmp_path / "home")
    try:
        for url in (pg_url, other.render_as_string(hide_password=False)):
            result = invoke(
                "run", "--home", str(home), "--target", url, "--source", source, "--policy", str(policy)
            )
            assert result.exit_code == 0, result.output
        assert "release 2 published" in result.output
        assert "Secret-Pw-123" not in result.output
        for file in home.rglob("*"):
            assert not file.is_file() or b"Secret-Pw-123" not in file.read_bytes(), file
    finally:
        os.environ.pop("DP_TARGET_URL", None)
        admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'dp_second_user'"
            )
            conn.exec_driver_sql("DROP OWNED BY dp_second_user")
            conn.exec_driver_sql("DROP ROLE IF EXISTS dp_second_user")
        admin.dispose()
