"""Errors that map to the CLI's exit codes, so every layer fails the same way.

Messages name the table/column/file at fault and what to do. They never carry a secret or a raw value.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path


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


class PublishedUnrecorded(PipelineError):
    """The release is in the target, but recording it (the ledger, Dagster's storage) failed (exit 5):
    unlike every other failure, something WAS published."""

    exit_code = 5

    def __init__(self, release: int, target: str, where: str, reason: str) -> None:
        self.release = release
        super().__init__(
            f"release {release} was published to {target}, but recording it in {where} failed ({reason}); "
            f"the target holds release {release} and the next run continues at {release + 1}"
        )


class DiskFull(PipelineError):
    """No space left where DP_HOME (or a database file) is written (exit 2): nothing was published."""

    exit_code = 2


NO_SPACE = "no space left on the device"


def disk_full(exc: BaseException | None, home: Path | None = None) -> bool:
    """Whether an error, or one it was raised from, says the disk is full (ENOSPC, EDQUOT, SQLite's
    'database or disk is full'), or is an I/O error while `home` has (almost) no space left: SQLite
    reports a full disk as 'disk I/O error' when its journal cannot grow. Such messages carry no
    value, only the condition."""
    seen = set()
    io_error = False
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(exc)
        if "database or disk is full" in text or "No space left on device" in text:
            return True
        io_error = io_error or isinstance(exc, OSError) or "disk I/O error" in text
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return io_error and home is not None and space_left(home) < 1 << 20


def space_left(path: Path) -> int:
    """Free bytes on the file system holding `path` (or its nearest existing parent)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def reason(exc: BaseException, home: Path | None = None) -> str:
    """What an unexpected error was, in words that carry no value: its condition or its type."""
    return NO_SPACE if disk_full(exc, home) else type(exc).__name__
