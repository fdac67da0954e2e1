"""``geoseg.pipeline.predict`` end to end on synthetic scenes whose buildings are known."""

from dataclasses import replace

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
import torch
from conftest import ORIGIN, rectangles_scene, write_scene
from rasterio.crs import CRS
from rasterio.transform import from_origin

from geoseg.errors import GeosegError
from geoseg.infer.predictor import Predictor, TorchBackend
from geoseg.models.registry import preset_card
from geoseg.options import PredictOptions
from geoseg.pipeline import predict

# (row0, col0, row1, col1) in a 700 x 900 scene, 128-px tiles with 32 overlap (stride 96)
# and 256-row stitch blocks: most cross a tile seam, several a block seam or a scene edge.
BOXES = [
    (90, 90, 110, 130),  # across tile rows and columns
    (240, 300, 275, 340),  # across the 256-row block seam
    (500, 860, 560, 900),  # touches the right edge
    (680, 10, 700, 60),  # touches the bottom edge
    (10, 400, 40, 420),
]
TILES = PredictOptions(tile_size=128, overlap=32)


def _expected(box, transform):
    r0, c0, r1, c1 = box
    x0, y0 = transform @ (c0, r1)
    x1, y1 = transform @ (c1, r0)
    return shapely.box(x0, y0, x1, y1)


def _read(path):
    return pyogrio.read_dataframe(path)


def test_buildings_across_tile_and_block_seams_are_single_polygons_in_place(tmp_path, bright_predictor):
    scene = write_scene(tmp_path / "scene.tif", rectangles_scene(700, 900, BOXES))
    summary = predict(scene, tmp_path / "b.gpkg", raster=tmp_path / "p.tif", predictor=bright_predictor, options=TILES)
    frame = _read(tmp_path / "b.gpkg")
    assert summary["buildings"] == len(BOXES) == len(frame)
    assert CRS.from_user_input(frame.crs) == CRS.from_epsg(32633)
    transform = from_origin(*ORIGIN, 1.0, 1.0)
    for box in BOXES:
        want = _expected(box, transform)
        (match,) = [g for g in frame.geometry if g.intersects(want)]
        assert match.equals(want)
    areas = sorted(frame["area_m2"])
    assert areas == sorted(float((b[2] - b[0]) * (b[3] - b[1])) for b in BOXES)
    assert (frame["score"] > 0.99).all()
    with rasterio.open(tmp_path / "p.tif") as out, rasterio.open(scene) as src:
        assert out.crs == src.crs and out.transform == src.transform and out.shape == src.shape
        assert out.dtypes == ("uint8",) and out.profile["tiled"] and out.profile["compress"] == "deflate"
        prob = out.read(1)
        assert prob[100, 100] == 255 and prob[300, 600] == 0


def test_nodata_and_alpha_regions_give_no_buildings(tmp_path, bright_predictor):
    data = rectangles_scene(300, 300, [(20, 20, 60, 60), (200, 200, 240, 240)])
    data[:, 150:, 150:] = 0  # the second building lies in nodata
    scene = write_scene(tmp_path / "nodata.tif", data, nodata=0)
    predict(scene, tmp_path / "a.gpkg", raster=tmp_path / "p.tif", predictor=bright_predictor, options=TILES)
    assert len(_read(tmp_path / "a.gpkg")) == 1
    with rasterio.open(tmp_path / "p.tif") as out:
        mask = out.read_masks(1)
        assert mask[220, 220] == 0 and mask[40, 40] == 255

    alpha = np.concatenate([rectangles_scene(300, 300, [(20, 20, 60, 60), (200, 200, 240, 240)]),
                            np.full((1, 300, 300), 255, dtype=np.uint8)])
    alpha[3, 150:, 150:] = 0
    rgba = write_scene(tmp_path / "alpha.tif", alpha, photometric="RGB", alpha="YES")
    predict(rgba, tmp_path / "b.gpkg", predictor=bright_predictor, options=TILES)
    assert len(_read(tmp_path / "b.gpkg")) == 1


