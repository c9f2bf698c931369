"""The Dagster UI, driven in headless Chromium: the asset graph, the forward-only marks, "Materialize
all", the run and its checks, the policy class of each column, and staleness after a policy edit.
Chromium is Debian's (`.ci/run` installs it); Playwright only drives it."""

from __future__ import annotations

import os
import re
import time
import urllib.parse
from pathlib import Path

import pytest
from dagster_support import ARTIFACTS

from data_pipeline.check_names import TABLE_CHECKS
from data_pipeline.db import make_engine
from data_pipeline.schema import reflect

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RUN_TIMEOUT_S = 150


def require_browser() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (scripts/setup.sh dev)")
    if missing:
        message = "UI test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message + ": .ci/run installs it, so CI must not skip")
        pytest.skip(message)


@pytest.fixture
def browser():
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def selection_url(base: str, selection: str) -> str:
    return f"{base}/assets?asset-selection={urllib.parse.quote(selection)}"


def wait_for_run(server, run_id: str) -> str:
    query = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        status = server.graphql(query, {"id": run_id})["runOrError"].get("status")
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(1)
    pytest.fail(f"run {run_id} not finished after {RUN_TIMEOUT_S}s:\n{server.log_tail()}")


STALE_QUERY = """{ assetNodes { assetKey { path } staleStatus } }"""
RELOAD = """mutation($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) {
    __typename ... on WorkspaceLocationEntry { loadStatus } } }"""

CHECKS_QUERY = """{ assetNodes { assetKey { path }
    assetMaterializations(limit: 1) { runId metadataEntries { label ... on IntMetadataEntry { intValue } } }
    assetChecksOrError { ... on AssetChecks { checks { name
        executionForLatestMaterialization { status runId } } } } } }"""


def test_materialize_all_from_the_asset_graph(browser, dagster_dev) -> None:
    server = dagster_dev  # started after the browser check: a missing Chromium skips at once
    schema = reflect(make_engine(server.settings.source_url))
    tables = schema.names
    child = next(t.name for t in schema.tables if t.foreign_keys)
    expected_checks = sorted([*TABLE_CHECKS, "foreign_keys_resolve"])
    page = browser.new_page(viewport={"width": 1600, "height": 2000})
    page.set_default_timeout(30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "ui-failure.png").unlink(missing_ok=True)
    try:
        # the asset graph of the anonymized group: every table, fed by its snapshot
        page.goto(f"{server.url}/locations/assets.definitions/asset-groups/anonymized")
        for table in tables:  # the anonymized node and the link to its snapshot
            page.get_by_text(table, exact=True).nth(1).wait_for()

        # "Materialize all" on the global lineage launches one run through the daemon; while it runs:
        page.goto(f"{server.url}/asset-groups")
        page.get_by_role("button", name="Materialize all").click()
        view = page.locator('a[href*="/runs/"]', has_text="View").first
        view.wait_for()
        run_id = view.get_attribute("href").rstrip("/").rsplit("/", 1)[-1]

        # the forward-only marks: the tag selects exactly the anonymized assets, each described FORWARD-ONLY
        page.goto(selection_url(server.url, 'tag:"data_pipeline/forward_only"="true"'))
        for table in tables:
            page.get_by_text(f"anonymized / {table}").first.wait_for()
        lines = page.inner_text("body").splitlines()
        for table in tables:
            assert f"anonymized / {table}" in lines
            assert any(line.startswith(f"FORWARD-ONLY: anonymizes {table} ") for line in lines), table
        assert not any(line.startswith(("snapshot / ", "published / ")) for line in lines)
        page.goto(selection_url(server.url, 'tag:"data_pipeline/forward_only"="false"'))
        for table in tables:
            page.get_by_text(f"snapshot / {table}").first.wait_for()
        lines = page.inner_text("body").splitlines()
        assert all(f"snapshot / {t}" in lines and f"published / {t}" in lines for t in tables)
        assert not any(line.startswith(("anonymized / ", "FORWARD-ONLY")) for line in lines)

        assert wait_for_run(server, run_id) == "SUCCESS", server.log_tail()
        page.goto(f"{server.url}/runs/{run_id}")
        page.get_by_text("Success", exact=True).first.wait_for()

        # every check green, in the UI (a table with a foreign key: its check runs in a step of its own)
        page.goto(f"{server.url}/assets/anonymized/{child}?view=checks")
        page.get_by_text(f"Checks ({len(expected_checks)})").wait_for()
        page.get_by_text("Passed", exact=True).first.wait_for()
        for name in expected_checks:
            page.get_by_text(name, exact=True).first.wait_for()
        assert page.get_by_text("Succeeded", exact=True).count() == len(expected_checks)
        assert page.get_by_text("Failed", exact=True).count() == 0
        # and on the graph: every anonymized node materialized with "n / n Passed" checks
        page.goto(f"{server.url}/locations/assets.definitions/asset-groups/anonymized")
        passed = page.get_by_text(re.compile(r"^\d+ / \d+ Passed$"))
        passed.nth(len(tables) - 1).wait_for()
        counts = [text.split(" / ") for text in passed.all_inner_texts()]
        assert len(counts) == len(tables) and all(a == b.split()[0] for a, b in counts), counts
        assert page.get_by_text("Materialized", exact=True).count() == len(tables)
        page.screenshot(path=str(ARTIFACTS / "ui-anonymized-after-run.png"), full_page=True)

        # the catalog: a published table's columns with their policy class and rule as tags
        page.goto(f"{server.url}/assets/published/customers")
        page.get_by_text("email", exact=True).first.wait_for()
        page.screenshot(path=str(ARTIFACTS / "ui-published-columns.png"), full_page=True)
        body = page.inner_text("body")
        assert "pii" in body and "quasi" in body and "generalize_date" in body
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "ui-failure.png"), full_page=True)
        raise

    nodes = {"/".join(n["assetKey"]["path"]): n for n in server.graphql(CHECKS_QUERY)["assetNodes"]}
    steps = ("snapshot", "anonymized", "published")
    assert set(nodes) == {f"{s}/{t}" for s in steps for t in tables} | {"source_schema"}
    del nodes["source_schema"]  # observed, not materialized
    for key, node in nodes.items():
        assert node["assetMaterializations"][0]["runId"] == run_id, key
        for check in node["assetChecksOrError"].get("checks", []):
            execution = check["executionForLatestMaterialization"]
            assert execution and execution["status"] == "SUCCEEDED", (key, check)
            assert execution["runId"] == run_id
    anonymized_checks = nodes[f"anonymized/{child}"]["assetChecksOrError"]["checks"]
    assert sorted(c["name"] for c in anonymized_checks) == expected_checks
    published = nodes[f"published/{child}"]["assetMaterializations"][0]["metadataEntries"]
    assert {e["label"]: e.get("intValue") for e in published}["release"] == 1

    # a policy edit changes the anonymized assets' code version: after a reload they are stale
    stale = {
        "/".join(n["assetKey"]["path"]): n["staleStatus"] for n in server.graphql(STALE_QUERY)["assetNodes"]
    }
    assert stale[f"anonymized/{child}"] == "FRESH"
    policy = server.settings.policy_path
    policy.write_text(
        policy.read_text().replace("name:     {class: safe, rule: keep}", "name: {class: pii, rule: token}")
    )
    server.graphql(RELOAD, {"name": "assets.definitions"})
    server.wait_until_loaded()
    stale = {
        "/".join(n["assetKey"]["path"]): n["staleStatus"] for n in server.graphql(STALE_QUERY)["assetNodes"]
    }
    assert all(stale[f"anonymized/{t}"] == "STALE" for t in tables), stale
