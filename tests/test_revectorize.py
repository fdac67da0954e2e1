"""geoseg vectorize: polygons from a probability raster without the model, as predict makes them."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyogrio
import pytest
import rasterio
from conftest import rectangles_scene, write_scene

from geoseg.errors import GeosegError
from geoseg.options import PredictOptions
from geoseg.pipeline import predict
from geoseg.vectorize.revectorize import vectorize_raster

BOXES = [(10, 10, 40, 50), (60, 20, 90, 30), (60, 31, 90, 60)]  # the last two one pixel apart


@pytest.fixture
def predicted(tmp_path, bright_predictor):
    scene = write_scene(tmp_path / "s.tif", rectangles_scene(120, 120, BOXES))
    options = PredictOptions(gsd="native", tile_size=64, overlap=16, separate=False)
    predict(scene, tmp_path / "p.gpkg", options, raster=tmp_path / "p.tif", predictor=bright_predictor)
    return tmp_path / "p.tif", pyogrio.read_dataframe(tmp_path / "p.gpkg")


def test_the_raster_of_predict_gives_back_its_polygons(tmp_path, predicted):
    raster, expected = predicted
    summary = vectorize_raster(raster, tmp_path / "v.gpkg")
    again = pyogrio.read_dataframe(tmp_path / "v.gpkg")
    assert summary["buildings"] == len(expected) == 3 and summary["separated"] is False  # predict's choices, from tags
    for a, b in zip(expected.sort_values("area_m2").geometry, again.sort_values("area_m2").geometry):
        assert a.equals(b)
    assert list(again.columns) == list(expected.columns)


def test_a_higher_threshold_and_shaping_options_apply(tmp_path, predicted):
    raster, _ = predicted
    big = vectorize_raster(raster, tmp_path / "big.gpkg", PredictOptions(min_area=1000, threshold=0.9))
    assert big["buildings"] == 1 and big["threshold"] == 0.9
    assert pyogrio.read_dataframe(tmp_path / "big.gpkg")["area_m2"].tolist() == [1200.0]


def test_a_float_raster_of_probabilities_reads_as_0_to_1(tmp_path):
    prob = np.zeros((1, 50, 50), dtype=np.float32)
    prob[0, 5:15, 5:25] = 0.8
    prob[0, 30:40, 30:40] = 0.3
    raster = write_scene(tmp_path / "f.tif", prob)
    summary = vectorize_raster(raster, tmp_path / "f.gpkg")  # no tags: threshold 0.5
    assert summary["threshold"] == 0.5 and summary["buildings"] == 1
    assert pyogrio.read_dataframe(tmp_path / "f.gpkg")["score"].tolist() == [pytest.approx(0.8, abs=0.003)]


def test_an_rgb_image_is_refused_and_nothing_written(tmp_path):
    raster = write_scene(tmp_path / "rgb.tif", rectangles_scene(20, 20, []))
    with pytest.raises(GeosegError, match="has 3 bands"):
        vectorize_raster(raster, tmp_path / "x.gpkg")
    assert not (tmp_path / "x.gpkg").exists()


def test_the_command_reports_progress_and_a_summary(tmp_path, predicted):
    raster, _ = predicted
    run = subprocess.run([sys.executable, "-m", "geoseg", "vectorize", str(raster), "-o", str(tmp_path / "c.fgb"),
                          "--threshold", "0.6", "--progress", "json", "--json"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["buildings"] == 3
    stages = [json.loads(line) for line in run.stderr.splitlines()]
    assert stages[-1] == {"stage": "vectorize", "done": 120, "total": 120, "percent": 100}
    with rasterio.open(raster) as src:
        assert pyogrio.read_info(tmp_path / "c.fgb")["crs"] == src.crs.to_string()


def test_vectorize_loads_no_torch():
    """The command that needs no model must not pay for loading PyTorch (about 2.5 s)."""
    code = "import sys, geoseg.cli, geoseg.vectorize.revectorize; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


@pytest.fixture
def many_buildings(tmp_path):
    """A probability raster of 5 x 4 separate rectangles, 50 % to 98 % sure."""
    prob = np.zeros((1, 200, 160), dtype=np.uint8)
    for i in range(20):
        row, col = 40 * (i // 4) + 5, 40 * (i % 4) + 5
        prob[0, row:row + 20 + i % 7, col:col + 25] = 128 + 6 * i
    return write_scene(tmp_path / "many.tif", prob)


def test_a_geopackage_is_written_as_buildings_come_and_holds_what_a_whole_write_holds(tmp_path, many_buildings,
                                                                                      monkeypatch):
    from geoseg.stitch import stripes
    from geoseg.write.vectors import BuildingSink

    whole = vectorize_raster(many_buildings, tmp_path / "whole.geojson")  # any other format: written at the end
    appends = []
    write = BuildingSink._write
    monkeypatch.setattr(stripes, "CHUNK", 3)  # the vectoriser hands on 3 buildings at a time
    monkeypatch.setattr(BuildingSink, "CHUNK", 4)  # and the layer takes them 4 or more at a time
    monkeypatch.setattr(BuildingSink, "_write", lambda self, frame, append: (appends.append(len(frame)),
                                                                             write(self, frame, append)))
    streamed = vectorize_raster(many_buildings, tmp_path / "streamed.gpkg")
    assert whole["buildings"] == streamed["buildings"] == 20
    assert appends[0] == 0 and len(appends) >= 5 and sum(appends) == 20  # the empty layer, then chunks
    a = pyogrio.read_dataframe(tmp_path / "whole.geojson").sort_values("score")
    b = pyogrio.read_dataframe(tmp_path / "streamed.gpkg").sort_values("score")
    assert list(a.columns) == list(b.columns)
    assert all(x.equals(y) for x, y in zip(a.geometry, b.geometry))
    assert np.allclose(a["score"], b["score"]) and len(set(b["score"].round(3))) == 20
    assert pyogrio.read_info(tmp_path / "streamed.gpkg", layer="buildings")["crs"] == "EPSG:32633"


def test_a_failure_half_way_through_leaves_no_geopackage(tmp_path, many_buildings, monkeypatch):
    from geoseg.stitch import stripes
    from geoseg.write.vectors import BuildingSink

    write, calls = BuildingSink._write, []

    def fail_on_the_third(self, frame, append):
        calls.append(self._tmp)
        if len(calls) == 3:
            raise GeosegError("could not write streamed.gpkg (No space left on device); is the disk full?")
        write(self, frame, append)

    monkeypatch.setattr(stripes, "CHUNK", 2)
    monkeypatch.setattr(BuildingSink, "CHUNK", 2)
    monkeypatch.setattr(BuildingSink, "_write", fail_on_the_third)
    with pytest.raises(GeosegError, match="disk full"):
        vectorize_raster(many_buildings, tmp_path / "streamed.gpkg")
    assert calls[0].exists() is False and sorted(p.name for p in tmp_path.iterdir()) == ["many.tif"]


def test_the_same_polygons_whatever_the_number_of_workers(tmp_path, many_buildings):
    for workers in (1, 3):
        vectorize_raster(many_buildings, tmp_path / f"w{workers}.gpkg", PredictOptions(workers=workers, separate=True))
    a, b = (pyogrio.read_dataframe(tmp_path / f"w{w}.gpkg") for w in (1, 3))
    assert len(a) == len(b) == 20
    assert [x.wkb for x in a.geometry] == [y.wkb for y in b.geometry] and list(a["score"]) == list(b["score"])


def test_the_command_takes_workers(tmp_path, many_buildings):
    run = subprocess.run([sys.executable, "-m", "geoseg", "vectorize", str(many_buildings), "-o", str(tmp_path / "c.gpkg"),
                          "--workers", "2", "--json"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["buildings"] == 20
