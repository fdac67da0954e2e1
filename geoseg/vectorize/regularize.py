"""Straight walls and right angles: building outlines aligned to their dominant direction.

The alignment itself is buildingregulariser's (MIT; edges snapped parallel or perpendicular
to the building's main direction, 45 degrees allowed, near-circles kept round). geoseg runs
it in pixel units on chunks of buildings and keeps the raw outline wherever the aligned one
strays from it (IoU below ``min_iou``): buildings that are not rectilinear stay faithful.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import shapely
from shapely.geometry import Polygon

MIN_IOU = 0.8


def regularize(outlines: list[Polygon], pixel_m: float, min_iou: float = MIN_IOU) -> list[tuple[Polygon, bool]]:
    """For each outline in pixel units: the regularised polygon and True, or the outline and
    False where regularising would change it too much or fails."""
    if not outlines:
        return []
    from buildingregulariser import regularize_geodataframe

    frame = gpd.GeoDataFrame(geometry=list(outlines))
    per_metre = 1.0 / pixel_m  # pixels in a metre
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = regularize_geodataframe(
            frame, parallel_threshold=max(1.0, 1.0 * per_metre), simplify=True,  # 1 m, at least a pixel
            simplify_tolerance=max(0.5, 0.5 * per_metre), allow_45_degree=True, allow_circles=True, num_cores=1,
        )
    regular = {}
    for index, geom in zip(result.index, result.geometry):
        if geom is not None and geom.geom_type == "Polygon":
            regular.setdefault(index, []).append(geom)
    out = []
    for i, outline in enumerate(outlines):
        pieces = regular.get(i, [])
        candidate = pieces[0] if len(pieces) == 1 else None
        if candidate is not None and candidate.is_valid and _iou(candidate, outline) >= min_iou:
            out.append((candidate, True))
        else:
            out.append((outline, False))
    return out


def _iou(a: Polygon, b: Polygon) -> float:
    union = shapely.union(a, b).area
    return shapely.intersection(a, b).area / union if union else 0.0
