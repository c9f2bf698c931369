"""Runs on Dagster's own engines: one process per step, a concurrency pool per database, and
Celery workers behind a real broker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster_support import REPO, dagster_cli, defs_of, free_port, settings_env

from assets.execution import (
    EXECUTOR_CONFIG_ENV,
    EXECUTOR_ENV,
    PROCESSES_ENV,
    build_executor,
    database_pool,
)
from assets.schedules import ANONYMIZED_COPY_JOB
from data_pipeline.config import Settings
from data_pipeline.db import make_engine
from data_pipeline.errors import BadInput
from data_pipeline.ledger import Ledger
from data_pipeline.schema import reflect

DEPLOY = REPO / "deploy"


def test_each_database_has_its_own_pool_without_credentials() -> None:
    prod = database_pool("postgresql://reader:s3cret@prod-replica:5432/shop?sslmode=require")
    assert prod == "db:postgresql:prod-replica:5432/shop"
    assert database_pool("postgresql+psycopg2://writer:other@prod-replica:5432/shop") == prod
    assert database_pool("postgresql://reader@staging/shop") == "db:postgresql:staging/shop"
    assert database_pool("mysql+pymysql://u:p@db.internal/crm") == "db:mysql:db.internal/crm"
    assert database_pool("sqlite:////data/my shop.db") == "db:sqlite:/data/my_shop.db"
    assert database_pool("not a url") == "db:unparsable-url"


def test_snapshot_and_publish_are_in_their_database_pools(settings: Settings) -> None:
    graph = defs_of(settings).resolve_asset_graph()
    pools = {key.to_user_string(): graph.get(key).pools for key in graph.get_all_asset_keys()}
    for table in reflect(make_engine(settings.source_url)).names:
        assert pools[f"published/{table}"] == {database_pool(settings.target_url)}
        assert pools[f"snapshot/{table}"] == {database_pool(settings.source_url)}
        assert not pools[f"anonymized/{table}"]  # CPU-bound: limited by the executor, not a database


def _forkserver_started(env: dict[str, str]) -> bool:
    """Whether `start_forkserver` leaves a forkserver child behind, in a fresh interpreter."""
    code = (
        "import os, pathlib; from assets.execution import start_forkserver; start_forkserver()\n"
        "pid = os.getpid(); kids = pathlib.Path(f'/proc/{pid}/task/{pid}/children').read_text().split()\n"
        "print(any(b'forkserver' in pathlib.Path(f'/proc/{k}/cmdline').read_bytes() for k in kids))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True
    )
    return done.stdout.strip() == "True"


def test_forkserver_starts_before_the_run_unless_another_start_method_is_configured(tmp_path: Path) -> None:
    """The CLI starts the executor's forkserver while it plans, so the first step does not wait for
    its imports; a start method chosen in DP_EXECUTOR_CONFIG is left to the executor."""
    env = {k: v for k, v in os.environ.items() if k != EXECUTOR_CONFIG_ENV}
    env["PYTHONPATH"] = str(REPO)
    assert _forkserver_started(env)
    config = tmp_path / "executor.yaml"
    config.write_text("start_method:\n  spawn: {}\n")
    assert not _forkserver_started({**env, EXECUTOR_CONFIG_ENV: str(config)})


def test_executor_is_chosen_by_environment(tmp_path: Path) -> None:
    default = build_executor({})
    assert default.name == "multiprocess"
    assert build_executor({EXECUTOR_ENV: "in_process"}) is dg.in_process_executor
    with pytest.raises(BadInput, match="not one of multiprocess, in_process, celery, k8s"):
        build_executor({EXECUTOR_ENV: "threads"})
    config = tmp_path / "executor.yaml"
    config.write_text("max_concurrent: 1\n")
    assert build_executor({EXECUTOR_CONFIG_ENV: str(config)}).name == "multiprocess"
    config.write_text("- not a mapping\n")
    with pytest.raises(BadInput, match="expected a mapping"):
        build_executor({EXECUTOR_CONFIG_ENV: str(config)})
    with pytest.raises(BadInput, match="executor.missing"):
        build_executor({EXECUTOR_CONFIG_ENV: str(tmp_path / "executor.missing")})


def test_dp_processes_caps_the_steps_at_once(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`data-pipeline run --processes N` and the code location alike; the executor's own config wins."""
    monkeypatch.setenv(PROCESSES_ENV, "3")
    job = defs_of(settings).resolve_job_def(ANONYMIZED_COPY_JOB)
    assert dg.validate_run_config(job, {})["execution"]["multiprocess"]["max_concurrent"] == 3
    config = tmp_path / "executor.yaml"
    config.write_text("max_concurrent: 1\n")
    monkeypatch.setenv(EXECUTOR_CONFIG_ENV, str(config))
    job = defs_of(settings).resolve_job_def(ANONYMIZED_COPY_JOB)
    assert dg.validate_run_config(job, {})["execution"]["multiprocess"]["max_concurrent"] == 1
    for bad in ("0", "two", "-1"):
        with pytest.raises(BadInput, match=f"DP_PROCESSES={bad}: expected a number of processes"):
            build_executor({PROCESSES_ENV: bad})


