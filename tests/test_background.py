import gc
import threading
import weakref

import pytest

from geoseg.stitch.background import Background, heap_frozen


def test_consumer_sees_every_item_in_order_and_returns():
    with Background(lambda items: [x * 2 for x in items]) as bg:
        for x in range(100):
            bg.put(x)
    assert bg.result == [2 * x for x in range(100)]


def test_consumer_runs_on_another_thread():
    with Background(lambda items: [threading.current_thread().name for _ in items], name="worker") as bg:
        bg.put(1)
    assert bg.result[0].startswith("worker") and bg.result[0] != threading.current_thread().name


def test_consumer_error_reaches_the_caller():
    def consume(items):
        for x in items:
            if x == 3:
                raise ValueError("bad item 3")

    with pytest.raises(ValueError, match="bad item 3"):
        with Background(consume, depth=1) as bg:
            for x in range(1000):
                bg.put(x)


def test_caller_error_stops_the_consumer_without_draining():
    seen = []

    def consume(items):
        for x in items:
            seen.append(x)

    release = threading.Event()
    with pytest.raises(KeyError):
        with Background(lambda items: consume(i for i in items if release.wait(5)), depth=2) as bg:
            bg.put(1)
            bg.put(2)
            bg.put(3)
            release.set()
            raise KeyError("caller failed")
    assert len(seen) <= 2 and bg.result is None


class _Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def _cycle() -> weakref.ref:
    return weakref.ref(_Node())


def test_a_frozen_heap_keeps_older_cycles_until_the_block_ends_and_collects_newer_ones():
    before = gc.get_freeze_count()
    old = _cycle()
    with heap_frozen():
        assert gc.get_freeze_count() > before
        new = _cycle()
        gc.collect()
        assert old() is not None and new() is None  # what existed on entry is not scanned
    assert gc.get_freeze_count() == before
    gc.collect()
    assert old() is None
