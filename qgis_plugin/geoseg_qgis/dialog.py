"""The dialog behind the toolbar button: which layer and area, which model, where to write."""

from __future__ import annotations

import os

from qgis.core import QgsMapLayerProxyModel, QgsRasterLayer
from qgis.gui import QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
)

from . import runner

# The area choices, in the order of the combo box.
AREAS = ("whole raster", "current map extent", "selected features of a polygon layer")


class ExtractDialog(QDialog):
    def __init__(self, parent=None, layer: QgsRasterLayer | None = None, canvas=None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.setWindowTitle("geoseg: extract buildings")
        form = QFormLayout(self)
        self.layer = QgsMapLayerComboBox(self)
        self.layer.setFilters(QgsMapLayerProxyModel.RasterLayer)
        if layer is not None:
            self.layer.setLayer(layer)
        self.area = QComboBox(self)
        self.area.addItems(AREAS)
        self.area_layer = QgsMapLayerComboBox(self)
        self.area_layer.setFilters(QgsMapLayerProxyModel.PolygonLayer)
        self.area_layer.setEnabled(False)
        self.area.currentIndexChanged.connect(lambda i: self.area_layer.setEnabled(i == 2))
        self.model = QLineEdit(self)
        self.model.setPlaceholderText("default building model (or a name / .safetensors / .onnx file)")
        self.threshold = QDoubleSpinBox(self)
        self.threshold.setRange(0.0, 0.99)
        self.threshold.setSingleStep(0.05)
        self.threshold.setSpecialValueText("the model's")  # shown at 0: send nothing, the card decides
        self.threshold.setValue(0.0)
        self.device = QComboBox(self)
        self.device.addItems(["auto", "cpu", "cuda"])
        self.separate = QComboBox(self)
        self.separate.addItems(runner.SEPARATE)
        self.regularize = QCheckBox("straighten outlines (right angles)", self)
        self.native_pixels = QCheckBox("keep the raster's pixel size (default: the model's; 0.5 m for the shipped one)", self)
        self.output = QgsFileWidget(self)
        self.output.setStorageMode(QgsFileWidget.SaveFile)
        self.output.setFilter("GeoPackage (*.gpkg);;GeoJSON (*.geojson);;FlatGeobuf (*.fgb);;Shapefile (*.shp)")
        self.with_raster = QCheckBox("also write the probability raster", self)
        self.compare = QgsMapLayerComboBox(self)  # optional: buildings already mapped
        self.compare.setFilters(QgsMapLayerProxyModel.PolygonLayer)
        self.compare.setAllowEmptyLayer(True)
        self.compare.setLayer(None)
        self.compare.setToolTip("Buildings already mapped (OpenStreetMap, a cadastre, last year's run): the result also "
                                "gets the layers new, missing and matched")
        for label, widget in (("Raster layer", self.layer), ("Area", self.area), ("Area layer", self.area_layer),
                              ("Model", self.model), ("Threshold", self.threshold), ("Device", self.device),
                              ("Touching buildings", self.separate), ("", self.regularize),
                              ("", self.native_pixels), ("Output", self.output), ("", self.with_raster),
                              ("Compare with", self.compare)):
            form.addRow(label, widget)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, parent=self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.layer.layerChanged.connect(self._suggest_output)
        self._suggest_output(self.layer.currentLayer())

    def _suggest_output(self, layer) -> None:
        if layer is None or self.output.filePath():
            return
        if layer.providerType() == "gdal":
            self.output.setFilePath(runner.output_beside(layer.source(), "_buildings.gpkg"))
        else:  # a tile service: named after the layer, in the home folder
            name = "".join(c if c.isalnum() or c in "-_" else "_" for c in layer.name()) or "basemap"
            self.output.setFilePath(os.path.join(os.path.expanduser("~"), f"{name}_buildings.gpkg"))

    def values(self) -> dict:
        """What the user chose, as keyword arguments of GeosegPlugin.start. ``options`` holds
        geoseg's prediction options by name; what the user left alone is not in it."""
        output = self.output.filePath()
        options = {
            "model": self.model.text().strip() or None,
            "device": self.device.currentText(),
            "threshold": self.threshold.value() or None,
            "separate": runner.SEPARATE[self.separate.currentText()],
            "regularize": True if self.regularize.isChecked() else None,
            "gsd": "native" if self.native_pixels.isChecked() else None,
        }
        return {
            "layer": self.layer.currentLayer(),
            "output": output,
            "raster": os.path.splitext(output)[0] + "_prob.tif" if self.with_raster.isChecked() else None,
            "options": {k: v for k, v in options.items() if v is not None},
            "area": self._area(),
            "compare": self.compare.currentLayer(),
        }

    def _area(self):
        """None (the whole raster), ("extent", rectangle, crs) or ("features", polygon layer)."""
        choice = self.area.currentIndex()
        if choice == 1 and self.canvas is not None:
            return ("extent", self.canvas.extent(), self.canvas.mapSettings().destinationCrs())
        if choice == 2:
            return ("features", self.area_layer.currentLayer())
        return None
