"""The plugin's one setting: where the geoseg command lives (empty: found on PATH)."""

from qgis.core import QgsSettings

KEY = "geoseg/executable"


def configured_executable() -> str:
    return QgsSettings().value(KEY, "", type=str)
