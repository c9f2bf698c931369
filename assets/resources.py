"""The one resource every asset uses: where the source, target, policy and state live, resolved to
the stages' `Context`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import PrivateAttr

from data_pipeline import source_state
from data_pipeline.config import Settings, load_settings
from data_pipeline.context import Context
from data_pipeline.schema import Schema

_PLANNED: dict[Settings, Context] = {}  # the Context a run of this process was planned with
PLANNED_ENV = "DP_PLANNED_STATE"  # the digest of the source state a run's step processes work on

ENV_FIELDS = {
    "home": "DP_HOME",
    "source_url": "DP_SOURCE_URL",
    "target_url": "DP_TARGET_URL",
    "policy_path": "DP_POLICY",
    "suites_dir": "DP_SUITES",
}


class PipelineResource(dg.ConfigurableResource):
    """Fed by environment variables (EnvVar), so secrets in URLs never show in the UI."""

    home: str
    source_url: str
    target_url: str
    policy_path: str
    suites_dir: str
    _shared: Context | None = PrivateAttr(default=None)

    def settings(self) -> Settings:
        return load_settings(
            home=self.home,
            source_url=self.source_url,
            target_url=self.target_url,
            policy=self.policy_path,
            suites=self.suites_dir,
        )

    def context(self) -> Context:
        """One Context per resource object, and Dagster makes one for each run (each step process
        under the multiprocess executor, each sensor tick): the steps of a run reflect the source and
        load the policy once, not once per step, and see the schema the snapshot was read with."""
        if self._shared is None:
            settings = self.settings()
            self._shared = _PLANNED.get(settings) or Context(settings, planned_schema(settings))
        return self._shared


def planned_schema(settings: Settings) -> Schema | None:
    """In a step process of a run the CLI planned (PLANNED_ENV names the source state it stored):
    that state's schema, so the step works on the schema the plan showed without reflecting the
    source again; None elsewhere (the UI's runs and sensors read the source as it is)."""
    digest = os.environ.get(PLANNED_ENV)
    state = source_state.load(settings) if digest else None
    return state.schema if state is not None and state.digest == digest else None


@contextmanager
def planned_with(ctx: Context) -> Iterator[None]:
    """A run executed in this process while in here (the CLI's) takes `ctx`, the Context its plan
    was made with, when its settings are the same: the source is reflected and the policy loaded
    once per run, and the steps run on the schema and policy the plan showed."""
    _PLANNED[ctx.settings] = ctx
    try:
        yield
    finally:
        _PLANNED.pop(ctx.settings, None)


def export_settings(settings: Settings) -> None:
    """Publish resolved settings as DP_* variables so EnvVar-fed resources (and child processes of
    the multiprocess executor) see the same configuration."""
    values = {
        "DP_HOME": str(settings.home),
        "DP_SOURCE_URL": settings.source_url,
        "DP_TARGET_URL": settings.target_url,
        "DP_POLICY": str(settings.policy_path),
        "DP_SUITES": str(settings.suites_dir),
    }
    if settings.subset:
        values["DP_SUBSET"] = json.dumps(list(settings.subset))
    if settings.subset_other:
        values["DP_SUBSET_OTHER"] = settings.subset_other
    os.environ.update(values)
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))


def pipeline_resource() -> PipelineResource:
    return PipelineResource(**{field: dg.EnvVar(var) for field, var in ENV_FIELDS.items()})
