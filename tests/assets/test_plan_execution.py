"""What `plan` shows is what runs: the steps Dagster executes equal the plan's steps, for a fresh
run, a resumed one and a roll-forward."""

from __future__ import annotations

import io

from rich.console import Console

from assets.runner import execute
from data_pipeline.config import Settings
from data_pipeline.plan import Anonymize, Check, Publish, Snapshot, Step


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def test_a_fresh_run_executes_exactly_its_plan(settings: Settings) -> None:
    code, plan, executed = execute(settings, quiet())
    assert code == 0
    assert [type(s) for s in plan.stages] == [Snapshot, Anonymize, Check, Publish]
    assert sorted(executed, key=repr) == sorted(plan.steps, key=repr)
    assert len(executed) == len(set(executed))
    assert executed[0] == Step("snapshot") and executed[-1] == Step("publish")


def test_resume_after_a_full_run_plans_and_runs_publish_only(settings: Settings) -> None:
    assert execute(settings, quiet())[0] == 0
    code, plan, executed = execute(settings, quiet(), resume=True)
    assert code == 0
    assert [type(s) for s in plan.stages] == [Publish]
    assert executed == plan.steps == (Step("publish"),)


def test_resume_anonymizes_only_the_tables_whose_checkpoint_is_not_current(settings: Settings) -> None:
    """A table whose anonymized checkpoint is gone (its step died before it was written, or it was
    purged) is anonymized again; the others are taken as they are, and publish checks every key."""
    from data_pipeline.context import Context

    assert execute(settings, quiet())[0] == 0
    ctx = Context(settings)
    record = next(r for r in reversed(ctx.ledger.anonymized()) if r.table == "customers")
    ctx.anonymized.delete(ctx.anonymized.ref(record.checkpoint)[1])
    code, plan, executed = execute(settings, quiet(), resume=True)
    assert code == 0
    assert [type(s) for s in plan.stages] == [Anonymize, Publish]
    assert plan.stage(Anonymize).tables == ("customers",)
    assert sorted(executed, key=repr) == sorted(plan.steps, key=repr)


def test_roll_forward_anonymizes_the_kept_snapshot_again(settings: Settings, tmp_path) -> None:
    import yaml

    assert execute(settings, quiet())[0] == 0
    policy = yaml.safe_load(settings.policy_path.read_text())
    policy["tables"]["products"]["columns"]["name"] = {"class": "pii", "rule": "token"}
    changed = tmp_path / "policy.yaml"
    changed.write_text(yaml.safe_dump(policy))
    from dataclasses import replace

    code, plan, executed = execute(replace(settings, policy_path=changed), quiet(), require_snapshot=True)
    assert code == 0
    assert [type(s) for s in plan.stages] == [Anonymize, Check, Publish]
    assert plan.stage(Anonymize).from_snapshot is not None
    assert sorted(executed, key=repr) == sorted(plan.steps, key=repr)


def test_a_failed_step_is_one_line_naming_its_error_once() -> None:
    from dagster_shared.error import SerializableErrorInfo

    from assets.runner import failure_line

    raised = SerializableErrorInfo(
        "data_pipeline.scrub.RawValueError: rule `x` on t.c failed\n", [], "RawValueError"
    )
    assert failure_line(raised) == "RawValueError: rule `x` on t.c failed"
    assert failure_line(SerializableErrorInfo("plain", [], "ValueError")) == "ValueError: plain"
    assert failure_line(None) == "step failed"
