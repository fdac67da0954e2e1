"""The dialog behind the toolbar button: which layer, which model, where to write."""

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


class ExtractDialog(QDialog):
    def __init__(self, parent=None, layer: QgsRasterLayer | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("geoseg: extract buildings")
        form = QFormLayout(self)
        self.layer = QgsMapLayerComboBox(self)
        self.layer.setFilters(QgsMapLayerProxyModel.RasterLayer)
        if layer is not None:
            self.layer.setLayer(layer)
        self.model = QLineEdit(self)
        self.model.setPlaceholderText("default building model (or a name / .safetensors / .onnx file)")
        self.threshold = QDoubleSpinBox(self)
        self.threshold.setRange(0.01, 0.99)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(0.5)
        self.device = QComboBox(self)
        self.device.addItems(["auto", "cpu", "cuda"])
        self.regularize = QCheckBox("straighten outlines (right angles)", self)
        self.separate = QCheckBox("split touching buildings", self)
        self.native_pixels = QCheckBox("keep the raster's pixel size (default: the model's; 0.5 m for the shipped one)", self)
        self.output = QgsFileWidget(self)
        self.output.setStorageMode(QgsFileWidget.SaveFile)
        self.output.setFilter("GeoPackage (*.gpkg);;GeoJSON (*.geojson);;FlatGeobuf (*.fgb);;Shapefile (*.shp)")
        self.with_raster = QCheckBox("also write the probability raster", self)
        for label, widget in (("Raster layer", self.layer), ("Model", self.model), ("Threshold", self.threshold),
                              ("Device", self.device), ("", self.regularize), ("", self.separate),
                              ("", self.native_pixels), ("Output", self.output),
                              ("", self.with_raster)):
            form.addRow(label, widget)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, parent=self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.layer.layerChanged.connect(self._suggest_output)
        self._suggest_output(self.layer.currentLayer())

    def _suggest_output(self, layer) -> None:
        if layer is not None and not self.output.filePath():
            base, _ = os.path.splitext(layer.source())
            self.output.setFilePath(base + "_buildings.gpkg")

    def values(self) -> dict:
        """What the user chose, as keyword arguments of GeosegPlugin.start."""
        output = self.output.filePath()
        return {
            "layer": self.layer.currentLayer(),
            "output": output,
            "raster": os.path.splitext(output)[0] + "_prob.tif" if self.with_raster.isChecked() else None,
            "model": self.model.text().strip() or None,
            "threshold": self.threshold.value(),
            "device": self.device.currentText(),
            "regularize": self.regularize.isChecked(),
            "separate": self.separate.isChecked(),
            "native_pixels": self.native_pixels.isChecked(),
        }
