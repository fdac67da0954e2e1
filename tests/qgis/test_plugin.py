"""The plugin inside real QGIS, running the real geoseg command line."""

from __future__ import annotations

import shutil

import pytest
from osgeo import gdal, osr
from qgis.core import (
    QgsApplication,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsTask,
    QgsVectorLayer,
)

from conftest import DEMO_SCENE, PLUGIN_DIR, wait_until

import qgis.utils  # noqa: E402  (after conftest put the plugin on sys.path)


def load_plugin(iface):
    """Load and start the plugin the way QGIS does: found on a plugin path by its metadata."""
    qgis.utils.iface = iface
    if str(PLUGIN_DIR) not in qgis.utils.plugin_paths:
        qgis.utils.plugin_paths.append(str(PLUGIN_DIR))
    qgis.utils.updateAvailablePlugins()
    assert qgis.utils.pluginMetadata("geoseg_qgis", "name") == "geoseg"
    assert qgis.utils.loadPlugin("geoseg_qgis")
    assert qgis.utils.startPlugin("geoseg_qgis")
    return qgis.utils.plugins["geoseg_qgis"]


def write_tif(path, width, height, crs=True, value=None):
    """A 3-band GeoTIFF through GDAL (QGIS's Python has no rasterio)."""
    import numpy as np

    ds = gdal.GetDriverByName("GTiff").Create(str(path), width, height, 3, gdal.GDT_Byte)
    ds.SetGeoTransform((500000, 0.5, 0, 4600000, 0, -0.5))
    if crs:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(32633)
        ds.SetProjection(srs.ExportToWkt())
    rng = np.random.default_rng(0)
    for band in range(1, 4):
        ds.GetRasterBand(band).WriteArray(rng.integers(0, 255, (height, width), dtype=np.uint8))
    ds = None
    return path


def test_plugin_loads_through_qgis_and_unloads_cleanly(iface, geoseg_executable):
    plugin = load_plugin(iface)
    try:
        assert plugin.action in iface.toolbar.actions()
        assert plugin.action in iface.menus["&geoseg"].actions()
        provider = QgsApplication.processingRegistry().providerById("geoseg")
        assert provider is not None
        assert {a.name() for a in provider.algorithms()} == {"extractbuildings", "extractbuildingsbatch",
                                                             "vectorizeprobability", "comparebuildings"}
    finally:
        assert qgis.utils.unloadPlugin("geoseg_qgis")
    assert iface.toolbar.actions() == [] and iface.menus["&geoseg"].actions() == []
    assert QgsApplication.processingRegistry().providerById("geoseg") is None


def test_toolbar_button_adds_the_buildings_layer_over_the_scene(iface, geoseg_executable, tmp_path, monkeypatch):
    from geoseg_qgis.dialog import ExtractDialog

    scene = shutil.copy(DEMO_SCENE, tmp_path / "scene.tif")
    layer = QgsRasterLayer(str(scene), "scene", "gdal")
    QgsProject.instance().addMapLayer(layer)
    iface.layer = layer
    output = tmp_path / "buildings.gpkg"

    def accept(dialog):  # the user keeps the layer, picks an output and presses OK
        assert dialog.layer.currentLayer() == layer
        dialog.output.setFilePath(str(output))
        dialog.with_raster.setChecked(True)
        return 1

    monkeypatch.setattr(ExtractDialog, "exec_", accept)
    plugin = load_plugin(iface)
    try:
        plugin.action.trigger()
        assert len(plugin.tasks) == 1
        wait_until(lambda: not plugin.tasks)
    finally:
        qgis.utils.unloadPlugin("geoseg_qgis")
    added = {l.name(): l for l in QgsProject.instance().mapLayers().values()}
    buildings = added["scene buildings"]
    assert isinstance(buildings, QgsVectorLayer) and buildings.isValid()
    on_disk = QgsVectorLayer(f"{output}|layername=buildings", "check", "ogr")
    assert buildings.featureCount() == on_disk.featureCount() > 0
    assert buildings.crs().authid() == layer.crs().authid() == "EPSG:4326"
    assert buildings.extent().intersects(layer.extent())
    assert added["scene buildings probability"].isValid()
    assert "buildings added" in iface.messageBar().currentItem().text()


