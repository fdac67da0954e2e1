"""Vector layers handed to the geoseg command as files: a layer stored in a file as it is,
anything else (a memory layer, a database table, one layer of several) written to a
GeoPackage first."""

from __future__ import annotations

import os

from qgis.core import QgsProject, QgsVectorFileWriter, QgsVectorLayer


class LayerError(Exception):
    """The layer cannot be handed over (none chosen, or it cannot be written)."""


def vector_file(layer: QgsVectorLayer | None, folder: str, name: str, selected_only: bool = False) -> str:
    """A file geoseg reads ``layer`` from: its own file when the layer is that file's only or
    ``buildings`` layer (and not limited to a selection), else a GeoPackage ``name`` in ``folder``."""
    if layer is None:
        raise LayerError("choose a vector layer")
    path, _, rest = layer.source().partition("|")
    wanted = rest.split("layername=", 1)[1].split("|")[0] if "layername=" in rest else None
    if (layer.providerType() == "ogr" and os.path.isfile(path) and not selected_only
            and wanted in (None, "buildings") and "subset=" not in rest):
        return path
    target = os.path.join(folder, f"{name}.gpkg")
    save = QgsVectorFileWriter.SaveVectorOptions()
    save.driverName = "GPKG"
    save.onlySelectedFeatures = selected_only
    result = QgsVectorFileWriter.writeAsVectorFormatV3(layer, target, QgsProject.instance().transformContext(), save)
    if result[0] != QgsVectorFileWriter.NoError:
        raise LayerError(f"could not write {layer.name()} to {target}: {result[1]}")
    return target
