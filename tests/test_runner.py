"""`data-pipeline run`: the whole third pipeline on the demo source, through Dagster."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from assets.instance import run_instance
from data_pipeline.config import Settings
from data_pipeline.schema import reflect

IDENTIFYING = {
    "customers": ["email", "phone"],
    "employees": ["email"],
    "payments": ["card_number", "iban"],
}
PII_COLUMNS = {
    "customers": ["first_name", "last_name", "email", "phone", "street"],
    "employees": ["email"],
    "payments": ["card_number", "iban"],
}


def dump(url: str) -> dict[str, list[tuple]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(sa.text(f'SELECT * FROM "{t.name}" ORDER BY 1, 2'))]
            for t in reflect(engine).tables
        }


def test_run_publishes_release_1_with_every_table(run_cli, settings: Settings) -> None:
    result = run_cli()
    assert result.exit_code == 0, result.output
    assert "release 1 published" in result.output
    source, target = dump(settings.source_url), dump(settings.target_url)
    assert set(target) == set(source)
    assert {t: len(rows) for t, rows in target.items()} == {t: len(rows) for t, rows in source.items()}

    second = run_cli()
    assert second.exit_code == 0, second.output
    assert "release 2 published" in second.output


def test_no_original_pii_value_reaches_the_target(run_cli, settings: Settings) -> None:
    assert run_cli().exit_code == 0
    src = sa.create_engine(settings.source_url)
    tgt = sa.create_engine(settings.target_url)
    everything = "\n".join(
        "\t".join(map(str, row)) for rows in dump(settings.target_url).values() for row in rows
    )
    for table, columns in PII_COLUMNS.items():
        original = pd.read_sql_table(table, src).set_index("id")
        published = pd.read_sql_table(table, tgt).set_index("id").loc[original.index]
        for column in columns:
            both = original[column].notna()
            values = original.loc[both, column].astype(str)
            same = values.to_numpy() == published.loc[both, column].astype(str).to_numpy()
            assert same.mean() < 0.01, column  # names may match by chance; identifiers never
            if column in ("email", "phone", "card_number", "iban"):
                leaked = [v for v in values if v in everything]
                assert leaked == [], f"{table}.{column}: {len(leaked)} originals in the target"


def test_every_foreign_key_resolves_in_the_target(run_cli, settings: Settings) -> None:
    assert run_cli().exit_code == 0
    engine = sa.create_engine(settings.target_url)
    schema = reflect(engine)
    with engine.connect() as conn:
        for table in schema.tables:
            for fk in table.foreign_keys:
                on = " AND ".join(
                    f'c."{a}" = p."{b}"' for a, b in zip(fk.columns, fk.ref_columns, strict=True)
                )
                not_null = " AND ".join(f'c."{a}" IS NOT NULL' for a in fk.columns)
                dangling = conn.execute(
                    sa.text(
                        f'SELECT COUNT(*) FROM "{table.name}" c LEFT JOIN "{fk.ref_table}" p ON {on} '
                        f'WHERE {not_null} AND p."{fk.ref_columns[0]}" IS NULL'
                    )
                ).scalar()
                assert dangling == 0, f"{table.name}.{fk.columns} -> {fk.ref_table}"
    # the self-referencing manager FK still links employees
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT COUNT(*) FROM employees WHERE manager_id IS NOT NULL")).scalar() > 0
        )


def test_same_key_gives_identical_target_and_another_key_differs(
    run_cli, settings: Settings, tmp_path
) -> None:
    assert run_cli(env={"DP_ANON_KEY": "first-key-0123456789abcdef"}).exit_code == 0
    first = dump(settings.target_url)
    assert run_cli(env={"DP_ANON_KEY": "first-key-0123456789abcdef"}).exit_code == 0
    assert dump(settings.target_url) == first
    assert run_cli(env={"DP_ANON_KEY": "other-key-0123456789abcdef"}).exit_code == 0
    other = dump(settings.target_url)
    assert other["customers"] != first["customers"]
    assert other["products"] == first["products"]  # no PII: kept as is


def test_no_raw_value_under_dp_home_outside_the_vault(run_cli, settings: Settings) -> None:
    assert run_cli().exit_code == 0
    src = sa.create_engine(settings.source_url)
    # Values that identify a person alone. Names and streets are left out: the demo source is made
    # from the same Faker lists as the pools, so "Schmidt" is both a raw value and a fake.
    raws = set()
    for table, columns in IDENTIFYING.items():
        frame = pd.read_sql_table(table, src)
        for column in columns:
            raws |= {v for v in frame[column].dropna().astype(str) if len(v) >= 8}
    # A generated fake may equal *another* row's real value (a random phone number is somebody's);
    # that is no flow of raw data, and the published copy shows it: those are not needles here.
    published = {str(v) for rows in dump(settings.target_url).values() for row in rows for v in row}
    needles = [r.encode() for r in raws - published]
    assert len(needles) > 0.9 * len(raws)
    offenders = []
    for path in Path(settings.home).rglob("*"):
        if not path.is_file() or "vault" in path.relative_to(settings.home).parts:
            continue
        if path.name == "target.db":
            continue  # the published, anonymized copy: checked by the leak test
        blob = path.read_bytes()
        offenders += [f"{path}: {n[:3]!r}..." for n in needles if n in blob]
    assert offenders == []
    assert any((settings.home / "vault").rglob("*.parquet"))
    vault = settings.home / "vault"
    assert oct(vault.stat().st_mode & 0o777) == "0o700"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in vault.rglob("*.parquet"))


def test_expectation_suites_run_as_blocking_checks(run_cli, settings: Settings) -> None:
    """With the repo's GE suites the demo passes, and Data Docs are built in DP_HOME's GX context."""
    from data_pipeline.config import DEFAULT_SUITES

    result = run_cli(suites=DEFAULT_SUITES)
    assert result.exit_code == 0, result.output
    assert (settings.home / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").is_file()
    with sqlite3.connect(settings.home / "ledger.db") as conn:
        kinds = [k for (k,) in conn.execute("SELECT kind FROM dp_ledger_events")]
    assert kinds.count("anonymized") == 7 and "published" in kinds


def test_null_stays_null_end_to_end(run_cli, settings: Settings) -> None:
    assert run_cli().exit_code == 0
    src, tgt = sa.create_engine(settings.source_url), sa.create_engine(settings.target_url)
    for table, columns in {
        "customers": ["phone", "street", "city", "postal_code", "birth_date"],
        "payments": ["card_number", "iban"],
        "orders": ["employee_id"],
    }.items():
        before, after = pd.read_sql_table(table, src), pd.read_sql_table(table, tgt)
        for column in columns:
            assert before[column].isna().sum() > 0, f"demo has no NULL in {table}.{column}"
            assert after[column].isna().sum() == before[column].isna().sum(), f"{table}.{column}"
            assert not after[column].astype(str).isin(["nan", "None", "NaT"]).any(), f"{table}.{column}"


def test_steps_in_their_own_processes_publish_the_same_release(run_cli, settings: Settings, capfd) -> None:
    """`--processes 2`: Dagster's multiprocess executor runs the steps side by side, each in its own
    process; the release is the one the in-process run publishes, and the progress lines and the
    per-table summary are printed as before."""
    key = {"DP_ANON_KEY": "first-key-0123456789abcdef"}
    assert run_cli(env=key).exit_code == 0
    in_process = dump(settings.target_url)
    capfd.readouterr()
    result = run_cli("run", "--processes", "2", env=key)
    assert result.exit_code == 0, result.output
    assert "release 2 published" in result.output and "customers" in result.output
    assert dump(settings.target_url) == in_process
    printed = capfd.readouterr()  # the step processes write to the terminal themselves
    assert "anonymized/customers: " in printed.out and "published customers: " in printed.out
    assert "STEP_WORKER_STARTED" not in printed.out + printed.err  # Dagster's DEBUG lines stay out
    with run_instance(settings.dagster_home) as instance:
        run = instance.get_runs(limit=1)[0]
        events = [e.dagster_event for e in instance.all_logs(run.run_id) if e.dagster_event]
    started = {e.step_key for e in events if e.event_type == dg.DagsterEventType.STEP_START}
    workers = {e.step_key for e in events if e.event_type == dg.DagsterEventType.STEP_WORKER_STARTED}
    assert started and workers == started  # every step in a process of its own


def test_a_big_source_runs_on_every_core_by_default() -> None:
    from assets.runner import PARALLEL_ROWS, default_processes

    assert default_processes({"a": PARALLEL_ROWS // 2, "b": PARALLEL_ROWS // 2 - 1}) == 1
    cores = len(os.sched_getaffinity(0))
    assert default_processes({"a": PARALLEL_ROWS // 2, "b": PARALLEL_ROWS // 2}) == cores


def test_the_tables_that_take_longest_to_anonymize_start_first(run_cli, settings: Settings) -> None:
    """Steps ready at once start longest first (their `dagster/priority`), so that on several processes
    the slowest table does not start last and run alone: free text over rows outweighs rows alone."""
    from assets.catalog import build_catalog
    from data_pipeline import source_state
    from data_pipeline.anonymize.cost import relative_cost

    assert run_cli().exit_code == 0
    state = source_state.load(settings)
    rules = build_catalog(settings, state.schema).rules
    cost = {t: relative_cost(state.estimates[t], [r for _, r in rules[t].values()]) for t in rules}
    with run_instance(settings.dagster_home) as instance:
        run = instance.get_runs(limit=1)[0]
        events = [e.dagster_event for e in instance.all_logs(run.run_id) if e.dagster_event]
    started = [
        e.step_key.removeprefix("anonymized__")
        for e in events
        if e.event_type == dg.DagsterEventType.STEP_START and e.step_key.removeprefix("anonymized__") in cost
    ]
    assert sorted(started) == sorted(cost)
    assert [cost[t] for t in started] == sorted(cost.values(), reverse=True)
    assert started[0] == "support_tickets"  # free text: not the table with the most rows
    assert max(state.estimates, key=state.estimates.get) != "support_tickets"
