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
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.windows import Window

from geoseg.errors import GeosegError
from geoseg.vectorize import pixel_size_m

TOLERANCE = 0.1  # scenes whose pixels are within 10 % of the model's are read as they are


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


def zoom(pixel_m: float | None, gsd_m: float | None) -> float | None:
    """How much to enlarge an image of ``pixel_m``-metre pixels for a model of ``gsd_m`` (< 1:
    shrink); None where either is unknown or they are within :data:`TOLERANCE` of each other."""
    if not pixel_m or not gsd_m:
        return None
    factor = pixel_m / gsd_m
    return None if abs(math.log(factor)) <= math.log1p(TOLERANCE) else factor


def resampled_grid(src: rasterio.DatasetReader, gsd_m: float | None) -> Grid | None:
    """The grid with ``gsd_m``-metre pixels over ``src``'s extent, or None where no GSD is asked
    for or the scene's pixels are already within :data:`TOLERANCE` of it. Finer scenes are
    averaged down; coarser ones are interpolated bilinearly."""
    factor = zoom(pixel_size_m(src.transform, src.crs), gsd_m)
    if factor is None:
        return None
    width, height = max(1, round(src.width * factor)), max(1, round(src.height * factor))
    transform = src.transform * Affine.scale(src.width / width, src.height / height)
    return Grid(transform, width, height, Resampling.average if factor < 1 else Resampling.bilinear)


@dataclass(frozen=True)
class SceneView:
    """A scene file as the model sees it: on its own grid, or read onto ``grid``."""

    path: Path
    grid: Grid | None = None

    def on(self, src: rasterio.DatasetReader) -> rasterio.DatasetReader | ScaledScene:
        """The view through ``src``, an open handle on ``path``."""
        return src if self.grid is None else ScaledScene(src, self.grid)

    @contextlib.contextmanager
    def open(self) -> Iterator[rasterio.DatasetReader | ScaledScene]:
        """A new handle on the view (GDAL handles are never shared between threads)."""
        with rasterio.open(self.path) as src:
            yield self.on(src)


class ScaledScene:
    """A scene read on a finer or coarser grid over the same extent in the same CRS: each window
    of the grid comes from the matching fractional window of the file, resampled by GDAL as it
    is read (several times faster than a warped VRT, and the same pixels). It answers the
    reads the pipeline makes of a dataset: ``read``, ``dataset_mask`` and the grid's attributes."""

    def __init__(self, src: rasterio.DatasetReader, grid: Grid) -> None:
        self.src = src
        self.grid = grid
        self.name = src.name
        self.crs = src.crs
        self.transform = grid.transform
        self.width, self.height = grid.width, grid.height
        self._step = (src.width / grid.width, src.height / grid.height)

    def read(self, indexes: int | list[int], window: Window | None = None) -> np.ndarray:
        window = window or Window(0, 0, self.width, self.height)
        count = () if isinstance(indexes, int) else (len(indexes),)
        return self.src.read(indexes, window=self._source(window), out_shape=(*count, window.height, window.width),
                             resampling=self.grid.resampling)

    def dataset_mask(self, window: Window | None = None) -> np.ndarray:
        window = window or Window(0, 0, self.width, self.height)
        return self.src.dataset_mask(window=self._source(window), out_shape=(window.height, window.width),
                                     resampling=Resampling.nearest)

    def _source(self, window: Window) -> Window:
        sx, sy = self._step
        return Window(window.col_off * sx, window.row_off * sy, window.width * sx, window.height * sy)
