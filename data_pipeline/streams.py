"""Streams of batches: bounded read-ahead, so reading the next batch overlaps using this one."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """`items`, each produced in a thread while the previous one is used: Parquet decoding runs
    without the GIL, so reading the next batch overlaps anonymizing and checking this one. One item
    at most is read ahead, so memory stays bounded."""
    end = object()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        pending = pool.submit(next, items, end)
        while (item := pending.result()) is not end:
            pending = pool.submit(next, items, end)
            yield item
