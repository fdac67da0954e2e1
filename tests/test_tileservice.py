"""Online basemaps as scenes: an XYZ service on loopback that counts its requests."""

import io

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from conftest import rectangles_scene
from PIL import Image
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds
from tile_server import TileServer, tile_index

from geoseg.errors import GeosegError
from geoseg.options import PredictOptions
from geoseg.pipeline import predict
from geoseg.read.tileservice import TILE, WORLD, ground_pixel, is_tile_service, wms_description, zoom_for

ZOOM, LON, LAT = 18, -115.17, 36.17  # Las Vegas: 0.48 m pixels at zoom 18
BOXES = [(30, 40, 80, 120), (240, 200, 300, 260), (200, 300, 330, 330), (400, 400, 470, 480)]  # 2 cross tile seams


def test_the_zoom_matches_the_models_pixels_at_the_latitude():
    assert ground_pixel(ZOOM, LAT) == pytest.approx(0.4821, abs=1e-4)
    assert zoom_for(0.5, LAT) == 18 and zoom_for(0.5, 0.0) == 19 and zoom_for(0.3, LAT) == 19 and zoom_for(1.0, 60) == 17
    assert is_tile_service("https://t.example/{z}/{x}/{-y}.png") and not is_tile_service("https://t.example/a.tif")
    assert "<YOrigin>bottom</YOrigin>" in wms_description("http://t/{z}/{x}/{-y}.png", 3, "/tmp")
    with pytest.raises(GeosegError, match="server"):
        wms_description("http://{s}.t/{z}/{x}/{y}.png", 3, "/tmp")


@pytest.fixture
def service(tmp_path, monkeypatch):
    """A 2 x 2-tile XYZ service over Las Vegas, the same imagery as a GeoTIFF, and the bbox."""
    monkeypatch.setenv("GEOSEG_CACHE", str(tmp_path / "cache"))
    res = 2 * WORLD / (TILE * 2**ZOOM)
    col, row = tile_index(LON, LAT, ZOOM)
    image = rectangles_scene(512, 512, BOXES)
    tiles = {}
    for r in range(2):
        for c in range(2):
            png = io.BytesIO()
            Image.fromarray(image[:, r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE].transpose(1, 2, 0)).save(png, "PNG")
            tiles[f"/{ZOOM}/{col + c}/{row + r}.png"] = png.getvalue()
    x0, y0 = -WORLD + col * TILE * res, WORLD - row * TILE * res
    tif = tmp_path / "same.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=512, height=512, count=3, dtype="uint8", crs="EPSG:3857",
                       transform=from_origin(x0, y0, res, res)) as dst:
        dst.write(image)
    bbox = transform_bounds("EPSG:3857", "EPSG:4326", x0 + 8 * res, y0 - 504 * res, x0 + 504 * res, y0 - 8 * res)
    server = TileServer(tiles)
    yield server, tif, PredictOptions(bbox=bbox, bbox_crs="EPSG:4326", gsd="0.5", tile_size=128, overlap=32)
    server.close()


def test_an_xyz_service_gives_what_the_same_geotiff_gives(tmp_path, service, bright_predictor):
    server, tif, options = service
    from_tiles = predict(server.template, tmp_path / "xyz.gpkg", options, predictor=bright_predictor)
    from_file = predict(tif, tmp_path / "tif.gpkg", options, predictor=bright_predictor)
    assert sorted(server.requests.values()) == [1, 1, 1, 1]  # each of the four tiles, once
    assert from_tiles["buildings"] == from_file["buildings"] == len(BOXES)
    a, b = (pyogrio.read_dataframe(tmp_path / name) for name in ("xyz.gpkg", "tif.gpkg"))
    assert a.crs == b.crs and a.crs.to_epsg() == 3857
    for g, h in zip(sorted(a.geometry, key=lambda g: g.bounds), sorted(b.geometry, key=lambda g: g.bounds)):
        assert shapely.equals_exact(g, h, tolerance=1e-6)
    assert np.allclose(sorted(a["area_m2"]), sorted(b["area_m2"]))
    # Web Mercator drawn 1.24 times too large at 36°: areas are on the ground, 70 x 80 px of 0.482 m
    assert max(a["area_m2"]) == pytest.approx(70 * 80 * ground_pixel(ZOOM, LAT) ** 2, rel=0.01)
    assert from_tiles["scene"] == server.template and set(a["source"]) == {server.template}
    server.requests.clear()
    predict(server.template, tmp_path / "again.gpkg", options, predictor=bright_predictor)
    assert sum(server.requests.values()) == 0  # the on-disk tile cache


@pytest.mark.parametrize("damage, needle", [("missing", "gave no tile at column"),
                                             ("html", "with something that is not an image")])
def test_a_failing_service_gets_one_line_and_nothing_is_written(tmp_path, service, bright_predictor, damage, needle):
    server, _, options = service
    last = sorted(server.tiles)[-1]
    if damage == "missing":
        del server.tiles[last]
    else:
        server.tiles[last] = b"<html><body>Please sign in</body></html>"
    with pytest.raises(GeosegError, match=needle):
        predict(server.template, tmp_path / "b.gpkg", options, predictor=bright_predictor, raster=tmp_path / "p.tif")
    assert not (tmp_path / "b.gpkg").exists() and not (tmp_path / "p.tif").exists() and not list(tmp_path.glob(".*part*"))


def test_a_whole_world_request_is_refused(tmp_path, service, bright_predictor):
    server, _, _ = service
    with pytest.raises(GeosegError, match="covers the whole world: give the area"):
        predict(server.template, tmp_path / "b.gpkg", PredictOptions(gsd="0.5"), predictor=bright_predictor)
    assert sum(server.requests.values()) == 0
