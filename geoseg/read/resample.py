"""Scenes seen at the model's ground sample distance.

A network learns buildings at the pixel size of its training data. A scene with much finer or
coarser pixels is read on a grid of the model's pixel size (same CRS, same extent), so
buildings reach the network at the size it learned; polygons come out in the scene's CRS
either way."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.windows import Window, from_bounds

from geoseg.errors import GeosegError
from geoseg.ground import pixel_size_m
from geoseg.read.area import Area
from geoseg.read.scale import zoom
from geoseg.read.scene import open_scene
from geoseg.read.sources import Source


@dataclass(frozen=True)
class Grid:
    """A north-up grid over a scene's extent in the scene's CRS."""

    transform: Affine
    width: int
    height: int
    resampling: Resampling


def target_gsd(option: str, card_gsd: float | None) -> float | None:
    """The pixel size in metres the model should see for ``--gsd``: ``auto`` (the model card's,
    if it has one), ``native`` (the scene's own: None) or a number of metres."""
    if option == "native":
        return None
    if option == "auto":
        return card_gsd
    try:
        gsd = float(option)
    except ValueError:
        raise GeosegError(f"--gsd {option!r} is not auto, native or a number of metres") from None
    if not math.isfinite(gsd) or gsd <= 0:
        raise GeosegError(f"--gsd {option} must be a positive number of metres")
    return gsd


def resampled_grid(src: rasterio.DatasetReader, gsd_m: float | None) -> Grid | None:
    """The grid with ``gsd_m``-metre pixels over ``src``'s extent, or None where no GSD is asked
    for or the scene's pixels are already within :data:`geoseg.read.scale.TOLERANCE` of it. Finer scenes are
    averaged down; coarser ones are interpolated bilinearly."""
    factor = zoom(pixel_size_m(src.transform, src.crs), gsd_m)
    if factor is None:
        return None
    width, height = max(1, round(src.width * factor)), max(1, round(src.height * factor))
    transform = src.transform * Affine.scale(src.width / width, src.height / height)
    return Grid(transform, width, height, Resampling.average if factor < 1 else Resampling.bilinear)


def native_grid(src: rasterio.DatasetReader) -> Grid:
    """The scene's own grid."""
    return Grid(src.transform, src.width, src.height, Resampling.nearest)


def cropped(grid: Grid, bounds: tuple[float, float, float, float]) -> Grid:
    """The whole pixels of ``grid`` that cover ``bounds`` (minx, miny, maxx, maxy in its CRS)."""
    exact = from_bounds(*bounds, transform=grid.transform)
    eps = 1e-6  # a bound on a pixel edge, give or take float noise, takes no extra pixel
    col0 = max(0, math.floor(exact.col_off + eps))
    row0 = max(0, math.floor(exact.row_off + eps))
    col1 = min(grid.width, math.ceil(exact.col_off + exact.width - eps))
    row1 = min(grid.height, math.ceil(exact.row_off + exact.height - eps))
    if col1 <= col0 or row1 <= row0:
        raise GeosegError("the area of interest does not overlap the scene")
    return Grid(grid.transform * Affine.translation(col0, row0), col1 - col0, row1 - row0, grid.resampling)


@dataclass(frozen=True)
class SceneView:
    """A scene file as the model sees it: on its own grid, or read onto ``grid`` (finer,
    coarser or a part of the scene), with pixels outside ``area`` counted as invalid."""

    path: Source
    grid: Grid | None = None
    area: Area | None = None

    def on(self, src: rasterio.DatasetReader) -> rasterio.DatasetReader | ScaledScene:
        """The view through ``src``, an open handle on ``path``."""
        if self.grid is None and self.area is None:
            return src
        return ScaledScene(src, self.grid or native_grid(src), self.area)

    @contextlib.contextmanager
    def open(self) -> Iterator[rasterio.DatasetReader | ScaledScene]:
        """A new handle on the view (GDAL handles are never shared between threads)."""
        with open_scene(self.path, georeferenced=False) as src:  # checked as the run began
            yield self.on(src)


def scene_view(path: Source, src: rasterio.DatasetReader, gsd_m: float | None, area: Area | None) -> SceneView:
    """How the model sees ``src``: at ``gsd_m`` (see :func:`resampled_grid`), limited to the
    pixels that cover ``area``."""
    grid = resampled_grid(src, gsd_m)
    if area is not None:
        grid = cropped(grid or native_grid(src), area.bounds)
    return SceneView(path, grid, area)


class ScaledScene:
    """A scene read on another grid in the same CRS (finer, coarser, or a part of it): each
    window of the grid comes from the matching fractional window of the file, resampled by GDAL
    as it is read (several times faster than a warped VRT, and the same pixels). Pixels outside
    ``area`` are masked. It answers the reads the pipeline makes of a dataset: ``read``,
    ``dataset_mask`` and the grid's attributes."""

    def __init__(self, src: rasterio.DatasetReader, grid: Grid, area: Area | None = None) -> None:
        self.src = src
        self.grid = grid
        self.area = area
        self.name = src.name
        self.crs = src.crs
        self.count, self.dtypes, self.colorinterp = src.count, src.dtypes, src.colorinterp
        self.transform = grid.transform
        self.width, self.height = grid.width, grid.height
        to_source = ~src.transform * grid.transform  # north-up grids: a scale and an offset
        self._step = (round(to_source.a, 9), round(to_source.e, 9))
        self._origin = (round(to_source.c, 9), round(to_source.f, 9))

    def read(self, indexes: int | list[int], window: Window | None = None,
             out_shape: tuple[int, ...] | None = None) -> np.ndarray:
        window = window or Window(0, 0, self.width, self.height)
        count = () if isinstance(indexes, int) else (len(indexes),)
        shape = out_shape[-2:] if out_shape else (window.height, window.width)
        return self.src.read(indexes, window=self._source(window), out_shape=(*count, *shape),
                             resampling=self.grid.resampling)

    def dataset_mask(self, window: Window | None = None, out_shape: tuple[int, int] | None = None) -> np.ndarray:
        window = window or Window(0, 0, self.width, self.height)
        shape = out_shape or (window.height, window.width)
        mask = self.src.dataset_mask(window=self._source(window), out_shape=shape, resampling=Resampling.nearest)
        if self.area is not None:
            placed = self.transform * Affine.translation(window.col_off, window.row_off)
            scaled = placed * Affine.scale(window.width / shape[1], window.height / shape[0])
            mask[~self.area.mask(scaled, *shape)] = 0
        return mask

    def _source(self, window: Window) -> Window:
        (sx, sy), (x0, y0) = self._step, self._origin
        return Window(x0 + window.col_off * sx, y0 + window.row_off * sy, window.width * sx, window.height * sy)
