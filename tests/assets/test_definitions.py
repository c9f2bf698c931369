"""The code location: loads, and shows each table's assets with forward-only marks and checks."""

from __future__ import annotations

import dagster as dg
from dagster_support import defs_of

from assets.assets import FORWARD_ONLY_TAG
from data_pipeline.check_names import TABLE_CHECKS
from data_pipeline.config import DEFAULT_SUITES, Settings
from data_pipeline.db import make_engine
from data_pipeline.schema import reflect


def test_definitions_load_with_every_table(settings: Settings) -> None:
    defs = defs_of(settings)
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    tables = reflect(make_engine(settings.source_url)).names
    for table in tables:
        assert f"snapshot/{table}" in keys
        assert f"anonymized/{table}" in keys
        assert f"published/{table}" in keys


def test_anonymized_assets_are_marked_forward_only(settings: Settings) -> None:
    defs = defs_of(settings)
    for spec in defs.resolve_all_asset_specs():
        step = spec.key.path[0]
        expected = "true" if step == "anonymized" else "false"
        assert spec.tags[FORWARD_ONLY_TAG] == expected, spec.key
        if step == "anonymized":
            assert spec.description.startswith("FORWARD-ONLY")
            assert spec.metadata["forward_only"] is True


def test_checks_are_blocking_and_cover_every_anonymized_table(settings: Settings) -> None:
    from dataclasses import replace

    defs = defs_of(replace(settings, suites_dir=DEFAULT_SUITES))
    graph = defs.resolve_asset_graph()
    checks = {}
    for key in graph.asset_check_keys:
        checks.setdefault(key.asset_key.to_user_string(), set()).add(key.name)
        assert graph.get_check_spec(key).blocking, key
    assert checks["anonymized/customers"] == set(TABLE_CHECKS)
    assert checks["published/customers"] == {"expectations"}  # every row of the staged release
    assert "foreign_keys_resolve" in checks["anonymized/orders"]
    assert "foreign_keys_resolve" in checks["anonymized/employees"]  # self reference


def test_nightly_schedule_targets_the_whole_copy(settings: Settings) -> None:
    defs = defs_of(settings)
    schedule = defs.resolve_schedule_def("nightly_anonymized_copy")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.job_name == "anonymized_copy"
