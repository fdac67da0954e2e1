"""Scenes read over HTTP with range requests, from a loopback server that counts the bytes it
sends: only the header, the blocks a read needs and an overview for the statistics."""

import numpy as np
import pyogrio
import pytest
import rasterio
import rasterio.shutil
from conftest import rectangles_scene, write_scene
from range_server import RangeServer

from geoseg.errors import GeosegError
from geoseg.options import PredictOptions
from geoseg.pipeline import predict
from geoseg.read.scene import open_scene, statistics_sample

SIZE = 4096
BOXES = [(1000, 1000, 1040, 1060), (3000, 2000, 3030, 2050), (0, 3000, 700, 4096)]  # the hall keeps the stretch


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A 4096² RGB scene as a COG with overviews and as a tiled GeoTIFF without, served over HTTP."""
    root = tmp_path_factory.mktemp("served")
    data = rectangles_scene(SIZE, SIZE, BOXES)
    data += np.random.default_rng(0).integers(0, 16, data.shape, dtype=np.uint8)  # texture: blocks do not vanish
    plain = write_scene(root / "plain.tif", data, tiled=True, blockxsize=256, blockysize=256, compress="deflate")
    rasterio.shutil.copy(plain, root / "cog.tif", driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=256)
    server = RangeServer(root)
    yield server, root
    server.close()


def _fetched(server, name, action):
    before = server.sent[name]
    action()
    return server.sent[name] - before


def test_statistics_come_from_an_overview_or_a_spread_of_blocks_not_the_whole_file(served):
    server, root = served
    for name in ("cog.tif", "plain.tif"):
        url = f"{server.url}/{name}"
        size = (root / name).stat().st_size
        with open_scene(url) as src:
            fetched = _fetched(server, name, lambda: statistics_sample(src, [1, 2, 3]))
            remote = statistics_sample(src, [1, 2, 3])
        with rasterio.open(root / name) as local:
            assert np.array_equal(statistics_sample(local, [1, 2, 3])[0], remote[0])
        assert 0 < fetched < 0.1 * size, (name, fetched, size)


def test_predict_over_http_inside_a_small_box_fetches_a_small_part_and_finds_the_same_building(served, tmp_path,
                                                                                                 bright_predictor):
    server, root = served
    box = PredictOptions(bbox=(500900.0, 4598900.0, 501200.0, 4599100.0), tile_size=256, overlap=32)  # around BOXES[0]
    local = predict(root / "cog.tif", tmp_path / "local.gpkg", box, predictor=bright_predictor)
    fetched = _fetched(server, "cog.tif", lambda: predict(f"{server.url}/cog.tif", tmp_path / "remote.gpkg", box,
                                                          predictor=bright_predictor))
    assert fetched < 0.1 * (root / "cog.tif").stat().st_size
    (a,), (b,) = pyogrio.read_dataframe(tmp_path / "local.gpkg").geometry, pyogrio.read_dataframe(tmp_path / "remote.gpkg").geometry
    assert local["buildings"] == 1 and a.equals(b) and a.area == 40 * 60


@pytest.mark.parametrize("name,needle", [("missing.tif", "404"), ("notes.tif", "not recognized")])
def test_remote_errors_are_one_line(served, name, needle):
    server, root = served
    (root / "notes.tif").write_text("not a raster")
    with pytest.raises(GeosegError, match=needle) as caught:
        open_scene(f"{server.url}/{name}")
    assert "\n" not in str(caught.value) and server.url in str(caught.value)


def test_a_server_that_is_not_there_is_one_line():
    with pytest.raises(GeosegError, match="could not open http://127.0.0.1:9/scene.tif"):
        open_scene("http://127.0.0.1:9/scene.tif")


def test_a_server_that_never_answers_times_out_in_one_line(monkeypatch):
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # connections wait in the backlog: nothing is ever sent back
    monkeypatch.setenv("GDAL_HTTP_TIMEOUT", "1")  # the user's setting wins over geoseg's default
    monkeypatch.setenv("GDAL_HTTP_MAX_RETRY", "0")
    try:
        with pytest.raises(GeosegError, match="could not open .*(timed out|Timeout)") as caught:
            open_scene(f"http://127.0.0.1:{silent.getsockname()[1]}/scene.tif")
        assert "\n" not in str(caught.value)
    finally:
        silent.close()
