"""How runs execute: Dagster's own executors and concurrency pools, nothing home-made.

- Every step runs in its own process (Dagster's multiprocess executor, `forkserver` start method with
  the code location preloaded, so a step does not pay for importing pandas and Dagster again).
- Steps that hold a database connection are in one Dagster concurrency pool per database
  (`db:<backend>:<host:port>/<database>`): the instance's `concurrency: pools:` settings in
  dagster.yaml cap how many such steps run at once across all runs (deploy/dagster.yaml: 1).
- `DP_PROCESSES` caps the steps the multiprocess executor runs at once (default: the cores);
  `data-pipeline run --processes N` sets it for its own run.
- `DP_EXECUTOR` grows the same code location into other Dagster executors: `celery` (dagster-celery)
  or `k8s` (dagster-k8s), configured by the YAML file in `DP_EXECUTOR_CONFIG` (see deploy/).
"""

from __future__ import annotations

import importlib
import multiprocessing
import multiprocessing.forkserver
import os
import re
from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import yaml
from sqlalchemy.engine import make_url

from data_pipeline.db import normalize_url
from data_pipeline.errors import BadInput

EXECUTOR_ENV = "DP_EXECUTOR"
EXECUTOR_CONFIG_ENV = "DP_EXECUTOR_CONFIG"
PROCESSES_ENV = "DP_PROCESSES"  # the multiprocess executor's max_concurrent, unless its config says
FORKSERVER_PRELOAD = ["dagster", "assets.definitions", "assets.runner"]  # runner: Dagster's storage

# name -> (module, attribute, the package to install, pinned like dagster-postgres)
EXTERNAL_EXECUTORS = {
    "celery": ("dagster_celery", "celery_executor", "dagster-celery==0.29.27"),
    "k8s": ("dagster_k8s", "k8s_job_executor", "dagster-k8s==0.29.27"),
}
EXECUTORS = ("multiprocess", "in_process", *EXTERNAL_EXECUTORS)


def database_pool(url: str) -> str:
    """The concurrency pool of one database: backend, host, port and database name, never the user,
    password or query string (pool names show in the UI)."""
    try:
        parsed = make_url(normalize_url(url))
    except Exception:  # noqa: BLE001 - an unparsable URL fails later, with its own clear message
        return "db:unparsable-url"
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        where = parsed.database or "memory"
    else:
        port = f":{parsed.port}" if parsed.port else ""
        where = f"{parsed.host or 'localhost'}{port}/{parsed.database or ''}"
    return re.sub(r"\s+", "_", f"db:{backend}:{where}")


def executor_config(env: Mapping[str, str] = os.environ) -> dict:
    """The executor's config from the YAML file DP_EXECUTOR_CONFIG names: either the config mapping
    itself or run-config form (`execution: config: ...`, the file `dagster-celery worker -y` takes)."""
    path = env.get(EXECUTOR_CONFIG_ENV)
    if not path:
        return {}
    try:
        config = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise BadInput(f"{EXECUTOR_CONFIG_ENV}={path}: {exc.__class__.__name__}: {exc}") from None
    if isinstance(config, dict) and isinstance(config.get("execution"), dict):
        config = config["execution"].get("config") or {}  # run-config form
    if not isinstance(config, dict):
        raise BadInput(f"{EXECUTOR_CONFIG_ENV}={path}: expected a mapping of executor config")
    return config


def processes(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise BadInput(f"{PROCESSES_ENV}={value}: expected a number of processes, 1 or more")
    return int(value)


def start_forkserver(env: Mapping[str, str] = os.environ) -> None:
    """Start the multiprocess executor's forkserver now, with the modules it will preload, so that
    their imports overlap the run's planning instead of delaying its first step (the server is one
    per process: the executor finds it running). Not when DP_EXECUTOR_CONFIG picks another start
    method. Set the environment the steps need first: they inherit the server's."""
    if "start_method" in executor_config(env):
        return
    multiprocessing.set_forkserver_preload(["dagster._core.executor.multiprocess", *FORKSERVER_PRELOAD])
    multiprocessing.forkserver.ensure_running()


def build_executor(env: Mapping[str, str] = os.environ) -> dg.ExecutorDefinition:
    """The executor every job of the code location uses, chosen by DP_EXECUTOR (default multiprocess)."""
    name = env.get(EXECUTOR_ENV) or "multiprocess"
    config = executor_config(env)
    if name == "multiprocess":
        config = {"start_method": {"forkserver": {"preload_modules": FORKSERVER_PRELOAD}}, **config}
        if env.get(PROCESSES_ENV) and "max_concurrent" not in config:
            config["max_concurrent"] = processes(env[PROCESSES_ENV])
        return dg.multiprocess_executor.configured(config, name="multiprocess")
    if name == "in_process":
        base = dg.in_process_executor
    elif name in EXTERNAL_EXECUTORS:
        module, attribute, package = EXTERNAL_EXECUTORS[name]
        try:
            base = getattr(importlib.import_module(module), attribute)
        except ImportError:
            hint = f"{EXECUTOR_ENV}={name} needs the {package} package: pip install {package}"
            raise BadInput(hint) from None
    else:
        raise BadInput(f"{EXECUTOR_ENV}={name} is not one of {', '.join(EXECUTORS)}")
    return base.configured(config, name=base.name) if config else base
