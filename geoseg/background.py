"""A consumer on its own thread: the producer hands it items one by one, the consumer reads
them as an iterator. Writing and vectorising finished stripes this way runs beside inference."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
_END = object()


class Background(Generic[Item, Result]):
    """Runs ``consume(items)`` on a worker thread while the caller ``put``s the items.

    At most ``depth`` items wait in the queue (``put`` blocks beyond that, which bounds memory).
    Used as a context manager: on a clean exit the consumer sees the end of its iterator and
    ``result`` holds what it returned; an error in the consumer is raised in the caller, at the
    next ``put`` or on exit; an error in the caller stops the consumer without waiting for it
    to finish its work."""

    def __init__(self, consume: Callable[[Iterator[Item]], Result], depth: int = 2, name: str = "geoseg-bg") -> None:
        self._queue: queue.Queue = queue.Queue(depth)
        self._stopped = False
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._future = self._pool.submit(consume, self._items())
        self.result: Result | None = None

    def _items(self) -> Iterator[Item]:
        while True:
            item = self._queue.get()
            if item is _END or self._stopped:
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
        if kind is not None:
            self._stopped = True
        while not self._future.done():
            try:
                self._queue.put(_END, timeout=0.05)
                break
            except queue.Full:
                if self._stopped:  # drop what waits: the consumer checks _stopped on its next item
                    with self._queue.mutex:
                        self._queue.queue.clear()
        self._pool.shutdown(wait=True)
        if kind is None:
            self.result = self._future.result()
