"""Real QGIS (Debian's python3-qgis) for the plugin's tests: an offscreen QgsApplication,
Processing initialised, and a small iface built from real Qt widgets."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO / "qgis_plugin"
DEMO_SCENE = REPO / "data" / "scenes" / "shanghai_sn2_img6917_rgb16.tif"
sys.path.insert(0, str(PLUGIN_DIR))
sys.path.append("/usr/share/qgis/python/plugins")

from qgis.core import QgsApplication, QgsProject  # noqa: E402
from qgis.gui import QgsMapCanvas, QgsMessageBar  # noqa: E402
from qgis.PyQt.QtWidgets import QMainWindow, QMenu, QToolBar  # noqa: E402


@pytest.fixture(scope="session")
def qgis_app():
    app = QgsApplication([], True)
    app.setPrefixPath("/usr", True)
    app.initQgis()
    from processing.core.Processing import Processing

    Processing.initialize()
    yield app
    Processing.deinitialize()


@pytest.fixture(scope="session")
def geoseg_executable():
    exe = os.environ.get("GEOSEG_EXECUTABLE") or str(REPO / ".venv" / "bin" / "geoseg")
    if not os.access(exe, os.X_OK):
        pytest.skip(f"the geoseg command is not installed at {exe} (make install)")
    os.environ["GEOSEG_EXECUTABLE"] = exe
    return exe


class Iface:
    """The parts of QgisInterface the plugin uses, made of real widgets."""

    def __init__(self) -> None:
        self.window = QMainWindow()
        self.toolbar = QToolBar("Plugins", self.window)
        self.menus: dict[str, QMenu] = {}
        self.canvas = QgsMapCanvas(self.window)
        self.bar = QgsMessageBar(self.window)
        self.layer = None

    def mainWindow(self):  # noqa: N802
        return self.window

    def mapCanvas(self):  # noqa: N802
        return self.canvas

    def messageBar(self):  # noqa: N802
        return self.bar

    def activeLayer(self):  # noqa: N802
        return self.layer

    def addToolBarIcon(self, action):  # noqa: N802
        self.toolbar.addAction(action)

    def removeToolBarIcon(self, action):  # noqa: N802
        self.toolbar.removeAction(action)

    def addPluginToMenu(self, name, action):  # noqa: N802
        self.menus.setdefault(name, QMenu(name, self.window)).addAction(action)

    def removePluginMenu(self, name, action):  # noqa: N802
        self.menus[name].removeAction(action)


@pytest.fixture
def iface(qgis_app):
    stub = Iface()
    yield stub
    QgsProject.instance().removeAllMapLayers()


def wait_until(condition, timeout: float = 600) -> None:
    """Run the Qt event loop until ``condition()`` holds (tasks report back through it)."""
    deadline = time.monotonic() + timeout
    while not condition():
        QgsApplication.processEvents()
        if time.monotonic() > deadline:
            raise TimeoutError("QGIS task did not finish")
        time.sleep(0.05)
