"""Helpers of the first-hour tests (issue 13): one clear line, no traceback, no raw value anywhere."""

from __future__ import annotations

from pathlib import Path


def one_error_line(output: str) -> str:
    """The one `error:` line of a refused command (and no traceback)."""
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


def files_outside_the_vault(home: Path) -> list[Path]:
    return [f for f in home.rglob("*") if f.is_file() and "vault" not in f.relative_to(home).parts]


def assert_nowhere(needles: list[str], home: Path, output: str) -> None:
    """None of `needles` (raw values) on the console or in any file under DP_HOME but the vault."""
    assert not [n for n in needles if n in output], "the console shows a raw value"
    for file in files_outside_the_vault(home):
        data = file.read_bytes()
        assert not [n for n in needles if n.encode() in data], f"{file} holds a raw value"