def test_cli_failure_is_shown_in_the_message_bar(iface, geoseg_executable, tmp_path):
    scene = write_tif(tmp_path / "nocrs.tif", 64, 64, crs=False)
    layer = QgsRasterLayer(str(scene), "nocrs", "gdal")
    plugin = load_plugin(iface)
    try:
        task = plugin.start(layer, str(tmp_path / "b.gpkg"))
        wait_until(lambda: not plugin.tasks)
    finally:
        qgis.utils.unloadPlugin("geoseg_qgis")
    assert task.status() == QgsTask.Terminated
    assert "no CRS" in iface.messageBar().currentItem().text()
    assert not (tmp_path / "b.gpkg").exists()


@pytest.fixture
def provider(qgis_app, geoseg_executable):
    """The geoseg Processing provider, registered for one test."""
    from geoseg_qgis.provider import GeosegProvider

    registered = GeosegProvider()
    QgsApplication.processingRegistry().addProvider(registered)
    yield registered
    QgsApplication.processingRegistry().removeProvider(registered)


def test_processing_algorithm_extracts_buildings(provider, tmp_path):
    import processing

    result = processing.run("geoseg:extractbuildings", {
        "INPUT": str(DEMO_SCENE), "OUTPUT": str(tmp_path / "b.gpkg"), "PROBABILITY": str(tmp_path / "p.tif"),
        "SEPARATE": 1, "NATIVE_PIXELS": True,
    })
    layer = QgsVectorLayer(result["OUTPUT"], "b", "ogr")
    assert layer.isValid() and layer.featureCount() > 0
    assert layer.crs().authid() == "EPSG:4326"
    assert set(layer.fields().names()) >= {"area_m2", "perimeter_m", "score"}
    probability = QgsRasterLayer(result["PROBABILITY"], "p", "gdal")
    assert probability.isValid()
    assert (probability.width(), probability.height()) == (650, 650)  # the scene's own pixels, not the model's


def test_processing_cancel_stops_geoseg_and_leaves_nothing(provider, tmp_path):
    import processing

    scene = write_tif(tmp_path / "big.tif", 3000, 3000)
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(lambda p: p > 0 and feedback.cancel())
    with pytest.raises(QgsProcessingException, match="cancelled"):
        processing.run("geoseg:extractbuildings", {"INPUT": str(scene), "OUTPUT": str(tmp_path / "b.gpkg")},
                       feedback=feedback)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.tif"]


def test_batch_algorithm_processes_a_folder(provider, tmp_path):
    import processing

    folder = tmp_path / "tiles"
    folder.mkdir()
    for name in ("a.tif", "b.tif"):
        write_tif(folder / name, 300, 300)
    result = processing.run("geoseg:extractbuildingsbatch", {
        "FOLDER": str(folder), "OUTPUT_FOLDER": str(tmp_path / "out"), "MERGED": str(tmp_path / "all.gpkg"),
        "THRESHOLD": 0.6, "SEPARATE": 2, "REGULARIZE": True, "NATIVE_PIXELS": True,
    })
    assert sorted(p.name for p in (tmp_path / "out").glob("*.gpkg")) == ["a.gpkg", "b.gpkg"]
    assert QgsVectorLayer(result["MERGED"], "m", "ogr").isValid()


def test_dialog_sends_only_what_the_user_changed(iface, qgis_app):
    from geoseg_qgis import runner
    from geoseg_qgis.dialog import ExtractDialog

    layer = QgsRasterLayer(str(DEMO_SCENE), "scene", "gdal")
    dialog = ExtractDialog(None, layer, iface.mapCanvas())
    values = dialog.values()
    assert values["options"] == {"device": "auto"} and values["area"] is None
    args = runner.predict_command("geoseg", layer.source(), "b.gpkg", values["options"])
    assert "--threshold" not in args and "--separate" not in args and "--no-separate" not in args
    dialog.threshold.setValue(0.4)
    dialog.separate.setCurrentIndex(2)
    dialog.area.setCurrentIndex(1)
    values = dialog.values()
    assert values["options"]["threshold"] == 0.4 and values["options"]["separate"] is False
    assert values["area"][0] == "extent"


