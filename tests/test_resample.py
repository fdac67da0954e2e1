"""Scenes seen at the model's pixel size: the grid, the scaled view and predict through it."""

import dataclasses

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from conftest import ORIGIN, BrightNet, predictor_for, rectangles_scene, write_scene
from rasterio.enums import Resampling
from rasterio.transform import from_origin

from geoseg.errors import GeosegError
from geoseg.models.registry import preset_card
from geoseg.options import PredictOptions
from geoseg.pipeline import predict
from geoseg.read.resample import SceneView, resampled_grid, target_gsd


@pytest.mark.parametrize("option,card,want", [
    ("auto", 0.5, 0.5), ("auto", None, None), ("native", 0.5, None), ("0.3", 0.5, 0.3), ("2", None, 2.0),
])
def test_target_gsd(option, card, want):
    assert target_gsd(option, card) == want


@pytest.mark.parametrize("scene_m,fine,want", [
    (0.15, 0.3, 0.3), (0.25, 0.3, 0.5), (1.0, 0.3, 0.5), (None, 0.3, 0.5), (0.15, None, 0.5),
])
def test_uav_mosaics_are_seen_at_the_cards_fine_pixel_size(scene_m, fine, want):
    card = dataclasses.replace(preset_card("eunet-buildings"), gsd_m=0.5, fine_gsd_m=fine)
    assert card.gsd_for(scene_m) == want


@pytest.mark.parametrize("option", ["0", "-1", "nan", "inf", "fine"])
def test_bad_gsd_is_a_one_line_error(option):
    with pytest.raises(GeosegError, match="--gsd"):
        target_gsd(option, None)


def _scene(tmp_path, pixel, width=400, height=300, crs="EPSG:32633", **profile):
    data = np.zeros((3, height, width), dtype=np.uint8)
    return write_scene(tmp_path / "s.tif", data, crs=crs, transform=from_origin(*ORIGIN, pixel, pixel), **profile)


def test_finer_scene_is_averaged_onto_the_model_grid_over_the_same_extent(tmp_path):
    with rasterio.open(_scene(tmp_path, 0.25)) as src:
        grid = resampled_grid(src, 0.5)
        assert (grid.width, grid.height) == (200, 150)
        assert (grid.transform.a, grid.transform.e) == (0.5, -0.5)
        assert (grid.transform.c, grid.transform.f) == ORIGIN
        assert grid.resampling == Resampling.average


def test_coarser_scene_is_interpolated(tmp_path):
    with rasterio.open(_scene(tmp_path, 2.0)) as src:
        grid = resampled_grid(src, 0.5)
        assert (grid.width, grid.height) == (1600, 1200) and grid.resampling == Resampling.bilinear


@pytest.mark.parametrize("pixel,gsd", [(0.5, None), (0.48, 0.5), (0.54, 0.5)])
def test_scene_near_the_model_gsd_is_read_as_it_is(tmp_path, pixel, gsd):
    with rasterio.open(_scene(tmp_path, pixel)) as src:
        assert resampled_grid(src, gsd) is None


def test_geographic_scene_pixel_size_is_measured_in_metres(tmp_path):
    # 2.7e-6 degrees is about 0.3 m at this latitude (about 0.28 m east-west at 23 degrees south)
    scene = write_scene(tmp_path / "g.tif", np.zeros((3, 300, 400), np.uint8), crs="EPSG:4326",
                        transform=from_origin(-43.2, -22.9, 2.7e-6, 2.7e-6))
    with rasterio.open(scene) as src:
        grid = resampled_grid(src, 0.5)
    assert 0.55 < grid.width / 400 < 0.62 and 0.55 < grid.height / 300 < 0.62


@pytest.mark.parametrize("profile", [{"nodata": 0}, {}])
def test_scaled_view_keeps_the_scene_validity(tmp_path, profile):
    data = np.full((3, 200, 200), 90, dtype=np.uint8)
    path = tmp_path / "m.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        write_scene(path, data, transform=from_origin(*ORIGIN, 0.25, 0.25), **profile)
        with rasterio.open(path, "r+") as dst:
            if "nodata" in profile:
                dst.write(np.zeros((3, 200, 100), np.uint8), window=((0, 200), (0, 100)))
            else:
                mask = np.full((200, 200), 255, np.uint8)
                mask[:, :100] = 0
                dst.write_mask(mask)
    with rasterio.open(path) as src:
        view = SceneView(path, resampled_grid(src, 0.5))
    with view.open() as seen:
        valid = seen.dataset_mask() > 0
        assert valid.shape == (100, 100)
        assert not valid[:, :50].any() and valid[:, 50:].all()
        assert (seen.read(1)[:, 50:] == 90).all()


