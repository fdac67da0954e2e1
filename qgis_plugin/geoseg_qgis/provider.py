"""The geoseg Processing provider: its algorithms and the setting for the command's path."""

from __future__ import annotations

import os

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms import CompareBuildings, ExtractBuildings, ExtractBuildingsBatch, VectorizeProbability


class GeosegProvider(QgsProcessingProvider):
    def id(self) -> str:
        return "geoseg"

    def name(self) -> str:
        return "geoseg"

    def longName(self) -> str:  # noqa: N802
        return "geoseg building extraction"

    def icon(self) -> QIcon:
        return QIcon(os.path.join(os.path.dirname(__file__), "icon.svg"))

    def loadAlgorithms(self) -> None:  # noqa: N802
        self.addAlgorithm(ExtractBuildings())
        self.addAlgorithm(ExtractBuildingsBatch())
        self.addAlgorithm(VectorizeProbability())
        self.addAlgorithm(CompareBuildings())
