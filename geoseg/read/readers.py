"""Reading tiles in parallel: threads, each with its own GDAL handle on the scene (handles are
never shared between threads, and each is closed by the thread that opened it; GDAL
releases the GIL while it decodes), that read and stretch batches of tiles ahead of the
model, prepare them for it (normalised, or on their way to the GPU) and hand them over in
order."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np
from rasterio.windows import Window

from geoseg.read.resample import SceneView
from geoseg.read.scene import Scaling, read_tile
from geoseg.read.tiling import Tile
from geoseg.timing import Stopwatch

Read = tuple[list[int], Any]  # which tiles of the batch hold valid pixels, those tiles prepared (None: none)


class TileReader:
    """Batches of tiles read by ``workers`` threads, at most ``workers + 1`` batches ahead of
    the consumer (so memory stays bounded), in the order they were asked for. The tiles of a
    batch that hold any valid pixel are stacked and passed through ``prepare`` there."""

    def __init__(self, view: SceneView, bands: list[int], scaling: Scaling, prepare: Callable[[np.ndarray], Any],
                 workers: int = 1, watch: Stopwatch | None = None) -> None:
        self.view, self.bands, self.scaling, self.prepare = view, bands, scaling, prepare
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
                    future.set_result(self._read(src, tiles))
                except BaseException as exc:  # handed to the consumer, which raises it
                    future.set_exception(exc)

    def _read(self, src, tiles: Sequence[Tile]) -> Read:
        with self.watch("read"):
            read = [read_tile(src, self.bands, Window(t.x, t.y, t.width, t.height), self.scaling) for t in tiles]
            keep = [i for i, (_, valid) in enumerate(read) if valid.any()]
            return keep, self.prepare(np.stack([read[i][0] for i in keep])) if keep else None

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
