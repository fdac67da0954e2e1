"""How building layers look when they are added to the map."""

from __future__ import annotations

from qgis.core import QgsCategorizedSymbolRenderer, QgsFillSymbol, QgsRendererCategory, QgsVectorLayer
from qgis.PyQt.QtGui import QColor

OUTLINE = {"color": "0,0,0,0", "outline_color": "255,48,48,255", "outline_width": "0.5", "outline_width_unit": "MM"}


def style_buildings(layer: QgsVectorLayer) -> None:
    """Red outlines without fill; a colour per class when the layer has a ``class`` field."""
    field = layer.fields().indexOf("class")
    if field < 0:
        layer.renderer().setSymbol(QgsFillSymbol.createSimple(OUTLINE))
    else:
        values = sorted(layer.uniqueValues(field))
        categories = []
        for i, value in enumerate(values):
            symbol = QgsFillSymbol.createSimple({"outline_width": "0.3", "outline_width_unit": "MM"})
            symbol.setColor(QColor.fromHsv(int(360 * i / max(len(values), 1)), 200, 230, 160))
            categories.append(QgsRendererCategory(value, symbol, str(value)))
        layer.setRenderer(QgsCategorizedSymbolRenderer("class", categories))
    layer.triggerRepaint()


# The layers of 'geoseg compare': what is new stands out, what is missing is dashed, matches recede.
CHANGES = {
    "new": {"color": "40,200,90,70", "outline_color": "20,160,60,255", "outline_width": "0.6", "outline_width_unit": "MM"},
    "missing": {"color": "0,0,0,0", "outline_color": "230,40,200,255", "outline_width": "0.6",
                "outline_width_unit": "MM", "outline_style": "dash"},
    "matched": {"color": "0,0,0,0", "outline_color": "120,120,120,255", "outline_width": "0.3", "outline_width_unit": "MM"},
}


def style_changes(layer: QgsVectorLayer, kind: str) -> None:
    """Style one of the layers ``new``, ``missing`` and ``matched`` apart from the others."""
    layer.renderer().setSymbol(QgsFillSymbol.createSimple(CHANGES[kind]))
    layer.triggerRepaint()