def test_validity_is_read_only_where_a_scene_can_have_gaps(tmp_path):
    from rasterio.windows import Window

    from geoseg.read.scene import valid_pixels

    data = rectangles_scene(100, 120, [(10, 10, 30, 30)])
    data[:, 50:, 60:] = 0
    window = Window(40, 30, 50, 60)  # 50 columns, 60 rows over the gap's corner
    with rasterio.open(write_scene(tmp_path / "plain.tif", data)) as src:
        plain = valid_pixels(src, window)
    with rasterio.open(write_scene(tmp_path / "gaps.tif", data, nodata=0)) as src:
        gaps = valid_pixels(src, window)
    assert plain.shape == gaps.shape == (60, 50) and plain.all()
    assert not gaps[20:, 20:].any() and gaps[:20].all() and gaps[:, :20].all()  # scene rows 50+, columns 60+


def test_uint16_single_band_scene_gives_the_same_buildings(tmp_path, bright_predictor):
    data = rectangles_scene(400, 400, BOXES[:2], bands=1, dtype=np.uint16, bright=1800, dark=300)
    scene = write_scene(tmp_path / "pan16.tif", data)
    predict(scene, tmp_path / "b.geojson", predictor=bright_predictor, options=TILES)
    frame = _read(tmp_path / "b.geojson")
    assert sorted(frame["area_m2"]) == [800.0, 1400.0]


def test_geographic_scene_gives_areas_in_square_metres(tmp_path, bright_predictor):
    # 1e-5 degree pixels at the equator: about 1.113 m x 1.106 m
    transform = from_origin(10.0, 0.001, 1e-5, 1e-5)
    scene = write_scene(tmp_path / "wgs84.tif", rectangles_scene(200, 200, [(50, 50, 100, 90)]),
                        crs="EPSG:4326", transform=transform)
    predict(scene, tmp_path / "b.fgb", predictor=bright_predictor, options=TILES)
    (area,) = _read(tmp_path / "b.fgb")["area_m2"]
    assert area == pytest.approx(50 * 40 * 1.1132 * 1.1057, rel=0.005)


def test_shapefile_output_with_all_its_parts(tmp_path, bright_predictor):
    scene = write_scene(tmp_path / "s.tif", rectangles_scene(200, 200, [(50, 50, 100, 90)]))
    predict(scene, tmp_path / "b.shp", predictor=bright_predictor, options=TILES)
    assert {p.suffix for p in tmp_path.glob("b.*")} >= {".shp", ".shx", ".dbf", ".prj"}
    assert not list(tmp_path.glob(".*part*"))
    assert len(_read(tmp_path / "b.shp")) == 1


def test_scene_without_buildings_writes_an_empty_layer_with_its_schema(tmp_path, bright_predictor):
    scene = write_scene(tmp_path / "flat.tif", np.full((3, 100, 100), 50, dtype=np.uint8))
    predict(scene, tmp_path / "b.gpkg", predictor=bright_predictor, options=TILES)
    info = pyogrio.read_info(tmp_path / "b.gpkg")
    assert info["features"] == 0 and list(info["fields"]) == ["area_m2", "perimeter_m", "score", "source", "model", "image_date"]


def test_existing_output_is_refused_and_left_alone(tmp_path, bright_predictor):
    scene = write_scene(tmp_path / "s.tif", rectangles_scene(100, 100, [(5, 5, 20, 20)]))
    out = tmp_path / "b.gpkg"
    out.write_bytes(b"precious")
    with pytest.raises(GeosegError, match="exists"):
        predict(scene, out, predictor=bright_predictor)
    assert out.read_bytes() == b"precious"
    predict(scene, out, predictor=bright_predictor, overwrite=True)
    assert len(_read(out)) == 1