@pytest.mark.parametrize("engine", ["multiprocess", "celery", "k8s"])
def test_deploy_configs_are_accepted_by_dagster_executors(
    engine: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """deploy/'s snippets, checked against dagster-celery's and dagster-k8s's own config schemas."""
    configs = {"celery": DEPLOY / "celery" / "celery.yaml", "k8s": DEPLOY / "k8s" / "executor.yaml"}
    monkeypatch.setenv(EXECUTOR_ENV, engine)
    if engine in configs:
        monkeypatch.setenv(EXECUTOR_CONFIG_ENV, str(configs[engine]))
    monkeypatch.setenv("DP_CELERY_BROKER", "redis://broker:6379/0")
    monkeypatch.setenv("DP_CELERY_BACKEND", "redis://broker:6379/1")
    monkeypatch.setenv("DP_K8S_NAMESPACE", "data-pipeline")
    job = defs_of(settings).resolve_job_def(ANONYMIZED_COPY_JOB)
    execution = dg.validate_run_config(job, {})["execution"]
    assert list(execution) == [engine]
    config = execution[engine]
    if engine == "multiprocess":
        preload = ["dagster", "assets.definitions", "assets.runner"]
        assert config["start_method"] == {"forkserver": {"preload_modules": preload}}
    elif engine == "celery":
        from dagster_celery.cli import get_validated_config

        assert config["broker"] == "redis://broker:6379/0"
        worker = get_validated_config(str(configs["celery"]))  # what `dagster-celery worker -y` reads
        assert worker["broker"] == config["broker"] and worker["backend"] == "redis://broker:6379/1"
    else:
        assert config["job_namespace"] == "data-pipeline"
        assert config["volume_mounts"][0]["mountPath"] == "/data/dp_home"


def test_job_runs_one_process_per_step_with_pools(ui_settings: Settings) -> None:
    """`dagster job execute` in a fresh process, like a run worker: multiprocess executor (forkserver)
    and, as in deploy/dagster.yaml, every pool capped at one slot."""
    settings = ui_settings
    config = settings.dagster_home / "dagster.yaml"
    config.write_text(config.read_text() + "concurrency:\n  pools:\n    default_limit: 1\n")
    started = time.monotonic()
    done = subprocess.run(
        [dagster_cli(), "job", "execute", "-m", "assets.definitions", "-j", ANONYMIZED_COPY_JOB],
        cwd=REPO,
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=600,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]

    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        [run] = instance.get_runs()
        assert run.job_name == ANONYMIZED_COPY_JOB and run.status == dg.DagsterRunStatus.SUCCESS
        events = [r.event_log_entry.dagster_event for r in instance.get_records_for_run(run.run_id).records]
        events = [e for e in events if e is not None]
        parent = next(e.pid for e in events if e.event_type == dg.DagsterEventType.RUN_START)
        step_pids = {e.step_key: e.pid for e in events if e.event_type == dg.DagsterEventType.STEP_START}
        tables = reflect(make_engine(settings.source_url)).names
        assert {"snapshot", "published", *(f"anonymized__{t}" for t in tables)} <= set(step_pids)
        assert parent not in step_pids.values()
        assert len(set(step_pids.values())) == len(step_pids), "each step in its own process"

        storage = instance.event_log_storage
        for pool in (database_pool(settings.source_url), database_pool(settings.target_url)):
            assert pool in storage.get_concurrency_keys(), pool  # the step claimed a slot of its pool
            info = storage.get_concurrency_info(pool)
            assert info.slot_count == 1 and info.active_slot_count == 0 and info.pending_step_count == 0

    release = Ledger(settings.ledger_url).current(settings.target_url)
    assert release is not None and release.number == 1
    print(f"multiprocess run of {len(step_pids)} steps: {elapsed:.1f}s")


def redis_server() -> str:
    """Debian's redis-server (`.ci/run` installs it); skips on a developer machine without it."""
    import shutil as sh

    path = sh.which("redis-server") or "/usr/bin/redis-server"
    if not Path(path).exists():
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing in CI: scripts/system-deps.sh installs it")
        pytest.skip("the celery test needs redis-server (apt-get install redis-server)")
    return path


@pytest.mark.postgres
def test_job_runs_on_celery_workers_with_a_real_broker(
    ui_settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    """Scale-out for real: a Redis broker started here, a `dagster-celery worker` in its own process
    group, Dagster's storage on PostgreSQL as deploy/dagster.yaml has it (workers and the launcher
    write one run's events at once: SQLite's per-run files race there), and the job launched with
    DP_EXECUTOR=celery runs every step on the worker."""
    from test_production import dagster_pg_env, production_home

    production_home(ui_settings)
    port = free_port()
    broker = subprocess.Popen(
        [redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    env = {
        **settings_env(ui_settings),
        "DP_EXECUTOR": "celery",
        "DP_EXECUTOR_CONFIG": str(DEPLOY / "celery" / "celery.yaml"),
        "DP_CELERY_BROKER": f"redis://127.0.0.1:{port}/0",
        "DP_CELERY_BACKEND": f"redis://127.0.0.1:{port}/1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # its `celery`
        **dagster_pg_env(pg_url),
    }
    os.environ.update(dagster_pg_env(pg_url))  # this process reads the run back from the same storage
    with dg.DagsterInstance.from_config(str(ui_settings.dagster_home)):
        pass  # the storage's tables exist before two processes reach for them
    worker_log = tmp_path / "worker.log"
    with worker_log.open("wb") as out:
        worker = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("dagster-celery")),
                "worker",
                "start",
                "-A",
                "dagster_celery.app",
                "-y",
                str(DEPLOY / "celery" / "celery.yaml"),
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        done = subprocess.run(
            [dagster_cli(), "job", "execute", "-m", "assets.definitions", "-j", ANONYMIZED_COPY_JOB],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:] + worker_log.read_text()[-3000:]
    finally:
        for process in (worker, broker):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(30)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    with dg.DagsterInstance.from_config(str(ui_settings.dagster_home)) as instance:
        [run] = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
        events = [r.event_log_entry.dagster_event for r in instance.get_records_for_run(run.run_id).records]
        events = [e for e in events if e is not None]
        parent = next(e.pid for e in events if e.event_type == dg.DagsterEventType.RUN_START)
        step_pids = {e.step_key: e.pid for e in events if e.event_type == dg.DagsterEventType.STEP_START}
        assert "snapshot" in step_pids and "published" in step_pids
        assert parent not in step_pids.values(), "steps ran on the worker, not in the launching process"
    release = Ledger(ui_settings.ledger_url).current(ui_settings.target_url)
    assert release is not None and release.number == 1
