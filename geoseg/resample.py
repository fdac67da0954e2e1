"""Scenes seen at the model's ground sample distance.

A network learns buildings at the pixel size of its training data. A scene with much finer or
coarser pixels is read through a GDAL warped VRT on a grid of the model's pixel size (same
CRS, same extent), so buildings reach the network at the size it learned; polygons come out in
the scene's CRS either way."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import rasterio
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.vrt import WarpedVRT

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
    factor = zoom(pixel_size_m(src.transform, src.crs), gsd_m) if gsd_m else None
    if factor is None:
        return None
    width, height = max(1, round(src.width * factor)), max(1, round(src.height * factor))
    transform = src.transform * Affine.scale(src.width / width, src.height / height)
    return Grid(transform, width, height, Resampling.average if factor < 1 else Resampling.bilinear)


@dataclass(frozen=True)
class SceneView:
    """A scene file as the model sees it: on its own grid, or warped onto ``grid``."""

    path: Path
    grid: Grid | None = None

    @contextlib.contextmanager
    def open(self) -> Iterator[rasterio.DatasetReader]:
        """A new handle on the view (GDAL handles are never shared between threads)."""
        with rasterio.open(self.path) as src:
            if self.grid is None:
                yield src
                return
            with warped(src, src.crs, self.grid) as vrt:
                yield vrt


def warped(src: rasterio.DatasetReader, crs, grid: Grid) -> WarpedVRT:
    """``src`` seen on ``grid`` in ``crs``, keeping its validity: through its nodata value, or
    an alpha band built from its mask."""
    return WarpedVRT(src, crs=crs, transform=grid.transform, width=grid.width, height=grid.height,
                     resampling=grid.resampling, add_alpha=src.nodata is None)
