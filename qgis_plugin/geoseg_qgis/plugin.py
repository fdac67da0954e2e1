"""The plugin: a toolbar button and menu entry that extract buildings from a raster layer in
the background, and the Processing provider."""

from __future__ import annotations

import os
import shutil
import tempfile

from qgis.core import Qgis, QgsApplication, QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

from . import runner
from .area import AreaError, area_options
from .dialog import ExtractDialog
from .provider import GeosegProvider
from .settings import configured_executable
from .styles import style_buildings, style_changes
from .task import GeosegTask
from .vectors import LayerError, vector_file

MENU = "&geoseg"
ICON = os.path.join(os.path.dirname(__file__), "icon.svg")


class GeosegPlugin:
    def __init__(self, iface) -> None:
        self.iface = iface
        self.action: QAction | None = None
        self.provider: GeosegProvider | None = None
        self.tasks: list[GeosegTask] = []  # keep running tasks referenced

    def initProcessing(self) -> None:  # noqa: N802 (QGIS's name)
        self.provider = GeosegProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802
        self.initProcessing()
        self.action = QAction(QIcon(ICON), "Extract buildings", self.iface.mainWindow())
        self.action.setObjectName("geosegExtractBuildings")
        self.action.setToolTip("Extract building footprints from the selected raster layer (geoseg)")
        self.action.triggered.connect(self.run)
        self.iface.addToolBarIcon(self.action)
        self.iface.addPluginToMenu(MENU, self.action)

    def unload(self) -> None:
        if self.action is not None:
            self.iface.removeToolBarIcon(self.action)
            self.iface.removePluginMenu(MENU, self.action)
            self.action.deleteLater()
            self.action = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None

    def run(self) -> None:
        layer = self.iface.activeLayer()
        dialog = ExtractDialog(self.iface.mainWindow(), layer if isinstance(layer, QgsRasterLayer) else None,
                               self.iface.mapCanvas())
        if dialog.exec_():
            self.start(**dialog.values())

    def start(self, layer, output: str, raster: str | None = None, options: dict | None = None,
              area=None, compare=None) -> GeosegTask | None:
        """Run geoseg on ``layer`` in a background task; the result is added to the map.
        ``options`` are geoseg's prediction options by name (see runner.option_arguments);
        ``area`` limits the run (see area.area_options; a tile layer, which covers the world,
        defaults to the map extent); ``compare``, a polygon layer of buildings already mapped,
        adds the layers new, missing and matched."""
        scene = runner.layer_scene(layer.providerType(), layer.source()) if layer is not None else None
        if scene is None:
            self._tell("choose a raster layer stored in a file (GeoTIFF), read from a URL, or an XYZ or WMTS "
                       "tile layer", Qgis.Warning)
            return None
        if not output:
            self._tell("choose an output file", Qgis.Warning)
            return None
        try:
            executable = runner.find_executable(configured_executable())
        except runner.RunnerError as exc:
            self._tell(str(exc), Qgis.Critical)
            return None
        if area is None and layer.providerType() == "wms":
            canvas = self.iface.mapCanvas()
            area = ("extent", canvas.extent(), canvas.mapSettings().destinationCrs())
        scratch = tempfile.mkdtemp(prefix="geoseg-area-")
        changes = os.path.splitext(output)[0] + "_changes.gpkg" if compare is not None else None
        try:
            chosen = {**(options or {}), **area_options(area, scratch)}
            if compare is not None:
                chosen |= {"compare": vector_file(compare, scratch, "mapped"), "changes": changes}
        except (AreaError, LayerError) as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            self._tell(str(exc), Qgis.Warning)
            return None
        args = runner.predict_command(executable, scene, output, chosen, raster)
        name = f"{layer.name()} buildings"

        def done(ok: bool, error: str | None, canceled: bool) -> None:
            shutil.rmtree(scratch, ignore_errors=True)
            self.tasks = [t for t in self.tasks if t is not task]
            if ok:
                self._add_outputs(output, raster, name, changes)
            elif canceled:
                self._tell(f"{name}: cancelled; nothing was written", Qgis.Info)
            else:
                self._tell(f"{name}: {error}", Qgis.Critical)

        task = GeosegTask(f"geoseg: extracting buildings from {layer.name()}", args, done)
        self.tasks.append(task)
        QgsApplication.taskManager().addTask(task)
        return task

    def _add_outputs(self, output: str, raster: str | None, name: str, changes: str | None = None) -> None:
        project = QgsProject.instance()
        if raster:
            project.addMapLayer(QgsRasterLayer(raster, f"{name} probability", "gdal"))
        layer = QgsVectorLayer(f"{output}|layername=buildings" if output.endswith(".gpkg") else output, name, "ogr")
        style_buildings(layer)
        project.addMapLayer(layer)
        counts = []
        for kind in ("new", "missing", "matched") if changes else ():
            added = QgsVectorLayer(f"{changes}|layername={kind}", f"{name}: {kind}", "ogr")
            style_changes(added, kind)
            project.addMapLayer(added)
            counts.append(f"{added.featureCount()} {kind}")
        self._tell(f"{name}: {layer.featureCount()} buildings added" + (f" ({', '.join(counts)})" if counts else ""),
                   Qgis.Success)

    def _tell(self, text: str, level) -> None:
        self.iface.messageBar().pushMessage("geoseg", text, level=level, duration=0 if level == Qgis.Critical else 8)
