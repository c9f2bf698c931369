"""The core is free of the framework that drives it: nothing in data_pipeline/ below the CLI imports
Dagster or the Dagster layer (assets/), and the rule catalogue sits at the bottom."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import data_pipeline


def core_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(data_pipeline.__path__, "data_pipeline.")]
    return sorted(n for n in names if n != "data_pipeline.cli")


def test_the_core_never_imports_dagster_or_assets() -> None:
    modules = core_modules()
    assert "data_pipeline.stages.anonymize" in modules and "data_pipeline.plan" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'assets'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
