"""One run per DP_HOME at a time: a second one fails at once with a clear message (exit 4). Locks in
a target database are never waited for longer than DP_LOCK_TIMEOUT. Work that one process does for
several (a snapshot's fingerprints) is done under `waited_for`."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from data_pipeline.errors import Busy


def lock_timeout() -> str:
    """How long a lock in the target may be waited for (PostgreSQL's lock_timeout syntax)."""
    return os.environ.get("DP_LOCK_TIMEOUT") or "30s"


def bound_lock_waits(conn: sa.Connection) -> str:
    """This transaction waits for a lock in a PostgreSQL target at most lock_timeout(), which it
    returns; transaction-local, so a pooled connection keeps no setting."""
    timeout = lock_timeout()
    conn.execute(sa.text("SELECT set_config('lock_timeout', :timeout, true)"), {"timeout": timeout})
    return timeout


@contextmanager
def run_lock(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "run.lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise Busy(
                f"another data-pipeline run (pid {holder}) holds {path}; wait for it to finish"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def waited_for(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` between processes, waited for; the kernel drops it with
    a process that dies, so a killed holder never blocks the others."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
