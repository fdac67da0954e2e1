"""Building footprints from a vector file burnt onto a raster grid: as a mask, or with one ID
per building (touching buildings stay apart)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rasterio import features

from geoseg.errors import GeosegError

Grid = tuple[tuple[int, int], object, object]  # (height, width), transform, CRS


def burn_footprints(path: str | Path, grid: Grid, instances: bool = False) -> np.ndarray:
    """The footprints of ``path`` on ``grid`` (pixel centres inside a polygon): a boolean mask,
    or with ``instances`` an int32 array of building IDs from 1 (0 outside every building;
    where footprints overlap, the later one wins)."""
    import pyogrio

    try:
        frame = pyogrio.read_dataframe(path)
    except Exception as exc:  # pyogrio's DataSourceError and friends
        raise GeosegError(f"{path} is not a vector file OGR can read ({str(exc).splitlines()[0]})") from None
    shape, transform, crs = grid
    if frame.crs is None:
        raise GeosegError(f"{path} has no CRS")
    geoms = [g for g in frame.to_crs(crs).geometry if g is not None and not g.is_empty]
    if not geoms:
        return np.zeros(shape, dtype=np.int32 if instances else bool)
    burnt = features.rasterize(((g, i) for i, g in enumerate(geoms, 1)), out_shape=shape, transform=transform,
                               dtype="int32")
    return burnt if instances else burnt > 0
