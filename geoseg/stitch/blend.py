"""Blending overlapping tile predictions back into one scene, a stripe of rows at a time.

Each tile's weight is the outer product of two 1-D windows that rise as a raised cosine over
the pixels it shares with its neighbour and are 1 elsewhere (also at the scene's edges, where
no neighbour blends in). Two ramps over the same overlap sum to exactly 1. Because the grid is
Cartesian the weight sum is separable too, so only the weighted sum of predictions needs a
buffer: ``tile height + flush block`` rows of the scene's width, whatever the scene's height.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from geoseg.read.tiling import Tile, TileGrid


def ramp(length: int) -> np.ndarray:
    """A raised-cosine ramp of ``length`` values strictly between 0 and 1, rising."""
    i = np.arange(length, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(np.pi * (i + 0.5) / length)


def axis_weights(starts: list[int], size: int) -> list[np.ndarray]:
    """The 1-D blending window of each tile along one axis (tiles of ``size`` at ``starts``)."""
    windows = []
    for k, start in enumerate(starts):
        w = np.ones(size, dtype=np.float64)
        if k > 0:
            shared = min(starts[k - 1] + size - start, size // 2)
            if shared > 0:
                w[:shared] = ramp(shared)
        if k < len(starts) - 1:
            shared = min(start + size - starts[k + 1], size // 2)
            if shared > 0:
                w[size - shared:] *= ramp(shared)[::-1]
        windows.append(w)
    return windows


def axis_weight_sum(starts: list[int], size: int, length: int) -> np.ndarray:
    """Sum of the tiles' 1-D windows at each of ``length`` positions."""
    total = np.zeros(length, dtype=np.float64)
    for start, w in zip(starts, axis_weights(starts, size)):
        total[start:start + size] += w
    return total


Sink = Callable[[int, np.ndarray], None]


class StripeStitcher:
    """Accumulates weighted tile predictions and hands finished stripes of rows to ``sink``.

    Tiles must arrive grid row by grid row (any order within a row), as uint8 probabilities
    (0-255, as predictors answer); call :meth:`end_row` after each. ``sink(y, block)`` receives
    the blended ``(channels, rows, width)`` probabilities in the same units (float32, 0-255) in
    top-to-bottom order, ``block`` rows each (fewer at the scene's foot); ``block`` is a view
    that is only valid during the call (the sink may overwrite it).

    Each tile's 1-D windows are divided by the sum of all windows over their pixels, so the
    weights of a pixel sum to 1 as they are added and a finished row needs no division.
    """

    def __init__(self, grid: TileGrid, channels: int, sink: Sink, block: int = 256) -> None:
        self.grid = grid
        self.sink = sink
        self.block = block
        self.wy = _normalised(grid.ys, grid.tile_height, grid.height)
        self.wx = _normalised(grid.xs, grid.tile_width, grid.width)
        self._weights: dict[tuple[bytes, bytes], np.ndarray] = {}  # interior tiles share theirs
        rows = min(grid.height, grid.tile_height + block)
        self.buffer = self._zeros((channels, rows, grid.width))
        self._product = self._zeros((grid.tile_height, grid.tile_width))  # one tile's weighted channel
        self.top = 0  # scene row of buffer row 0; rows above it have gone to the sink

    def add(self, tile: Tile, prediction: np.ndarray) -> None:
        """Blend one tile's ``(channels, height, width)`` uint8 prediction in."""
        weight = self._weight(self.wy[tile.row], self.wx[tile.col])
        y = tile.y - self.top
        target = self.buffer[:, y:y + tile.height, tile.x:tile.x + tile.width]
        product = self._product[:tile.height, :tile.width]
        for c in range(prediction.shape[0]):  # one channel at a time, through one reused buffer
            self._multiply(prediction[c], weight, product)
            target[c] += product

    def end_row(self, row: int) -> None:
        """Flush the rows that no later grid row touches, in whole blocks."""
        if row + 1 < len(self.grid.ys):
            done = self.grid.ys[row + 1] // self.block * self.block
        else:
            done = self.grid.height
        if done > self.top:
            self._flush(done)

    def _weight(self, wy: np.ndarray, wx: np.ndarray) -> np.ndarray:
        key = (wy.tobytes(), wx.tobytes())
        if key not in self._weights:
            self._weights[key] = self._array(wy[:, None] * wx[None, :])
        return self._weights[key]

    def _flush(self, stop: int) -> None:
        n = stop - self.top
        for y in range(self.top, stop, self.block):
            self.sink(y, self._finished(self.buffer[:, y - self.top:min(y + self.block, stop) - self.top]))
        keep = self.buffer.shape[1] - n
        for start in range(0, keep, n):  # the kept rows move up n rows in pieces that do not overlap
            end = min(start + n, keep)   # their source, so no temporary copy of them is made
            self.buffer[:, start:end] = self.buffer[:, start + n:end + n]
        self.buffer[:, keep:] = 0.0
        self.top = stop

    # where the arrays live: NumPy here, a torch device in DeviceStitcher

    @staticmethod
    def _zeros(shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape, dtype=np.float32)

    @staticmethod
    def _array(values: np.ndarray) -> np.ndarray:
        return values

    @staticmethod
    def _multiply(prediction: np.ndarray, weight: np.ndarray, out: np.ndarray) -> None:
        np.multiply(prediction, weight, out=out)

    @staticmethod
    def _finished(rows: np.ndarray) -> np.ndarray:
        return rows


def _normalised(starts: list[int], size: int, length: int) -> list[np.ndarray]:
    """Each tile's 1-D window divided by the sum of all windows over its pixels (float32)."""
    total = axis_weight_sum(starts, size, length)
    return [(w / total[start:start + size]).astype(np.float32) for start, w in zip(starts, axis_weights(starts, size))]