def test_toolbar_run_limited_to_the_selected_polygons(iface, geoseg_executable, tmp_path):
    from qgis.core import QgsFeature, QgsGeometry, QgsRectangle

    scene = QgsRasterLayer(str(DEMO_SCENE), "scene", "gdal")
    extent = scene.extent()
    half = QgsRectangle(extent.xMinimum(), extent.center().y(), extent.center().x(), extent.yMaximum())
    area = QgsVectorLayer("Polygon?crs=EPSG:4326", "area", "memory")
    feature = QgsFeature()
    feature.setGeometry(QgsGeometry.fromRect(half))
    area.dataProvider().addFeatures([feature])
    area.selectAll()
    plugin = load_plugin(iface)
    output = tmp_path / "b.gpkg"
    try:
        task = plugin.start(scene, str(output), str(tmp_path / "p.tif"), {"model": "eunet-buildings"},
                            ("features", area))
        assert task is not None and "--aoi" in task.args
        wait_until(lambda: not plugin.tasks)
    finally:
        qgis.utils.unloadPlugin("geoseg_qgis")
    buildings = QgsVectorLayer(f"{output}|layername=buildings", "b", "ogr")
    assert buildings.featureCount() > 0
    assert half.buffered(0.5 / 95_000).contains(buildings.extent())  # cut at the area's edge, to a 0.5 m pixel
    probability = QgsRasterLayer(str(tmp_path / "p.tif"), "p", "gdal")
    assert probability.width() < 200 and probability.height() < 200  # the quarter of 361 x 361


def test_processing_limited_to_an_extent(provider, tmp_path):
    import processing

    scene = QgsRasterLayer(str(DEMO_SCENE), "scene", "gdal")
    e = scene.extent()
    cx, cy = e.center().x(), e.center().y()
    result = processing.run("geoseg:extractbuildings", {
        "INPUT": str(DEMO_SCENE), "OUTPUT": str(tmp_path / "b.gpkg"), "PROBABILITY": str(tmp_path / "p.tif"),
        "EXTENT": f"{e.xMinimum()},{cx},{cy},{e.yMaximum()} [EPSG:4326]", "THRESHOLD": 0.5,
    })
    probability = QgsRasterLayer(result["PROBABILITY"], "p", "gdal")
    assert 175 <= probability.width() <= 185 and 175 <= probability.height() <= 185
    layer = QgsVectorLayer(result["OUTPUT"], "b", "ogr")
    pixel = 0.5 / 95_000  # the model's 0.5 m pixel in degrees of longitude here: the cut follows pixel centres
    assert layer.featureCount() > 0 and layer.extent().xMaximum() <= cx + pixel


def test_processing_rethresholds_a_probability_raster(provider, tmp_path):
    import processing

    first = processing.run("geoseg:extractbuildings", {
        "INPUT": str(DEMO_SCENE), "OUTPUT": str(tmp_path / "b.gpkg"), "PROBABILITY": str(tmp_path / "p.tif")})
    again = processing.run("geoseg:vectorizeprobability", {"INPUT": first["PROBABILITY"], "OUTPUT": str(tmp_path / "v.gpkg")})
    strict = processing.run("geoseg:vectorizeprobability", {
        "INPUT": first["PROBABILITY"], "OUTPUT": str(tmp_path / "s.gpkg"), "THRESHOLD": 0.9})
    count = lambda path: QgsVectorLayer(path, "b", "ogr").featureCount()  # noqa: E731
    area = lambda path: sum(f["area_m2"] for f in QgsVectorLayer(path, "b", "ogr").getFeatures())  # noqa: E731
    assert count(again["OUTPUT"]) == count(first["OUTPUT"]) > 0  # the extraction's threshold, from the raster
    assert area(again["OUTPUT"]) == area(first["OUTPUT"])
    assert 0 < area(strict["OUTPUT"]) < area(first["OUTPUT"])  # a stricter cut keeps less roof


