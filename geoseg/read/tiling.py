"""Window arithmetic for sliding-window inference. Pure functions, no I/O.

Tiles overlap by ``overlap`` pixels; the last tile on each axis is shifted inward so that it
ends at the scene's edge, so every tile lies inside the scene and nothing is padded. A scene
smaller than one tile gets a single tile of the scene's size.
"""

from __future__ import annotations

from typing import NamedTuple


class Tile(NamedTuple):
    row: int  # index in the grid
    col: int
    y: int  # pixel offset in the scene
    x: int
    height: int
    width: int


def axis_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets along one axis of ``length`` pixels for tiles of ``tile`` pixels."""
    if length <= 0:
        raise ValueError("length must be positive")
    if not 0 <= overlap < tile:
        raise ValueError("overlap must be at least 0 and smaller than the tile")
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


class TileGrid(NamedTuple):
    """A Cartesian grid of tiles: every row of tiles has the same column offsets."""

    height: int
    width: int
    tile_height: int
    tile_width: int
    ys: list[int]
    xs: list[int]

    def row(self, r: int) -> list[Tile]:
        return [Tile(r, c, self.ys[r], x, self.tile_height, self.tile_width) for c, x in enumerate(self.xs)]

    def __len__(self) -> int:  # type: ignore[override]
        return len(self.ys) * len(self.xs)


def tile_grid(height: int, width: int, tile: int, overlap: int) -> TileGrid:
    """The grid of ``tile``-sized windows with ``overlap`` covering a ``height`` x ``width`` scene."""
    return TileGrid(
        height=height,
        width=width,
        tile_height=min(tile, height),
        tile_width=min(tile, width),
        ys=axis_starts(height, tile, overlap),
        xs=axis_starts(width, tile, overlap),
    )


def strips(height: int, strip: int) -> list[tuple[int, int]]:
    """``(start, stop)`` row ranges of at most ``strip`` rows covering ``height`` rows."""
    return [(y, min(y + strip, height)) for y in range(0, height, strip)]
