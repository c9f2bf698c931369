"""The boundary for errors raised while raw values are in hand: they leave as their type, table and
column only, so no value reaches the console, Dagster's event log or the ledger.

An exception's message, notes, cause and context may all quote the value that broke it (pandas'
"unable to parse: (848) 878-8392", a driver's "invalid input syntax ... 'ann@example.com'"), and
Dagster stores the whole chain. So the error is replaced, not wrapped: `raise ... from None`.

    >>> with scrubbed("snapshot", "customers"):
    ...     raise ValueError("unable to parse: ann@example.com")
    Traceback (most recent call last):
    data_pipeline.scrub.RawValueError: snapshot of customers failed: ValueError (message withheld: ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from data_pipeline.errors import NO_SPACE, DiskFull, PipelineError, disk_full


class RawValueError(PipelineError):
    """A failure while raw values were in hand; its message names where, never what (exit 2)."""

    exit_code = 2


@contextmanager
def scrubbed(step: str, table: str, column: str | None = None, rule: str | None = None) -> Iterator[None]:
    """Our own errors pass (their messages never carry values); any other leaves scrubbed."""
    try:
        yield
    except PipelineError:
        raise
    except Exception as exc:  # noqa: BLE001 - every other error may quote a raw value
        if disk_full(exc):  # the condition, not the data: the user frees space, the policy is fine
            where = f"{table}.{column}" if column else table
            raise DiskFull(f"{step} of {where}: {NO_SPACE} under DP_HOME; free space and run again") from None
        raise RawValueError(describe(exc, step, table, column, rule)) from None


def describe(exc: BaseException, step: str, table: str, column: str | None, rule: str | None) -> str:
    where = f"{table}.{column}" if column else table
    what = f"rule `{rule}` on {where}" if rule else f"{step} of {where}"
    hint = (
        f"; check that `{rule}` fits the column's type and values (docs/POLICY.md), or choose another rule"
        if rule
        else ""
    )
    code = getattr(getattr(exc, "orig", exc), "pgcode", None)  # a database's SQLSTATE names no value
    kind = f"{type(exc).__name__}" + (f" (SQLSTATE {code})" if code else "")
    return f"{what} failed: {kind} (message withheld: it may quote a raw value){hint}"
