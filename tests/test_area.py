"""The area of interest: --bbox (in the scene's or another CRS) and --aoi polygons limit what
is read, run and vectorised; buildings crossing the edge are cut there."""

from __future__ import annotations

import dataclasses

import pyogrio
import pytest
import rasterio
import shapely
from conftest import ORIGIN, UTM, BrightNet, predictor_for, rectangles_scene, write_scene
from pyproj import Transformer
from rasterio.transform import from_origin

from geoseg.errors import GeosegError
from geoseg.options import PredictOptions
from geoseg.pipeline import predict
from geoseg.write.vectors import write_vector

X0, Y0 = ORIGIN
INSIDE, CROSSING, OUTSIDE = (60, 60, 80, 80), (100, 140, 120, 170), (10, 10, 30, 30)  # rows, cols at 1 m
BOX = (X0 + 50, Y0 - 150, X0 + 150, Y0 - 50)  # columns 50-150, rows 50-150
NATIVE = PredictOptions(gsd="native", tile_size=64, overlap=16, separate=False)


def on_map(r0, c0, r1, c1, res=1.0):
    return shapely.box(X0 + c0 * res, Y0 - r1 * res, X0 + c1 * res, Y0 - r0 * res)


@pytest.fixture
def scene(tmp_path):
    return write_scene(tmp_path / "s.tif", rectangles_scene(200, 200, [INSIDE, CROSSING, OUTSIDE]))


def test_a_box_keeps_the_buildings_inside_and_cuts_those_on_its_edge(tmp_path, scene, bright_predictor):
    summary = predict(scene, tmp_path / "b.gpkg", dataclasses.replace(NATIVE, bbox=BOX), raster=tmp_path / "p.tif",
                      predictor=bright_predictor)
    found = sorted(pyogrio.read_dataframe(tmp_path / "b.gpkg").geometry, key=lambda g: g.bounds[1], reverse=True)
    assert len(found) == 2
    assert found[0].equals(on_map(*INSIDE))
    assert found[1].equals(on_map(100, 140, 120, 150))  # cut at the box's right edge
    assert summary["area_of_interest"] == "--bbox" and summary["tiles"] == 4  # 100 x 100 px: 2 x 2 tiles, not 4 x 4
    with rasterio.open(tmp_path / "p.tif") as out:  # the probability raster covers the box
        assert out.shape == (100, 100) and out.bounds == BOX
        assert out.read(1)[20, 20] == 255 and out.read_masks(1).all()


def test_a_box_in_longitude_and_latitude_is_placed_in_the_scene_crs(tmp_path, scene, bright_predictor):
    to_lonlat = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    corners = [to_lonlat.transform(x, y) for x in (BOX[0], BOX[2]) for y in (BOX[1], BOX[3])]
    lonlat = (min(c[0] for c in corners), min(c[1] for c in corners), max(c[0] for c in corners), max(c[1] for c in corners))
    predict(scene, tmp_path / "b.gpkg", dataclasses.replace(NATIVE, bbox=lonlat, bbox_crs="EPSG:4326"),
            predictor=bright_predictor)
    found = pyogrio.read_dataframe(tmp_path / "b.gpkg").geometry
    assert len(found) == 2 and any(g.equals(on_map(*INSIDE)) for g in found)
    (cut,) = [g for g in found if g.intersects(on_map(*CROSSING))]
    assert abs(cut.bounds[2] - (X0 + 150)) <= 2  # the reprojected box is a little wider than the original


def test_aoi_polygons_in_another_crs_select_the_buildings_within(tmp_path, scene, bright_predictor):
    to_lonlat = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    areas = [on_map(*INSIDE).buffer(5), on_map(*OUTSIDE).buffer(5)]
    lonlat = [shapely.transform(a, lambda xy: list(zip(*to_lonlat.transform(xy[:, 0], xy[:, 1])))) for a in areas]
    write_vector([{"geometry": g} for g in lonlat], tmp_path / "area.geojson", "EPSG:4326", {}, overwrite=False)
    summary = predict(scene, tmp_path / "b.gpkg", dataclasses.replace(NATIVE, aoi=str(tmp_path / "area.geojson")),
                      predictor=bright_predictor)
    found = pyogrio.read_dataframe(tmp_path / "b.gpkg").geometry
    assert sorted(round(g.area) for g in found) == [400, 400]
    assert not any(g.intersects(on_map(*CROSSING)) for g in found)
    assert summary["tiles"] < 16


def test_an_area_on_a_resampled_scene_keeps_exact_outlines(tmp_path):
    boxes = [(200, 200, 280, 320), (20, 20, 60, 60)]  # in 0.25 m pixels; the first inside the box
    scene = write_scene(tmp_path / "s.tif", rectangles_scene(600, 600, boxes), transform=from_origin(X0, Y0, 0.25, 0.25))
    predictor = predictor_for(BrightNet())
    predictor.card = dataclasses.replace(predictor.card, gsd_m=0.5)
    box = (X0 + 40, Y0 - 110, X0 + 110, Y0 - 40)
    summary = predict(scene, tmp_path / "b.gpkg", PredictOptions(tile_size=64, overlap=16, bbox=box, separate=False),
                      raster=tmp_path / "p.tif", predictor=predictor)
    (found,) = pyogrio.read_dataframe(tmp_path / "b.gpkg").geometry
    assert summary["resampled"] and found.equals(on_map(*boxes[0], res=0.25))
    with rasterio.open(tmp_path / "p.tif") as out:
        assert out.res == (0.5, 0.5) and out.bounds == box and out.shape == (140, 140)


@pytest.mark.parametrize("options, message", [
    (PredictOptions(bbox=(X0 + 500, Y0 - 100, X0 + 600, Y0)), "does not overlap the scene"),
    (PredictOptions(aoi="nowhere.gpkg"), "nowhere.gpkg does not exist"),
    (PredictOptions(bbox=BOX, bbox_crs="EPSG:99999"), "is not a CRS"),
])
def test_an_unusable_area_is_one_clear_error_and_writes_nothing(tmp_path, scene, bright_predictor, options, message):
    with pytest.raises(GeosegError, match=message):
        predict(scene, tmp_path / "b.gpkg", options, predictor=bright_predictor)
    assert not (tmp_path / "b.gpkg").exists()


def test_box_and_polygons_together_or_a_reversed_box_are_refused():
    with pytest.raises(GeosegError, match="not both"):
        PredictOptions(bbox=BOX, aoi="a.gpkg")
    with pytest.raises(GeosegError, match="min < max"):
        PredictOptions(bbox=(BOX[2], BOX[1], BOX[0], BOX[3]))
