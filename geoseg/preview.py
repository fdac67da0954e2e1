"""A quick-look PNG: the scene, contrast-stretched, with the building outlines drawn over it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image, ImageDraw

from geoseg.atomic import atomic_output
from geoseg.raster import band_percentiles

PREVIEW_SIZE = 1024


def render_preview(
    src: rasterio.DatasetReader,
    bands: list[int],
    geometries: list,
    path: str | Path,
    colour: tuple[int, int, int] = (255, 40, 40),
    overwrite: bool = False,
) -> None:
    """Write ``path``: at most ``PREVIEW_SIZE`` pixels on the long side, outlines in ``colour``."""
    factor = max(1.0, max(src.width, src.height) / PREVIEW_SIZE)
    shape = (max(1, math.floor(src.height / factor)), max(1, math.floor(src.width / factor)))
    rgb = bands[:3] if len(set(bands)) >= 3 else [bands[0]] * 3
    data = src.read(rgb, out_shape=(3, *shape)).astype(np.float32)
    valid = src.dataset_mask(out_shape=shape) > 0
    low, high = band_percentiles(data, valid, 2.0, 98.0)
    stretched = (data - low[:, None, None]) / (high - low)[:, None, None]
    image = (np.clip(stretched, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)
    image[~valid] = 0
    canvas = Image.fromarray(image, "RGB")
    draw = ImageDraw.Draw(canvas)
    t = src.transform  # north-up: checked when the scene was opened
    sx, sy = shape[1] / src.width / t.a, shape[0] / src.height / t.e
    for geom in geometries:
        for ring in [geom.exterior, *geom.interiors]:
            draw.line([((x - t.c) * sx, (y - t.f) * sy) for x, y in ring.coords], fill=colour, width=2 if factor < 2 else 1)
    with atomic_output(path, overwrite=overwrite) as tmp:
        canvas.save(tmp, format="PNG")
