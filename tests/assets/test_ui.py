"""The Dagster UI, driven in headless Chromium: the asset graph, the forward-only marks, "Materialize
all", the run and its checks. Chromium is Debian's (`.ci/run` installs it); Playwright only drives it."""

from __future__ import annotations

import os
import time
import urllib.parse
from pathlib import Path

import pytest
from dagster_support import ARTIFACTS

from assets.assets import IN_STEP_CHECKS
from data_pipeline.db import make_engine
from data_pipeline.schema import reflect

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
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


CHECKS_QUERY = """{ assetNodes { assetKey { path }
    assetMaterializations(limit: 1) { runId metadataEntries { label ... on IntMetadataEntry { intValue } } }
    assetChecksOrError { ... on AssetChecks { checks { name
        executionForLatestMaterialization { status runId } } } } } }"""


def test_materialize_all_from_the_asset_graph(dagster_dev, browser) -> None:
    server = dagster_dev
    tables = reflect(make_engine(server.settings.source_url)).names
    page = browser.new_page(viewport={"width": 1600, "height": 2000})
    page.set_default_timeout(30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        # the asset graph of the anonymized group: every table, fed by its snapshot, into `published`
        page.goto(f"{server.url}/locations/assets.definitions/asset-groups/anonymized")
        page.get_by_text("published", exact=True).first.wait_for()
        for table in tables:
            assert page.get_by_text(table, exact=True).count() >= 2, f"{table}: no graph node + upstream link"

        # the forward-only marks: the tag selects exactly the anonymized assets, each described FORWARD-ONLY
        page.goto(selection_url(server.url, 'tag:"data_pipeline/forward_only"="true"'))
        page.get_by_text(f"anonymized / {tables[0]}").first.wait_for()
        page.wait_for_load_state("networkidle")
        lines = page.inner_text("body").splitlines()
        for table in tables:
            assert f"anonymized / {table}" in lines
            assert any(line.startswith(f"FORWARD-ONLY: anonymizes {table} ") for line in lines), table
        assert not any(line.startswith("snapshot / ") for line in lines) and "published" not in lines
        page.goto(selection_url(server.url, 'tag:"data_pipeline/forward_only"="false"'))
        page.get_by_text(f"snapshot / {tables[0]}").first.wait_for()
        page.wait_for_load_state("networkidle")
        lines = page.inner_text("body").splitlines()
        assert all(f"snapshot / {t}" in lines for t in tables) and "published" in lines
        assert not any(line.startswith(("anonymized / ", "FORWARD-ONLY")) for line in lines)

        # "Materialize all" on the global lineage launches one run through the daemon
        page.goto(f"{server.url}/asset-groups")
        page.get_by_role("button", name="Materialize all").click()
        view = page.locator('a[href*="/runs/"]', has_text="View").first
        view.wait_for()
        run_id = view.get_attribute("href").rstrip("/").rsplit("/", 1)[-1]
        assert wait_for_run(server, run_id) == "SUCCESS", server.log_tail()
        page.goto(f"{server.url}/runs/{run_id}")
        page.get_by_text("Success", exact=True).first.wait_for()

        # every check green, in the UI and through the GraphQL API
        page.goto(f"{server.url}/assets/anonymized/{tables[0]}?view=checks")
        for name in IN_STEP_CHECKS:
            page.get_by_text(name, exact=True).first.wait_for()
        assert page.get_by_text("Passed").count() >= len(IN_STEP_CHECKS)
        assert page.get_by_text("Failed", exact=True).count() == 0
        page.goto(f"{server.url}/locations/assets.definitions/asset-groups/anonymized")
        page.get_by_text("published", exact=True).first.wait_for()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(ARTIFACTS / "ui-anonymized-after-run.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "ui-failure.png"), full_page=True)
        raise

    nodes = {"/".join(n["assetKey"]["path"]): n for n in server.graphql(CHECKS_QUERY)["assetNodes"]}
    assert set(nodes) == {f"{s}/{t}" for s in ("snapshot", "anonymized") for t in tables} | {"published"}
    for key, node in nodes.items():
        assert node["assetMaterializations"][0]["runId"] == run_id, key
        for check in node["assetChecksOrError"].get("checks", []):
            execution = check["executionForLatestMaterialization"]
            assert execution and execution["status"] == "SUCCEEDED", (key, check)
            assert execution["runId"] == run_id
    anonymized_checks = nodes[f"anonymized/{tables[0]}"]["assetChecksOrError"]["checks"]
    assert {c["name"] for c in anonymized_checks} >= set(IN_STEP_CHECKS)
    published = nodes["published"]["assetMaterializations"][0]["metadataEntries"]
    assert {e["label"]: e.get("intValue") for e in published}["release"] == 1
