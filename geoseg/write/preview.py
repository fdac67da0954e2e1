"""Quick-look PNGs: the scene, contrast-stretched, with the building outlines drawn over it, or
(for a multiclass model) tinted with the colours of the classes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image, ImageDraw

from geoseg.read.percentiles import band_percentiles
from geoseg.write.atomic import atomic_output

PREVIEW_SIZE = 1024
TINT = 0.5  # weight of a class colour over the scene in a class preview


def preview_shape(height: int, width: int) -> tuple[int, int]:
    """The size of a preview of a ``height`` x ``width`` raster: at most ``PREVIEW_SIZE`` on the long side."""
    factor = max(1.0, max(height, width) / PREVIEW_SIZE)
    return max(1, math.floor(height / factor)), max(1, math.floor(width / factor))


def scene_image(src: rasterio.DatasetReader, bands: list[int], shape: tuple[int, int]) -> np.ndarray:
    """``src`` as 8-bit RGB of ``shape`` (``(rows, cols, 3)``), stretched between its 2nd and
    98th percentiles; pixels outside its valid data are black."""
    rgb = bands[:3] if len(set(bands)) >= 3 else [bands[0]] * 3
    data = src.read(rgb, out_shape=(3, *shape)).astype(np.float32)
    valid = src.dataset_mask(out_shape=shape) > 0
    low, high = band_percentiles(data, valid, 2.0, 98.0)
    stretched = (data - low[:, None, None]) / np.maximum(high - low, 1e-12)[:, None, None]
    image = (np.clip(stretched, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)
    image[~valid] = 0
    return image


def render_preview(
    src: rasterio.DatasetReader,
    bands: list[int],
    geometries: list,
    path: str | Path,
    colour: tuple[int, int, int] = (255, 40, 40),
    overwrite: bool = False,
) -> None:
    """Write ``path``: the scene with the outlines of ``geometries`` (in its CRS) in ``colour``."""
    shape = preview_shape(src.height, src.width)
    canvas = Image.fromarray(scene_image(src, bands, shape), "RGB")
    draw = ImageDraw.Draw(canvas)
    t = src.transform  # north-up (or an image's own pixels): checked when the scene was opened
    sx, sy = shape[1] / src.width / t.a, shape[0] / src.height / t.e
    width = 2 if src.width / shape[1] < 2 else 1
    for geom in geometries:
        for ring in [geom.exterior, *geom.interiors]:
            draw.line([((x - t.c) * sx, (y - t.f) * sy) for x, y in ring.coords], fill=colour, width=width)
    _save(canvas, path, overwrite)


def render_class_preview(
    src: rasterio.DatasetReader,
    bands: list[int],
    classes: np.ndarray,
    palette: list[list[int]],
    path: str | Path,
    overwrite: bool = False,
) -> None:
    """Write ``path``: the scene tinted with ``palette[c - 1]`` where ``classes`` (a class raster
    over the scene, 0 for none, 1 + the class index elsewhere; any size) holds class ``c``."""
    shape = preview_shape(src.height, src.width)
    image = scene_image(src, bands, shape).astype(np.float32)
    ids = np.asarray(Image.fromarray(classes.astype(np.uint8)).resize(shape[::-1], Image.NEAREST))
    colours = np.array([[0, 0, 0], *palette], dtype=np.float32)[ids]
    tinted = np.where((ids > 0)[..., None], (1 - TINT) * image + TINT * colours, image)
    _save(Image.fromarray(tinted.round().astype(np.uint8), "RGB"), path, overwrite)


class ClassThumbnail:
    """A preview-sized copy of a class raster, taken row by row as stripes of it stream past
    (nearest neighbour): what :func:`render_class_preview` tints the scene with."""

    def __init__(self, height: int, width: int) -> None:
        rows, cols = preview_shape(height, width)
        self.rows = np.minimum(((np.arange(rows) + 0.5) * height / rows).astype(np.int64), height - 1)
        self.cols = np.minimum(((np.arange(cols) + 0.5) * width / cols).astype(np.int64), width - 1)
        self.classes = np.zeros((rows, cols), dtype=np.uint8)

    def add(self, y0: int, ids: np.ndarray) -> None:
        """Take the sampled rows of a strip of class values whose first row is ``y0``."""
        picked = (self.rows >= y0) & (self.rows < y0 + ids.shape[0])
        self.classes[picked] = ids[self.rows[picked] - y0][:, self.cols]


def _save(canvas: Image.Image, path: str | Path, overwrite: bool) -> None:
    with atomic_output(path, overwrite=overwrite) as tmp:
        canvas.save(tmp, format="PNG")
