"""What the CLI says is what happened: output written to a pipe keeps whole lines and whole tables,
and a full disk under DP_HOME is one line, whose exit code tells whether the release was published
(5: it was, only its record failed) or not (2)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from refusals import one_error_line
from typer.testing import CliRunner

from data_pipeline.keys import generate_key_file
from data_pipeline.publish import published_release


def test_piped_output_keeps_whole_lines_and_tables(demo_db: Path, tmp_path: Path, no_suites: Path) -> None:
    deep = tmp_path / ("a-directory-with-a-long-name-" * 3)
    home, target = deep / "home", f"sqlite:///{deep / 'target.db'}"
    generate_key_file(home / "anon.key")
    env = {
        **os.environ,
        "DP_HOME": str(home),
        "DP_SOURCE_URL": f"sqlite:///{demo_db}",
        "DP_TARGET_URL": target,
    }
    env |= {"DP_SUITES": str(no_suites), "COLUMNS": "80"}
    cli = [sys.executable, "-m", "data_pipeline.cli"]
    run = subprocess.run([*cli, "run"], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"plan: sqlite:///{demo_db} -> {target}, release 1 (first)" in run.stdout.splitlines()
    listed = subprocess.run([*cli, "releases"], capture_output=True, text=True, env=env, timeout=300)
    assert listed.returncode == 0, listed.stderr
    assert f"releases of {target}" in listed.stdout.splitlines()
    row = next(line for line in listed.stdout.splitlines() if line.startswith("│ 1 "))
    assert "…" not in listed.stdout and len(row.split("│")[6].strip()) == 12  # whole policy digests


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MB file system of its own (tmpfs; needs root, as in CI), so a test can fill it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> None:
    """Every free byte of `disk` taken (unbuffered, so the last write is the one refused)."""
    with open(disk / "filler", "wb", buffering=0) as out:
        try:
            while True:
                out.write(bytes(1 << 20))
        except OSError:
            pass


def run(home: Path, source: Path, target: str, suites: Path):
    from data_pipeline.cli import app

    args = ["run", "--home", str(home), "--source", f"sqlite:///{source}", "--target", target]
    return CliRunner().invoke(app, args, env={"DP_SUITES": str(suites)})


def test_a_full_disk_before_the_publish_is_one_line(
    small_disk: Path, demo_db: Path, tmp_path: Path, no_suites: Path
) -> None:
    home = small_disk / "home"
    generate_key_file(home / "anon.key")
    target = f"sqlite:///{tmp_path / 'target.db'}"  # elsewhere: it has room
    fill(small_disk)
    result = run(home, demo_db, target, no_suites)
    assert result.exit_code == 2, result.output
    line = one_error_line(result.output)
    assert "no space left on the device" in line and str(home) in line
    assert "Exception while writing" not in result.output
    assert published_release(sa.create_engine(target)) is None


def test_a_full_disk_after_the_publish_says_the_release_was_published(
    small_disk: Path, demo_db: Path, tmp_path: Path, no_suites: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target took release 1, then DP_HOME filled up: the ledger and Dagster's storage could not
    record it. Exit 5 (not 'nothing was published'); once there is room, the next run is release 2."""
    import data_pipeline.stages.publish as stage

    home = small_disk / "home"
    generate_key_file(home / "anon.key")
    target = f"sqlite:///{tmp_path / 'target.db'}"
    real = stage.write_release

    def publish_then_fill(*args, **kwargs):
        rows = real(*args, **kwargs)
        fill(small_disk)
        return rows

    monkeypatch.setattr(stage, "write_release", publish_then_fill)
    result = run(home, demo_db, target, no_suites)
    assert result.exit_code == 5, result.output
    line = one_error_line(result.output)
    assert f"release 1 was published to {target}, but recording it in" in line
    assert "no space left on the device" in line and "next run continues at 2" in line
    assert "nothing was published" not in result.output and "Exception while writing" not in result.output
    assert published_release(sa.create_engine(target)) == 1

    monkeypatch.setattr(stage, "write_release", real)
    (small_disk / "filler").unlink()
    again = run(home, demo_db, target, no_suites)
    assert again.exit_code == 0, again.output
    assert "release 2 published" in again.output
    assert published_release(sa.create_engine(target)) == 2
    shutil.rmtree(home, ignore_errors=True)
