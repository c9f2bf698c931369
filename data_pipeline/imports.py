"""Importing the big libraries (Dagster, pandas, Great Expectations) without Python's cyclic collector.

Their imports make hundreds of thousands of long-lived objects, and the collector, triggered by
allocation counts, walks all of them again and again while they load: a third of the import time,
which is most of a small database's run. Nothing they allocate while loading is garbage to collect.

>>> with collector_paused():
...     import json
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The collector off for the `with` block (imports only), then as it was. Not frozen after: a
    process that imports late (a step, the code server) may hold cyclic garbage that must stay
    collectable."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
