"""A Context over the shared temporary DP_HOME, demo source and no suites (tests/conftest.py)."""

from __future__ import annotations

import pytest

from data_pipeline.config import Settings
from data_pipeline.context import Context


@pytest.fixture
def ctx(settings: Settings) -> Context:
    return Context(settings)