@pytest.fixture
def served_scene(tmp_path):
    """The demo scene on a loopback HTTP server that answers range requests."""
    import sys

    from conftest import REPO

    sys.path.insert(0, str(REPO / "tests"))
    from range_server import RangeServer

    folder = tmp_path / "served"
    folder.mkdir()
    shutil.copy(DEMO_SCENE, folder / "scene.tif")
    server = RangeServer(folder)
    yield server
    server.close()


def test_processing_reads_a_layer_added_from_a_url(provider, served_scene, tmp_path):
    import processing

    # as QGIS's Data Source Manager adds a raster over HTTP(S): GDAL's /vsicurl/ path
    layer = QgsRasterLayer(f"/vsicurl/{served_scene.url}/scene.tif", "remote", "gdal")
    QgsProject.instance().addMapLayer(layer)
    result = processing.run("geoseg:extractbuildings", {"INPUT": layer.id(), "OUTPUT": str(tmp_path / "b.gpkg")})
    buildings = QgsVectorLayer(result["OUTPUT"], "b", "ogr")
    assert buildings.isValid() and buildings.featureCount() > 0 and buildings.crs().authid() == "EPSG:4326"


def test_toolbar_run_on_a_layer_read_from_a_url(iface, geoseg_executable, served_scene, tmp_path):
    layer = QgsRasterLayer(f"/vsicurl/{served_scene.url}/scene.tif", "remote", "gdal")
    assert layer.isValid()
    plugin = load_plugin(iface)
    try:
        plugin.start(layer, str(tmp_path / "b.gpkg"))
        wait_until(lambda: not plugin.tasks)
    finally:
        qgis.utils.unloadPlugin("geoseg_qgis")
    added = {l.name(): l for l in QgsProject.instance().mapLayers().values()}
    assert added["remote buildings"].featureCount() > 0


def _found_and_mapped(provider, tmp_path, removed: int = 5):
    """geoseg's buildings on the demo scene, and a memory layer of them without the first
    ``removed`` (as if a mapper had not drawn those yet)."""
    import processing
    from qgis.core import QgsFeature

    found = processing.run("geoseg:extractbuildings", {"INPUT": str(DEMO_SCENE), "OUTPUT": str(tmp_path / "b.gpkg")})
    source = QgsVectorLayer(f"{found['OUTPUT']}|layername=buildings", "b", "ogr")
    mapped = QgsVectorLayer(f"Polygon?crs={source.crs().authid()}", "mapped", "memory")
    kept = []
    for i, feature in enumerate(source.getFeatures()):
        if i >= removed:
            copy = QgsFeature()
            copy.setGeometry(feature.geometry())
            kept.append(copy)
    mapped.dataProvider().addFeatures(kept)
    return found["OUTPUT"], mapped, source.featureCount()


def test_processing_compares_with_a_mapped_layer(provider, tmp_path):
    import processing

    found, mapped, total = _found_and_mapped(provider, tmp_path)
    result = processing.run("geoseg:comparebuildings", {
        "INPUT": found, "EXISTING": mapped, "OUTPUT": str(tmp_path / "changes.gpkg"), "OSM": str(tmp_path / "new.geojson")})
    count = {kind: QgsVectorLayer(f"{result['OUTPUT']}|layername={kind}", kind, "ogr").featureCount()
             for kind in ("new", "missing", "matched")}
    assert count == {"new": 5, "missing": 0, "matched": total - 5}
    osm = QgsVectorLayer(result["OSM"], "osm", "ogr")
    assert osm.featureCount() == 5 and osm.crs().authid() == "EPSG:4326"
    assert {f["building"] for f in osm.getFeatures()} == {"yes"}


