#!/usr/bin/env bash
# Screenshot of desktop QGIS (under Xvfb) with the geoseg plugin loaded and the buildings
# layer over the demo scene. Needs Debian's qgis, xvfb and imagemagick, and `make install`.
#   bash docs/screenshot.sh docs/qgis-screenshot.png
set -euo pipefail
out=$(realpath -m "${1:-docs/qgis-screenshot.png}")
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
scene="$repo/data/scenes/shanghai_sn2_img6917_rgb16.tif"
"$repo/.venv/bin/geoseg" predict "$scene" -o "$work/buildings.gpkg" --quiet
# a QGIS profile with the plugin enabled
profile="$work/profiles/default"
mkdir -p "$profile/python/plugins" "$profile/QGIS"
ln -s "$repo/qgis_plugin/geoseg_qgis" "$profile/python/plugins/geoseg_qgis"
printf '[PythonPlugins]\ngeoseg_qgis=true\n[qgis]\ncheckVersion=false\nshowTips=false\n' > "$profile/QGIS/QGIS3.ini"
# a project with the scene and the buildings, styled as the plugin styles them
QT_QPA_PLATFORM=offscreen PYTHONPATH="$repo/qgis_plugin" /usr/bin/python3 - "$scene" "$work" <<'PY'
import sys
from qgis.core import QgsApplication, QgsProject, QgsRasterLayer, QgsVectorLayer
app = QgsApplication([], False); app.initQgis()
from geoseg_qgis.styles import style_buildings
scene, work = sys.argv[1], sys.argv[2]
project = QgsProject.instance()
project.addMapLayer(QgsRasterLayer(scene, "shanghai scene", "gdal"))
buildings = QgsVectorLayer(f"{work}/buildings.gpkg|layername=buildings", "shanghai scene buildings", "ogr")
style_buildings(buildings)
project.addMapLayer(buildings)
raster = project.mapLayersByName("shanghai scene")[0]
project.setCrs(raster.crs())
project.write(f"{work}/demo.qgz")
PY
export DISPLAY=:99 GEOSEG_EXECUTABLE="$repo/.venv/bin/geoseg"
Xvfb :99 -screen 0 1400x900x24 & sleep 2
cat > "$work/startup.py" <<'PY'
# run by QGIS once started: fill the screen, zoom to the buildings, note whether the plugin is active
import qgis.utils
from qgis.core import QgsProject
from qgis.PyQt.QtCore import QTimer
from qgis.utils import iface


def show():
    scene = QgsProject.instance().mapLayersByName("shanghai scene")[0]
    iface.mapCanvas().setExtent(scene.extent())
    iface.mapCanvas().refresh()
    active = "geoseg_qgis" in qgis.utils.active_plugins
    iface.messageBar().pushInfo("geoseg", f"plugin active: {active}; buildings layer over the SpaceNet Shanghai scene")


iface.mainWindow().setGeometry(0, 0, 1400, 900)
QTimer.singleShot(5000, show)
PY
qgis --profiles-path "$work" --noversioncheck --nologo --code "$work/startup.py" "$work/demo.qgz" >/dev/null 2>&1 &
sleep "${QGIS_WAIT:-40}"
import -window root "$out"
echo "$out"
