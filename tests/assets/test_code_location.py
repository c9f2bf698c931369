"""A code location production can rely on: it loads from the stored source state with the source
down, its catalog shows each column's policy class and rule, its code versions follow the policy,
and a source migration is noticed (additive: a release starts; destructive: it waits)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from dataclasses import replace

import dagster as dg
import pytest
import yaml
from dagster_support import REPO, DagsterServer, dagster_cli, free_port, refreshed, settings_env

from assets.definitions import build_definitions
from assets.resources import PLANNED_ENV, PipelineResource, pipeline_resource
from assets.runner import prepare_dagster_home
from assets.source import source_schema_changes
from data_pipeline import source_state
from data_pipeline.config import DEFAULT_POLICY, Settings

DOWN = "postgresql+psycopg2://reader@127.0.0.1:9/shop"  # nothing listens on port 9


def with_source_down(settings: Settings) -> Settings:
    """The same stored state, for a source URL where nothing answers."""
    refreshed(settings)
    path = source_state.path(settings)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "source": DOWN}))
    return replace(settings, source_url=DOWN)


def test_loads_with_the_source_down_from_the_stored_state(settings: Settings) -> None:
    down = with_source_down(settings)
    prepare_dagster_home(down)
    defs = build_definitions(down)
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"source_schema", "snapshot/customers", "anonymized/customers", "published/customers"} <= keys
    for schedule in ("nightly_anonymized_copy", "enforce_retention"):
        assert defs.resolve_schedule_def(schedule)
    assert {s.name for s in defs.sensors} == {"record_failed_runs", "source_schema_changes"}
    validate = subprocess.run(
        [dagster_cli(), "definitions", "validate", "-m", "assets.definitions"],
        cwd=REPO,
        env=settings_env(down),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr


def test_without_a_stored_state_only_what_needs_no_schema_loads(settings: Settings) -> None:
    defs = build_definitions(replace(settings, source_url=DOWN))
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {"source_schema"}
    assert {j.name for j in defs.jobs} >= {"refresh_source_state", "enforce_retention"}


def test_columns_carry_their_policy_class_and_rule(settings: Settings) -> None:
    defs = build_definitions(refreshed(settings))
    spec = next(s for s in defs.resolve_all_asset_specs() if s.key.to_user_string() == "published/customers")
    columns = {c.name: c for c in spec.metadata["dagster/column_schema"].columns}
    assert columns["email"].tags == {"pii": "", "rule": "email"}
    assert columns["birth_date"].tags == {"quasi": "", "rule": "generalize_date"}
    assert columns["id"].tags == {"key": "", "rule": "keep"}
    assert "pii" in spec.tags and spec.metadata["dagster/table_name"] == "customers"
    lineage = spec.metadata["dagster/column_lineage"].deps_by_column["email"]
    assert lineage[0].asset_key == dg.AssetKey(["anonymized", "customers"])


def code_versions(settings: Settings) -> dict[str, str | None]:
    defs = build_definitions(settings)
    return {
        s.key.to_user_string(): s.code_version
        for s in defs.resolve_all_asset_specs()
        if s.key.path[0] == "anonymized"
    }


def test_a_policy_edit_changes_the_code_version_of_anonymized_assets(settings: Settings, tmp_path) -> None:
    before = code_versions(refreshed(settings))
    assert before["anonymized/customers"] and len(set(before.values())) == 1
    policy = yaml.safe_load(DEFAULT_POLICY.read_text())
    policy["tables"]["products"]["columns"]["name"] = {"class": "pii", "rule": "token"}
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(policy))
    after = code_versions(replace(settings, policy_path=edited))
    assert after["anonymized/customers"] != before["anonymized/customers"]


def evaluate(settings: Settings, instance: dg.DagsterInstance) -> dg.SkipReason | dg.RunRequest:
    build_definitions(settings)  # exports DP_* for the EnvVar-fed resource
    context = dg.build_sensor_context(instance=instance, resources={"pipeline": pipeline_resource()})
    return source_schema_changes(context)


def test_schema_changes_release_when_additive_and_wait_when_destructive(settings: Settings) -> None:
    refreshed(settings)
    source = settings.source_url.removeprefix("sqlite:///")
    with dg.instance_for_test() as instance:
        assert isinstance(evaluate(settings, instance), dg.SkipReason)  # nothing changed

        with sqlite3.connect(source) as conn:
            conn.execute("ALTER TABLE products ADD COLUMN colour VARCHAR(20)")
        request = evaluate(settings, instance)
        assert isinstance(request, dg.RunRequest), request
        assert source_state.load(settings).schema.table("products").column("colour")  # refreshed

        with sqlite3.connect(source) as conn:
            conn.execute("ALTER TABLE support_tickets DROP COLUMN status")
        waiting = evaluate(settings, instance)
        assert isinstance(waiting, dg.SkipReason) and "waiting" in waiting.skip_message
        assert "support_tickets.status" in waiting.skip_message
        assert source_state.load(settings).schema.table("support_tickets").column("status")  # kept

        from typer.testing import CliRunner

        from data_pipeline.cli import app

        allowed = CliRunner().invoke(
            app,
            ["refresh", "--allow-destructive", "--home", str(settings.home), "--source", settings.source_url],
        )
        assert allowed.exit_code == 0, allowed.output
        assert isinstance(evaluate(settings, instance), dg.RunRequest)


def dg_cli() -> str:
    import sys
    from pathlib import Path

    return str(Path(sys.executable).with_name("dg"))


def test_dg_checks_lists_and_serves_the_project(ui_settings: Settings, tmp_path) -> None:
    """`dg` reads [tool.dg] in pyproject.toml: the existing layout, assets.definitions as the target."""
    env = settings_env(ui_settings)
    checked = subprocess.run([dg_cli(), "check", "defs"], cwd=REPO, env=env, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    listed = subprocess.run(
        [dg_cli(), "list", "defs", "--json"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    keys = {asset["asset_key"] for asset in json.loads(listed.stdout)["assets"]}
    assert {"source_schema", "anonymized/customers", "published/customers"} <= keys

    port = free_port()
    log = tmp_path / "dg-dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [dg_cli(), "dev", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = DagsterServer(f"http://127.0.0.1:{port}", process, log, ui_settings)
    try:
        server.wait_until_loaded()
        nodes = server.graphql("{ assetNodes { assetKey { path } } }")["assetNodes"]
        assert ["published", "customers"] in [n["assetKey"]["path"] for n in nodes]
    finally:
        server.stop()


def test_owners_come_from_the_policy(settings: Settings, tmp_path) -> None:
    policy = yaml.safe_load(DEFAULT_POLICY.read_text())
    policy["owners"] = ["team:data-platform"]
    policy["tables"]["customers"]["owners"] = ["crm-owner@example.com", "not an owner"]
    path = tmp_path / "owned.yaml"
    path.write_text(yaml.safe_dump(policy))
    defs = build_definitions(refreshed(replace(settings, policy_path=path)))
    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    assert specs["published/customers"].owners == ["crm-owner@example.com"]
    assert specs["anonymized/orders"].owners == ["team:data-platform"]
    assert "not an owner" in specs["anonymized/customers"].description  # named, and the location loads


def test_a_step_of_a_planned_run_works_on_the_planned_schema(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run --processes N`: a step process takes the schema the run was planned on (the source state
    the CLI stored; it reflects nothing), whatever the source became since; other processes (the
    UI's runs, the sensor) read the source as it is."""
    refreshed(settings)
    state = source_state.load(settings)
    with sqlite3.connect(settings.source_url.removeprefix("sqlite:///")) as conn:
        conn.execute("ALTER TABLE products ADD COLUMN colour VARCHAR(20)")

    def products_columns() -> tuple[str, ...]:
        resource = PipelineResource(
            home=str(settings.home),
            source_url=settings.source_url,
            target_url=settings.target_url,
            policy_path=str(settings.policy_path),
            suites_dir=str(settings.suites_dir),
        )
        return resource.context().schema.table("products").column_names

    monkeypatch.setenv(PLANNED_ENV, state.digest)
    assert "colour" not in products_columns()
    monkeypatch.setenv(PLANNED_ENV, "another-state")
    assert "colour" in products_columns()
    monkeypatch.delenv(PLANNED_ENV)
    assert "colour" in products_columns()
