"""The area the user limits a run to, as geoseg options: a map extent becomes ``--bbox`` with
its CRS, selected polygons a GeoPackage for ``--aoi``."""

from __future__ import annotations

from .vectors import LayerError, vector_file


class AreaError(Exception):
    """The chosen area cannot be used (no layer, nothing selected, not writable)."""


def area_options(area, folder: str) -> dict:
    """Options for ``area`` (None, ``("extent", QgsRectangle, QgsCoordinateReferenceSystem)`` or
    ``("features", QgsVectorLayer)``); selected features are written into ``folder``."""
    if area is None:
        return {}
    if area[0] == "extent":
        rect, crs = area[1], area[2]
        return {"bbox": (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum()),
                "bbox_crs": crs.authid() or crs.toWkt()}
    layer = area[1]
    if layer is None or layer.selectedFeatureCount() == 0:
        raise AreaError("select the polygons of the area first (or choose another area)")
    try:
        return {"aoi": vector_file(layer, folder, "area", selected_only=True)}
    except LayerError as exc:
        raise AreaError(str(exc)) from None