def test_failure_after_the_raster_leaves_no_output_at_all(tmp_path, bright_predictor):
    scene = write_scene(tmp_path / "s.tif", rectangles_scene(100, 100, [(5, 5, 20, 20)]))
    with pytest.raises(GeosegError):
        predict(scene, tmp_path / "b.gpkg", raster=tmp_path / "p.tif", predictor=bright_predictor,
                options=PredictOptions(bands=(9,)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.tif"]


class ThreeLevelNet(torch.nn.Module):
    """CamVid-shaped stand-in: dark pixels are sky (0), mid-grey road (3), bright building (1)."""

    def forward(self, x):
        v = x[:, :1]
        logits = torch.full((x.shape[0], 12, *x.shape[2:]), -10.0)
        logits[:, 0:1] = 10 * (-1.0 - v)
        logits[:, 3:4] = 10 * (0.5 - (v - 0.0).abs())
        logits[:, 1:2] = 10 * (v - 1.0)
        return logits


def test_multiclass_model_writes_class_ids_with_colours_and_class_polygons(tmp_path):
    data = np.full((3, 200, 300), 20, dtype=np.uint8)
    data[:, 80:120, :] = 120  # a road across the scene, crossing tile seams
    data[:, 10:50, 100:160] = 240  # a building
    scene = write_scene(tmp_path / "s.tif", data)
    predict(scene, tmp_path / "c.gpkg", raster=tmp_path / "c.tif", predictor=_three_level_predictor(), options=TILES)
    with rasterio.open(tmp_path / "c.tif") as out:
        ids = out.read(1)
        assert out.count == 2
        assert ids[100, 150] == 3 and ids[30, 130] == 1 and ids[150, 20] == 0
        assert out.colormap(1)[1] == (128, 0, 0, 255)
    frame = _read(tmp_path / "c.gpkg")
    by_class = frame.groupby("class")["area_m2"].sum().to_dict()
    assert by_class["road"] == 40 * 300 and by_class["building"] == 40 * 60
    assert set(frame["class_id"]) == {0, 1, 3}


def _three_level_predictor() -> Predictor:
    card = preset_card("enet-camvid")
    return Predictor(TorchBackend(ThreeLevelNet(), card, torch.device("cpu")), card, "cpu", "camvid-test")


def _street_photo(path):
    """A 200 x 300 photo without georeference: a road (rows 80-119) and a building."""
    from PIL import Image

    data = np.full((200, 300, 3), 20, dtype=np.uint8)
    data[80:120, :] = 120
    data[10:50, 100:160] = 240
    Image.fromarray(data).save(path)
    return path


def test_a_street_model_reads_a_photo_and_writes_pixel_coordinates_a_palette_png_and_a_tinted_preview(tmp_path):
    from PIL import Image

    photo = _street_photo(tmp_path / "street.png")
    summary = predict(photo, tmp_path / "c.gpkg", raster=tmp_path / "classes.png", preview=tmp_path / "view.png",
                      predictor=_three_level_predictor(), options=TILES)
    assert summary["pixel_coordinates"] and summary["gsd_m"] is None and summary["multiclass"]
    classes = Image.open(tmp_path / "classes.png")
    assert classes.mode == "P" and classes.size == (300, 200)
    ids = np.asarray(classes)
    assert ids[100, 150] == 3 and ids[30, 130] == 1 and ids[150, 20] == 0
    assert classes.getpalette()[3 * 3:3 * 4] == [128, 64, 128]  # road's colour
    frame = _read(tmp_path / "c.gpkg")
    assert frame.crs is None
    (building,) = frame[frame["class"] == "building"].geometry
    assert building.equals(shapely.box(100, 10, 160, 50))  # x: column, y: row from the top-left corner
    view = np.asarray(Image.open(tmp_path / "view.png").convert("RGB")).astype(int)
    assert view.shape == (200, 300, 3)
    r, g, b = view[100, 150]  # grey road tinted half with (128, 64, 128)
    assert abs((r - g) - 32) <= 1 and r == b
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.gpkg", "classes.png", "street.png", "view.png"]


def test_a_photo_is_refused_by_a_building_model_and_by_options_about_the_ground(tmp_path, bright_predictor):
    photo = _street_photo(tmp_path / "street.png")
    with pytest.raises(GeosegError, match="not georeferenced"):
        predict(photo, tmp_path / "b.gpkg", predictor=bright_predictor)
    with pytest.raises(GeosegError, match="--bbox need a georeferenced scene"):
        predict(photo, tmp_path / "c.gpkg", predictor=_three_level_predictor(),
                options=PredictOptions(bbox=(0, 0, 10, 10)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["street.png"]


def test_a_png_probability_raster_holds_the_geotiffs_first_band(tmp_path, bright_predictor):
    scene = write_scene(tmp_path / "s.tif", rectangles_scene(200, 200, [(50, 50, 100, 90)]))
    only = predict(scene, raster=tmp_path / "p.tif", predictor=bright_predictor, options=TILES)
    predict(scene, raster=tmp_path / "p.png", predictor=bright_predictor, options=TILES)
    both = predict(scene, tmp_path / "b.gpkg", raster=tmp_path / "q.tif", predictor=bright_predictor, options=TILES)
    assert only["buildings"] is None and both["buildings"] == 1  # no polygons asked for: none made
    with rasterio.open(tmp_path / "p.tif") as tif, rasterio.open(tmp_path / "p.png") as png:
        assert png.driver == "PNG" and png.count == 1 and png.crs == tif.crs
        assert np.array_equal(png.read(1), tif.read(1))
        with rasterio.open(tmp_path / "q.tif") as with_polygons:
            assert np.array_equal(with_polygons.read(1), tif.read(1))
    assert not list(tmp_path.glob(".*"))


def test_a_run_leaves_the_objects_made_before_it_to_the_collector_only_after_it(tmp_path, bright_predictor):
    import gc

    scene = write_scene(tmp_path / "s.tif", rectangles_scene(300, 300, [(5, 5, 25, 35)]))
    frozen = []
    before = gc.get_freeze_count()
    predict(scene, tmp_path / "b.gpkg", TILES, predictor=bright_predictor,
            progress=lambda stage, done, total: frozen.append(gc.get_freeze_count()))
    assert frozen and min(frozen) > before and gc.get_freeze_count() == before


def test_the_package_level_api_runs_the_pipeline(tmp_path, bright_predictor):
    import geoseg

    scene = write_scene(tmp_path / "s.tif", rectangles_scene(100, 100, [(5, 5, 25, 35)]))
    summary = geoseg.predict(scene, tmp_path / "b.gpkg", predictor=bright_predictor)
    assert summary["buildings"] == 1 and _read(tmp_path / "b.gpkg")["area_m2"].tolist() == [600.0]
    bigger = geoseg.predict(scene, tmp_path / "c.gpkg", geoseg.PredictOptions(min_area=700), predictor=bright_predictor)
    assert bigger["buildings"] == 0


def test_float_reflectance_scene_gives_the_same_buildings(tmp_path, bright_predictor):
    boxes = [(90, 90, 110, 130), (150, 150, 185, 190)]  # 800 and 1 400 px, above the 2 % stretch
    data = rectangles_scene(300, 300, boxes, bands=4, dtype=np.float32, bright=0.42, dark=0.07)
    scene = write_scene(tmp_path / "refl.tif", data)
    predict(scene, tmp_path / "b.gpkg", predictor=bright_predictor, options=replace(TILES, bands=(3, 2, 1)))
    assert sorted(_read(tmp_path / "b.gpkg")["area_m2"]) == [800.0, 1400.0]


@pytest.mark.parametrize("width", [50, 49])  # bytes go through the table two at a time where the width is even
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_scaling_by_table_equals_the_arithmetic(dtype, width):
    from geoseg.read.scene import Scaling

    f32 = lambda *v: np.array(v, dtype=np.float32)  # noqa: E731
    scaling = Scaling(f32(3, 100), f32(200, 4000), np.array([102, 128], np.uint8))
    top = 255 if dtype == "uint8" else 5000
    raw = np.random.default_rng(0).integers(0, top, (2, 40, width)).astype(dtype)
    x = scaling.apply(raw)
    expected = np.clip((raw.astype(np.float64) - [[[3]], [[100]]]) / [[[197]], [[3900]]], 0, 1) * 255
    assert x.dtype == np.uint8 and x.shape == raw.shape
    assert np.abs(x - expected).max() <= 0.5 + 1e-3  # rounded to the nearest byte, as training stretches
    assert x[0].min() == 0 and x[0].max() == 255  # values beyond the stretch are clipped


def test_a_multispectral_scene_uses_its_labelled_colour_bands(tmp_path, bright_predictor):
    from rasterio.enums import ColorInterp

    data = np.full((4, 300, 300), 40, dtype=np.uint8)
    data[2, 20:60, 20:60] = 200  # bright in red only: band 3 of a blue, green, red, NIR scene
    data[3, 200:240, 200:240] = 200  # bright in NIR only
    scene = write_scene(tmp_path / "bgrn.tif", data)
    with rasterio.open(scene, "r+") as dst:
        dst.colorinterp = [ColorInterp.blue, ColorInterp.green, ColorInterp.red, ColorInterp.undefined]
    predict(scene, tmp_path / "a.gpkg", predictor=bright_predictor, options=TILES)
    (building,) = _read(tmp_path / "a.gpkg").geometry  # the red square; the NIR one is not read
    assert building.area == 1600.0 and building.bounds[0] == ORIGIN[0] + 20


def test_a_scene_of_unnamed_bands_needs_bands(tmp_path, bright_predictor):
    scene = write_scene(tmp_path / "four.tif", np.full((4, 64, 64), 40, dtype=np.uint8), photometric="MINISBLACK")
    with pytest.raises(GeosegError, match="has 4 image bands and the model takes 3.*--bands"):
        predict(scene, tmp_path / "a.gpkg", predictor=bright_predictor, options=TILES)


def test_a_predictor_and_model_settings_are_exclusive(tmp_path, bright_predictor):
    scene = write_scene(tmp_path / "s.tif", rectangles_scene(64, 64, []))
    with pytest.raises(GeosegError, match="takes a predictor or model, precision, not both"):
        predict(scene, tmp_path / "a.gpkg", predictor=bright_predictor,
                options=PredictOptions(model="eunet-buildings", precision="fp32"))
    assert not (tmp_path / "a.gpkg").exists()


def test_outputs_are_the_same_whatever_the_number_of_workers(tmp_path, bright_predictor, monkeypatch):
    """Reader threads, labelling threads or processes: more workers change how fast, never what comes out."""
    from geoseg.vectorize import polygons

    monkeypatch.setattr(polygons, "STRIPS_PER_PROCESS", 1)
    monkeypatch.setattr(polygons, "MAX_LABEL_THREADS", 2)  # this scene's 5 strips in 3 processes
    rng = np.random.default_rng(7)
    boxes = []
    for r in range(10, 1000, 70):  # touching pairs (split), some across the 256-row strips and 1024-column cells
        for c in range(10, 2400, 90):
            h, w = (int(v) for v in rng.integers(20, 50, 2))
            boxes += [(r, c, r + h, c + w), (r + 5, c + w, r + h - 5, c + w + 30)]
    scene = write_scene(tmp_path / "scene.tif", rectangles_scene(1050, 2500, boxes))
    runs = []
    for workers in (1, 3):
        out, raster = tmp_path / f"b{workers}.gpkg", tmp_path / f"p{workers}.tif"
        summary = predict(scene, out, PredictOptions(tile_size=256, overlap=32, separate=True, workers=workers),
                          raster=raster, predictor=bright_predictor)
        with rasterio.open(raster) as src:
            runs.append((summary["buildings"], [g.wkb for g in _read(out).geometry], src.read()))
    (n1, polygons1, pixels1), (n3, polygons3, pixels3) = runs
    assert n1 == n3 > 400 and polygons1 == polygons3 and np.array_equal(pixels1, pixels3)


def test_blending_where_the_model_ran_gives_the_same_outputs(tmp_path, bright_predictor, monkeypatch):
    """On a GPU the answers stay there and are blended there (geoseg.stitch.device); run here on
    the CPU device, the raster's bytes and the polygons are those of blending on the host."""
    from geoseg.stitch import device

    finished, blended = device.DeviceStitcher._finished, []

    def counted(self, rows):
        blended.append(rows.shape[1])
        return finished(self, rows)

    monkeypatch.setattr(device.DeviceStitcher, "_finished", counted)
    scene = write_scene(tmp_path / "scene.tif", rectangles_scene(700, 900, [(40, 50, 120, 200), (300, 420, 520, 610)]))
    runs = []
    for on_device in (False, True):
        monkeypatch.setattr(Predictor, "answers_on_device", property(lambda self, on=on_device: on))
        out, raster = tmp_path / f"b{on_device}.gpkg", tmp_path / f"p{on_device}.tif"
        predict(scene, out, PredictOptions(tile_size=256, overlap=32), raster=raster, predictor=bright_predictor)
        with rasterio.open(raster) as src:
            runs.append(([g.wkb for g in _read(out).geometry], src.read()))
    (polygons_host, pixels_host), (polygons_device, pixels_device) = runs
    assert len(polygons_host) == 2 and polygons_host == polygons_device and np.array_equal(pixels_host, pixels_device)
    assert sum(blended) == 700  # every row went through the device stitcher
