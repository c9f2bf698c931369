"""Errors that map to the CLI's exit codes, so every layer fails the same way.

Messages name the table/column/file at fault and what to do. They never carry a secret or a raw value.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class: carries the process exit code the CLI should use."""

    exit_code = 2


class BadInput(PipelineError):
    """Bad URL, policy, file or configuration (exit 2): nothing was copied or published."""

    exit_code = 2


class ChecksFailed(PipelineError):
    """A blocking check failed (exit 1): nothing was published."""

    exit_code = 1


class ForwardOnlyRefused(PipelineError):
    """A request would cross a forward-only step (exit 3); the message holds the roll-forward plan."""

    exit_code = 3


class Busy(PipelineError):
    """Another run holds DP_HOME (exit 4): nothing was touched."""

    exit_code = 4
