"""The area the user limits a run to, as geoseg options: a map extent becomes ``--bbox`` with
its CRS, selected polygons a GeoPackage for ``--aoi``."""

from __future__ import annotations

import os

from qgis.core import QgsProject, QgsVectorFileWriter


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
    path = os.path.join(folder, "area.gpkg")
    save = QgsVectorFileWriter.SaveVectorOptions()
    save.driverName = "GPKG"
    save.onlySelectedFeatures = True
    result = QgsVectorFileWriter.writeAsVectorFormatV3(layer, path, QgsProject.instance().transformContext(), save)
    if result[0] != QgsVectorFileWriter.NoError:
        raise AreaError(f"could not write the selected features to {path}: {result[1]}")
    return {"aoi": path}
