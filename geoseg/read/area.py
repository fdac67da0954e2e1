"""The area of interest (``--bbox`` or ``--aoi``): polygons in the scene's CRS, and which pixels
of a grid they cover.

Pixels whose centre falls outside the area count as outside the scene: they are not run
through the model, and buildings that cross the area's edge are cut there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from rasterio import features
from rasterio.transform import Affine
from shapely.geometry import Polygon

from geoseg.errors import GeosegError

DENSIFY = 64  # points per side of a box reprojected into the scene's CRS


class Area:
    """Polygons in a scene's CRS, indexed for masks of small windows."""

    def __init__(self, shapes: list[Polygon], source: str) -> None:
        if not shapes:
            raise GeosegError(f"{source} has no polygons")
        self.shapes = shapes
        self.source = source
        self.tree = shapely.STRtree(shapes)
        self.bounds = tuple(shapely.total_bounds(shapes))

    def mask(self, transform: Affine, height: int, width: int) -> np.ndarray:
        """``(height, width)`` bool: True where a pixel's centre lies in the area."""
        x0, y0 = transform * (0, 0)
        x1, y1 = transform * (width, height)
        near = self.tree.query(shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
        if len(near) == 0:
            return np.zeros((height, width), dtype=bool)
        shapes = [self.shapes[i] for i in near]
        return features.geometry_mask(shapes, (height, width), transform, invert=True)


def searched_area(transform: Affine, height: int, width: int, area: Area | None):
    """The polygon a run searched: the grid's footprint, within ``area`` when there is one."""
    from rasterio.transform import array_bounds

    footprint = shapely.box(*array_bounds(height, width, transform))
    return footprint if area is None else shapely.intersection(footprint, shapely.union_all(area.shapes))


def area_of_interest(bbox: tuple[float, float, float, float] | None, bbox_crs: str | None, aoi: str | None,
                     crs) -> Area | None:
    """The area a run is limited to, in ``crs`` (the scene's), or None for the whole scene."""
    if bbox is not None:
        box = shapely.box(*bbox)
        if bbox_crs is not None:
            box = _reprojected(shapely.segmentize(box, max(bbox[2] - bbox[0], bbox[3] - bbox[1]) / DENSIFY),
                               _crs(bbox_crs, "--bbox-crs"), crs)
        return Area(_polygon_parts(box), "--bbox")
    if aoi is not None:
        return Area(_read_polygons(Path(aoi), crs), str(aoi))
    return None


def _crs(text: str, option: str):
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        return CRS.from_user_input(text)
    except CRSError:
        raise GeosegError(f"{option} {text!r} is not a CRS (try EPSG:4326)") from None


def _reprojected(geom, source, target):
    from pyproj import CRS, Transformer

    target = CRS.from_user_input(target.to_wkt() if hasattr(target, "to_wkt") else target)
    transformer = Transformer.from_crs(source, target, always_xy=True)
    moved = shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))
    if not np.isfinite(shapely.get_coordinates(moved)).all():
        raise GeosegError("the area of interest cannot be placed in the scene's CRS (outside its valid area)")
    return shapely.make_valid(moved)


def _read_polygons(path: Path, crs) -> list[Polygon]:
    import pyogrio
    import pyogrio.errors

    if not path.exists():
        raise GeosegError(f"--aoi {path} does not exist")
    try:
        frame = pyogrio.read_dataframe(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise GeosegError(f"--aoi {path} is not a vector file OGR can read ({str(exc).splitlines()[0]})") from None
    if frame.crs is None:
        raise GeosegError(f"--aoi {path} has no CRS")
    frame = frame[frame.geometry.notna()].to_crs(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)
    return [part for geom in shapely.make_valid(frame.geometry.values) for part in _polygon_parts(geom)]


def _polygon_parts(geom) -> list[Polygon]:
    """The polygons in ``geom``, also inside multi-part geometries and collections."""
    parts = shapely.get_parts(shapely.get_parts(geom))
    return [p for p in parts if isinstance(p, Polygon) and not p.is_empty]
