"""Comparing a prediction with the truth on one grid: either may be a raster mask (or
probability raster) or a vector file of footprints, rasterised onto the other's grid. Two
rasters are compared on the truth's grid. The buildings of a raster are its connected
components; those of a vector file its polygons, touching or not."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from geoseg.errors import GeosegError
from geoseg.evaluate.footprints import Grid, burn_footprints
from geoseg.evaluate.metrics import ObjectCounts, PixelCounts
from geoseg.read.scene import open_scene
from geoseg.write.formats import DRIVERS


def is_vector(path: str | Path) -> bool:
    return Path(path).suffix.lower() in DRIVERS


def read_raster_mask(path: str | Path, threshold: float, grid: Grid | None = None) -> tuple[np.ndarray, np.ndarray, Grid]:
    """Building mask, validity and grid of a raster: 0/1, 0/255 masks and 0-255 or 0-1
    probabilities all work (a pixel is building at ``threshold`` of the band's full scale).
    With ``grid``, the raster is first resampled onto it (bilinearly: a probability raster
    that ``predict`` wrote at the model's pixel size, compared with truth on the scene's)."""
    with open_scene(path) as src, _on(src, grid) as seen:
        values = seen.read(1)
        valid = seen.dataset_mask() > 0
        grid = (values.shape, seen.transform, seen.crs)
    full_scale = 255.0 if values.max(initial=0) > 1 else 1.0
    return values >= threshold * full_scale, valid, grid


@contextlib.contextmanager
def _on(src: rasterio.DatasetReader, grid: Grid | None) -> Iterator[rasterio.DatasetReader]:
    if grid is None or (src.shape, src.transform, src.crs) == tuple(grid):
        yield src
        return
    (height, width), transform, crs = grid
    with WarpedVRT(src, crs=crs, transform=transform, width=width, height=height, resampling=Resampling.bilinear,
                   add_alpha=src.nodata is None) as vrt:  # validity from nodata, or an alpha band from the mask
        yield vrt


def evaluate(pred: str | Path, truth: str | Path, threshold: float = 0.5, min_iou: float = 0.5) -> dict:
    """Pixel IoU/F1/precision/recall and object F1 at IoU >= ``min_iou`` of ``pred`` against ``truth``."""
    if is_vector(pred) and is_vector(truth):
        raise GeosegError("give at least one raster (prediction or truth) to define the grid")
    masks: dict[str, np.ndarray] = {}
    valid = None
    grid = None
    for key, path in (("truth", truth), ("pred", pred)):  # the truth's grid, where it is a raster
        if not is_vector(path):
            masks[key], ok, grid = read_raster_mask(path, threshold, grid)
            valid = ok if valid is None else valid & ok
    for key, path in (("pred", pred), ("truth", truth)):
        if is_vector(path):  # one ID a footprint: each polygon is one building, touching or not
            masks[key] = burn_footprints(path, grid, instances=True)
    pred_objects, truth_objects = (masks[key] * valid for key in ("pred", "truth"))  # masks stay masks, IDs IDs
    scores = PixelCounts().add(pred_objects > 0, truth_objects > 0, valid).scores()
    scores.update(ObjectCounts().add(pred_objects, truth_objects, min_iou).scores())
    return {k: round(v, 4) for k, v in scores.items()}
