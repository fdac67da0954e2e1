"""A consumer on its own thread: the producer hands it items one by one, the consumer reads
them as an iterator. Writing and vectorising finished stripes this way runs beside inference."""

from __future__ import annotations

import contextlib
import gc
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
_END = object()
GRACE_SECONDS = 1.0  # how long a failed or interrupted caller waits for its consumer to stop


@contextlib.contextmanager
def heap_frozen() -> Iterator[None]:
    """Python's cyclic garbage collector leaves the objects that exist on entry (modules, the
    model, the caller's own) unscanned until the block ends. A full collection scans every
    object it tracks while it holds the interpreter's lock, so all of a run's threads stop for
    it: 0.1 s each time with torch loaded, three times in a 256 MP run. Objects made inside the
    block are collected as usual; on exit the frozen ones are tracked again."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class Stopped(Exception):
    """Raised by a consumer that sees its ``stop`` event set: the caller failed or was interrupted."""


class Background(Generic[Item, Result]):
    """Runs ``consume(items)`` on a worker thread while the caller ``put``s the items.

    At most ``depth`` items wait in the queue (``put`` blocks beyond that, which bounds memory).
    Used as a context manager: on a clean exit the consumer sees the end of its iterator and
    ``result`` holds what it returned; an error in the consumer is raised in the caller, at the
    next ``put`` or on exit; an error in the caller sets ``stop`` and ends the consumer's
    iterator, and a consumer with long work of its own checks ``stop`` and raises
    :class:`Stopped`, so the caller never waits for work nobody wants."""

    def __init__(self, consume: Callable[[Iterator[Item]], Result], depth: int = 2, name: str = "geoseg-bg",
                 stop: threading.Event | None = None) -> None:
        self._queue: queue.Queue = queue.Queue(depth)
        self.stop = stop or threading.Event()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._future = self._pool.submit(consume, self._items())
        self.result: Result | None = None

    def _items(self) -> Iterator[Item]:
        while True:
            item = self._queue.get()
            if item is _END or self.stop.is_set():
                return
            yield item

    def put(self, item: Item) -> None:
        while True:
            if self._future.done():  # the consumer failed (or returned early): say why now
                self._future.result()
                raise RuntimeError("the background consumer stopped before its input ended")
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def __enter__(self) -> Background[Item, Result]:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is not None:  # the caller failed or was interrupted: stop the consumer, wait briefly
            self.stop.set()
            with self._queue.mutex:
                self._queue.queue.clear()
            self._queue.put(_END)
            wait([self._future], timeout=GRACE_SECONDS)
            self._pool.shutdown(wait=False)  # a consumer still busy ends at its next check of stop
            return
        try:
            while not self._future.done():
                try:
                    self._queue.put(_END, timeout=0.05)
                    break
                except queue.Full:
                    continue
            self._pool.shutdown(wait=True)
        except BaseException:  # interrupted while the consumer finishes: tell it to stop
            self.stop.set()
            raise
        self.result = self._future.result()
