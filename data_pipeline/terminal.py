"""Where the CLI writes: the same console in the CLI's process and in the step processes of a run
it hands to Dagster's multiprocess executor."""

from __future__ import annotations

import sys

from rich.console import Console

UNWRAPPED = 100_000  # columns of a file or pipe: no line is wrapped, no table cut


def console(stderr: bool = False) -> Console:
    """A terminal gets lines wrapped and tables fitted to its width; a file or pipe gets every line
    whole (rich would otherwise wrap and cut at 80 columns)."""
    if (sys.stderr if stderr else sys.stdout).isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, soft_wrap=True, width=UNWRAPPED)