def test_toolbar_run_compares_and_adds_the_changes_styled_apart(iface, geoseg_executable, provider, tmp_path):
    _, mapped, total = _found_and_mapped(provider, tmp_path, removed=3)
    scene = QgsRasterLayer(str(DEMO_SCENE), "scene", "gdal")
    plugin = load_plugin(iface)
    try:
        plugin.start(scene, str(tmp_path / "again.gpkg"), compare=mapped)
        wait_until(lambda: not plugin.tasks)
        told = [item.text() for item in iface.messageBar().items()]
    finally:
        qgis.utils.unloadPlugin("geoseg_qgis")
    added = {l.name(): l for l in QgsProject.instance().mapLayers().values()}
    assert added["scene buildings: new"].featureCount() == 3 and added["scene buildings: missing"].featureCount() == 0
    assert added["scene buildings: matched"].featureCount() == total - 3
    colours = {k: added[f"scene buildings: {k}"].renderer().symbol().symbolLayer(0).strokeColor().name()
               for k in ("new", "missing", "matched")}
    assert len(set(colours.values())) == 3
    assert told == [f"scene buildings: {total} buildings added (3 new, 0 missing, {total - 3} matched)"]


@pytest.fixture
def xyz_service(tmp_path, monkeypatch):
    """A 2 x 2-tile XYZ service on loopback (bright roofs on dark ground, zoom 18 over Las
    Vegas) and the same imagery as a GeoTIFF in EPSG:3857."""
    import math
    import sys

    import numpy as np
    from conftest import REPO

    sys.path.insert(0, str(REPO / "tests"))
    from tile_server import TileServer, tile_index

    monkeypatch.setenv("GEOSEG_CACHE", str(tmp_path / "cache"))
    zoom, world = 18, 20037508.342789244
    col, row = tile_index(-115.17, 36.17, zoom)
    res = 2 * world / (256 * 2**zoom)
    image = np.full((3, 512, 512), 40, np.uint8)
    for r0, c0, r1, c1 in [(30, 40, 80, 120), (240, 200, 300, 260), (400, 400, 470, 480)]:
        image[:, r0:r1, c0:c1] = 200
    tiles = {}
    for r in range(2):
        for c in range(2):
            mem = gdal.GetDriverByName("MEM").Create("", 256, 256, 3, gdal.GDT_Byte)
            for b in range(3):
                mem.GetRasterBand(b + 1).WriteArray(image[b, r * 256:(r + 1) * 256, c * 256:(c + 1) * 256])
            path = f"/vsimem/tile_{r}_{c}.png"
            gdal.GetDriverByName("PNG").CreateCopy(path, mem)
            handle = gdal.VSIFOpenL(path, "rb")
            gdal.VSIFSeekL(handle, 0, 2)
            size = gdal.VSIFTellL(handle)
            gdal.VSIFSeekL(handle, 0, 0)
            tiles[f"/{zoom}/{col + c}/{row + r}.png"] = bytes(gdal.VSIFReadL(1, size, handle))
            gdal.VSIFCloseL(handle)
            gdal.Unlink(path)
    x0, y0 = -world + col * 256 * res, world - row * 256 * res
    server = TileServer(tiles)
    yield server, (x0 + 8 * res, y0 - 504 * res, x0 + 504 * res, y0 - 8 * res)
    server.close()
    assert math.isfinite(res)


def test_processing_runs_on_an_xyz_layer_fetching_only_its_tiles(provider, xyz_service, tmp_path):
    import processing

    server, (x0, y0, x1, y1) = xyz_service
    layer = QgsRasterLayer(f"type=xyz&url={server.template}&zmax=19&zmin=0", "basemap", "wms")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    server.requests.clear()  # QGIS itself may have asked for a tile when it opened the layer
    result = processing.run("geoseg:extractbuildings", {
        "INPUT": layer.id(), "OUTPUT": str(tmp_path / "b.gpkg"), "EXTENT": f"{x0},{x1},{y0},{y1} [EPSG:3857]"})
    buildings = QgsVectorLayer(result["OUTPUT"], "b", "ogr")
    assert buildings.isValid() and buildings.featureCount() > 0 and buildings.crs().authid() == "EPSG:3857"
    assert set(server.requests) <= set(server.tiles) and sum(server.requests.values()) == 4
    with pytest.raises(QgsProcessingException, match="covers the whole world"):
        processing.run("geoseg:extractbuildings", {"INPUT": layer.id(), "OUTPUT": str(tmp_path / "w.gpkg")})
