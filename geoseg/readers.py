"""Reading tiles in parallel: threads, each with its own GDAL handle on the scene (handles are
never shared between threads, and each is closed by the thread that opened it; GDAL
releases the GIL while it decodes), that read and stretch batches of tiles ahead of the
model and hand them over in order."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future

import numpy as np
from rasterio.windows import Window

from geoseg.raster import Scaling, read_tile
from geoseg.resample import SceneView
from geoseg.tiling import Tile
from geoseg.timing import Stopwatch

Read = tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]  # uint8 tiles, their validity


class TileReader:
    """Batches of tiles read by ``workers`` threads, at most ``workers + 1`` batches ahead of
    the consumer (so memory stays bounded), in the order they were asked for."""

    def __init__(self, view: SceneView, bands: list[int], scaling: Scaling, workers: int = 1,
                 watch: Stopwatch | None = None) -> None:
        self.view, self.bands, self.scaling = view, bands, scaling
        self.workers = max(1, workers)
        self.watch = watch or Stopwatch()

    def _work(self, tasks: queue.Queue) -> None:
        """One reader thread: its own handle, batches until told to stop (None)."""
        with self.view.open() as src:
            while (task := tasks.get()) is not None:
                future, tiles = task
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    with self.watch("read"):
                        windows = (Window(t.x, t.y, t.width, t.height) for t in tiles)
                        future.set_result(tuple(zip(*(read_tile(src, self.bands, w, self.scaling) for w in windows))))
                except BaseException as exc:  # handed to the consumer, which raises it
                    future.set_exception(exc)

    def in_order(self, batches: Sequence[Sequence[Tile]]) -> Iterator[Read]:
        """Each batch of ``batches`` read, in order, while the next ones are being read."""
        tasks: queue.Queue = queue.Queue()
        threads = [threading.Thread(target=self._work, args=(tasks,), name=f"geoseg-read-{i}", daemon=True)
                   for i in range(min(self.workers, max(1, len(batches))))]
        for thread in threads:
            thread.start()
        pending: deque[Future] = deque()
        try:
            for tiles in batches:
                future: Future = Future()
                tasks.put((future, tiles))
                pending.append(future)
                if len(pending) > self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            for _ in threads:
                tasks.put(None)
            for thread in threads:
                thread.join()
