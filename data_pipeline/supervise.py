"""A crash in compiled code is not the user's first message: `data-pipeline run` forks, the child runs
the pipeline and the parent waits for it.

The child writes Python's faulthandler dump to DP_HOME/crash/run-<time>.log and, before each step (and
each part of a partitioned table), a breadcrumb line to the same file. If it dies by a signal, the
parent prints one line instead of a bare "Segmentation fault": the step it was in, what the target
holds (the publish is one transaction: a crash leaves the previous release), and where the details are;
it exits with 128 + the signal, as a shell would. Otherwise the file is removed and the child's exit
code is passed through. The child shares the terminal, so its output and Ctrl-C behave as without the
parent; a parent killed outright takes the child with it (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import faulthandler
import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

BREADCRUMB = "at: "
_crumbs: TextIO | None = None  # the child's crash file
_parent = False  # this process forked a supervised run


def wanted() -> bool:
    """Only where a child can speak for us (our output is the process's own, not a test's capture),
    on Linux, and before any thread is started (a fork copies only the calling thread)."""
    return (
        sys.platform == "linux"
        and sys.stdout is sys.__stdout__
        and sys.stderr is sys.__stderr__
        and threading.active_count() == 1
    )


def fork(home: Path, report: Callable[[int, str, Path], None]) -> int | None:
    """In the child: None (go on and run). In the parent: the exit code to leave with, once the child
    ended; `report(signal, last breadcrumb, crash file)` if it died by a signal."""
    crash_dir = home / "crash"
    crash_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = crash_dir / f"run-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        _become_child(path, parent)
        return None
    global _parent
    _parent = True
    return _wait(pid, path, report)


def exiting() -> None:
    """Call right before the process exits. In a supervised run (the child, the parent), the
    interpreter's teardown then skips collecting every object a run that imported Dagster and pandas
    holds, which took longer than a small database's steps; atexit handlers and weakref finalizers
    (spill directories) still run. A no-op elsewhere (a test's CliRunner goes on)."""
    if _crumbs is not None or _parent:
        gc.freeze()


def _become_child(path: Path, parent: int) -> None:
    global _crumbs
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the parent
    if os.getppid() != parent:  # it died before that
        os._exit(128 + signal.SIGKILL)
    _crumbs = path.open("a", encoding="utf-8")
    path.chmod(0o600)
    faulthandler.enable(file=_crumbs, all_threads=True)


def breadcrumb(where: str) -> None:
    """Note what the run is doing now (a no-op outside a supervised run)."""
    if _crumbs is not None:
        _crumbs.write(f"{BREADCRUMB}{where}\n")
        _crumbs.flush()


def _wait(pid: int, path: Path, report: Callable[[int, str, Path], None]) -> int:
    forward = lambda signum, _frame: os.kill(pid, signum)  # noqa: E731
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, lambda *_: None),  # the terminal sends it to both
        signal.SIGTERM: signal.signal(signal.SIGTERM, forward),
        signal.SIGHUP: signal.signal(signal.SIGHUP, forward),
    }
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        path.unlink(missing_ok=True)
        return code
    signum = -code
    if signum != signal.SIGINT:  # Ctrl-C: the user knows; anything else is news
        report(signum, last_breadcrumb(path), path)
    return 128 + signum


def last_breadcrumb(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    crumbs = [line.removeprefix(BREADCRUMB) for line in lines if line.startswith(BREADCRUMB)]
    return crumbs[-1] if crumbs else ""
