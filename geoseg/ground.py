"""Sizes on the ground: areas and lengths in metres for geometries in any CRS, and the side of
a raster's pixel in metres."""

from __future__ import annotations

import numpy as np
import shapely


class Ground:
    """Areas and lengths in metres for geometries in ``crs`` (geodesic for geographic CRSs).
    Without a CRS (an image that is not georeferenced), sizes are in the geometries' own units:
    pixels."""

    def __init__(self, crs) -> None:
        from pyproj import CRS, Geod

        self.geod, self.factor = None, 1.0
        if crs is None:
            return
        crs = CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)
        if crs.is_geographic:
            self.geod = Geod(ellps="WGS84")
        else:
            self.factor = crs.axis_info[0].unit_conversion_factor

    def area(self, geom) -> float:
        if self.geod is not None:
            return abs(self.geod.geometry_area_perimeter(geom)[0])
        return geom.area * self.factor**2

    def length(self, geom) -> float:
        if self.geod is not None:
            return self.geod.geometry_area_perimeter(geom)[1]
        return geom.length * self.factor


def pixel_size_m(transform, crs) -> float:
    """Side of a pixel in metres (geometric mean of x and y), also for geographic CRSs; in the
    transform's own units without a CRS."""
    x0, y0 = transform.c, transform.f
    return float(np.sqrt(Ground(crs).area(shapely.box(x0, y0 + transform.e, x0 + transform.a, y0))))