def test_predict_at_the_model_gsd_puts_buildings_in_place(tmp_path):
    boxes = [(40, 60, 100, 140), (300, 200, 380, 420), (500, 500, 600, 600)]  # even: whole 0.5 m pixels
    scene = write_scene(tmp_path / "s.tif", rectangles_scene(600, 600, boxes),
                        transform=from_origin(*ORIGIN, 0.25, 0.25))
    predictor = predictor_for(BrightNet())
    predictor.card = dataclasses.replace(predictor.card, gsd_m=0.5)
    runs = {gsd: predict(scene, tmp_path / f"{gsd}.gpkg", raster=tmp_path / f"{gsd}.tif", predictor=predictor,
                         options=PredictOptions(tile_size=128, overlap=32, gsd=gsd)) for gsd in ("auto", "native")}
    assert runs["auto"]["resampled"] and runs["auto"]["gsd_m"] == 0.5
    assert not runs["native"]["resampled"] and runs["native"]["gsd_m"] == 0.25
    assert runs["auto"]["tiles"] < runs["native"]["tiles"]
    transform = from_origin(*ORIGIN, 0.25, 0.25)
    for gsd in runs:
        frame = pyogrio.read_dataframe(tmp_path / f"{gsd}.gpkg")
        assert len(frame) == len(boxes)
        for r0, c0, r1, c1 in boxes:
            (x0, y0), (x1, y1) = transform * (c0, r1), transform * (c1, r0)
            want = shapely.box(x0, y0, x1, y1)
            (match,) = [g for g in frame.geometry if g.intersects(want)]
            assert match.equals(want)
    with rasterio.open(tmp_path / "auto.tif") as out:
        assert out.shape == (300, 300) and out.res == (0.5, 0.5) and out.bounds == (ORIGIN[0], ORIGIN[1] - 150, ORIGIN[0] + 150, ORIGIN[1])


def test_predict_sees_a_uav_mosaic_at_the_cards_fine_pixel_size(tmp_path):
    boxes = [(30, 60, 90, 150), (300, 210, 390, 420)]  # multiples of 3: whole 0.3 m pixels
    scene = write_scene(tmp_path / "s.tif", rectangles_scene(450, 450, boxes), transform=from_origin(*ORIGIN, 0.1, 0.1))
    predictor = predictor_for(BrightNet())
    predictor.card = dataclasses.replace(predictor.card, gsd_m=0.5, fine_gsd_m=0.3)
    summary = predict(scene, tmp_path / "b.gpkg", raster=tmp_path / "p.tif", predictor=predictor,
                      options=PredictOptions(tile_size=128, overlap=32))
    assert summary["resampled"] and summary["gsd_m"] == 0.3
    frame = pyogrio.read_dataframe(tmp_path / "b.gpkg")
    want = sorted(round(0.01 * (r1 - r0) * (c1 - c0), 6) for r0, c0, r1, c1 in boxes)
    assert sorted(round(a, 6) for a in frame.geometry.area) == want
    with rasterio.open(tmp_path / "p.tif") as out:
        assert out.shape == (150, 150) and out.res == pytest.approx((0.3, 0.3))


def test_predict_on_a_coarser_scene_interpolates_it_and_keeps_the_outlines(tmp_path):
    boxes = [(20, 30, 50, 70), (120, 100, 180, 190)]
    scene = write_scene(tmp_path / "s.tif", rectangles_scene(200, 200, boxes), transform=from_origin(*ORIGIN, 1.0, 1.0))
    predictor = predictor_for(BrightNet())
    predictor.card = dataclasses.replace(predictor.card, gsd_m=0.5)
    summary = predict(scene, tmp_path / "b.gpkg", raster=tmp_path / "p.tif", predictor=predictor,
                      options=PredictOptions(tile_size=128, overlap=32))
    assert summary["resampled"] and summary["gsd_m"] == 0.5
    frame = pyogrio.read_dataframe(tmp_path / "b.gpkg")
    want = sorted(shapely.box(ORIGIN[0] + c0, ORIGIN[1] - r1, ORIGIN[0] + c1, ORIGIN[1] - r0).area for r0, c0, r1, c1 in boxes)
    assert sorted(frame.geometry.area) == pytest.approx(want)
    with rasterio.open(tmp_path / "p.tif") as out:
        assert out.shape == (400, 400) and out.read(1)[70, 100] == 255 and out.read(1)[10, 10] == 0
