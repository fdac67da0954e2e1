"""Sizes on the ground: areas and lengths in metres for geometries in any CRS, and the side of
a raster's pixel in metres."""

from __future__ import annotations

import numpy as np
import shapely


DISTORTION = 0.01  # projections within 1 % of true scale (UTM, national grids) are measured as they are


class Ground:
    """Areas and lengths in metres for geometries in ``crs`` (geodesic for geographic CRSs).
    Without a CRS (an image that is not georeferenced), sizes are in the geometries' own units:
    pixels.

    A projection far from true scale where the geometries lie (Web Mercator: 1.24 times too
    large at 36° of latitude, so areas 1.53 times) is corrected by its scale ``at`` a point
    of the geometries (in ``crs``), which holds across a scene or a town."""

    def __init__(self, crs, at: tuple[float, float] | None = None) -> None:
        from pyproj import CRS, Geod

        self.geod, self.factor = None, 1.0
        if crs is None:
            return
        crs = CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)
        if crs.is_geographic:
            self.geod = Geod(ellps="WGS84")
            return
        self.factor = crs.axis_info[0].unit_conversion_factor
        if at is not None:
            scale = point_scale(crs, at)
            if abs(scale - 1) > DISTORTION:
                self.factor /= scale

    def area(self, geom) -> float:
        return float(self.areas([geom])[0])

    def length(self, geom) -> float:
        return float(self.lengths([geom])[0])

    def areas(self, geoms) -> np.ndarray:
        """The area of each of ``geoms`` (one call for many in a projected CRS)."""
        if self.geod is not None:
            return np.array([abs(self.geod.geometry_area_perimeter(g)[0]) for g in geoms], dtype=float)
        return shapely.area(np.asarray(geoms, dtype=object)) * self.factor**2

    def lengths(self, geoms) -> np.ndarray:
        """The length (perimeter, for polygons and rings) of each of ``geoms``."""
        if self.geod is not None:
            return np.array([self.geod.geometry_area_perimeter(g)[1] for g in geoms], dtype=float)
        return shapely.length(np.asarray(geoms, dtype=object)) * self.factor


def point_scale(crs, at: tuple[float, float]) -> float:
    """How many map units a projected ``crs`` draws per true unit at the point ``at`` (the
    square root of its areal scale there); 1 where that cannot be told."""
    from pyproj import Proj, Transformer

    lon, lat = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True).transform(*at)
    if not (np.isfinite(lon) and np.isfinite(lat)):
        return 1.0
    scale = Proj(crs).get_factors(lon, lat).areal_scale
    return float(np.sqrt(scale)) if np.isfinite(scale) and scale > 0 else 1.0


def pixel_size_m(transform, crs) -> float:
    """Side of a pixel in metres (geometric mean of x and y), also for geographic CRSs and on
    projections far from true scale; in the transform's own units without a CRS."""
    x0, y0 = transform.c, transform.f
    return float(np.sqrt(Ground(crs, at=(x0, y0)).area(shapely.box(x0, y0 + transform.e, x0 + transform.a, y0))))
