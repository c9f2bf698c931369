"""Stage plumbing: batches read ahead in a thread arrive whole, in order, and carry their errors."""

from __future__ import annotations

import threading

import pytest

from data_pipeline.streams import read_ahead


def test_read_ahead_keeps_order_and_reads_one_item_ahead() -> None:
    produced = []

    def items():
        for i in range(5):
            produced.append(i)
            yield i

    seen = []
    for item in read_ahead(items()):
        seen.append(item)
        assert len(produced) <= item + 2  # this one, and at most the next
    assert seen == list(range(5))


def test_read_ahead_raises_the_readers_error_in_the_consumer() -> None:
    def items():
        yield 1
        raise ValueError("corrupt row group")

    got = []
    with pytest.raises(ValueError, match="corrupt row group"):
        for item in read_ahead(items()):
            got.append(item)
    assert got == [1]


def test_read_ahead_stops_its_thread_when_the_consumer_stops() -> None:
    reader = read_ahead(iter(range(100)))
    assert next(reader) == 0
    reader.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("read-ahead")]
