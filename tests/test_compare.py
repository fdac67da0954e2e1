"""``geoseg compare``: found buildings against mapped ones, counted exactly on synthetic layers."""

import json

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from conftest import ORIGIN, UTM, rectangles_scene, write_scene
from rasterio.crs import CRS
from test_reliability import assert_one_line, run_cli

from geoseg.changes.compare import CompareSettings, Comparison, compare
from geoseg.changes.matching import match
from geoseg.errors import GeosegError
from geoseg.options import PredictOptions
from geoseg.pipeline import predict
from geoseg.write.provenance import Provenance


def houses(n: int, x0: float = ORIGIN[0] + 10, y0: float = ORIGIN[1] - 100, size: float = 12.0) -> list:
    """``n`` square houses in a row, 20 m apart (UTM metres)."""
    return [shapely.box(x0 + 20 * i, y0, x0 + 20 * i + size, y0 + size) for i in range(n)]


def write(path, geoms, crs=UTM, provenance=None, **columns):
    frame = gpd.GeoDataFrame(columns, geometry=geoms, crs=crs)
    pyogrio.write_dataframe(frame, path, layer="buildings",
                            layer_metadata=provenance.metadata() if provenance else None)
    return path


def searched(area) -> Provenance:
    return Provenance(version="test", model="m", model_digest="0" * 16, threshold=0.5, shaping={}, source="s.tif",
                      area_wkt=area.wkt)


# found: 6 houses matched, 3 new (k); existing: the same 6 shifted by 1 m (IoU 0.85), 4 missing (m),
# one of which lies where a found house is only 40 % of its size (IoU 0.16: missing *and* new).
K_NEW, M_MISSING, N_MATCHED = 3, 4, 6


@pytest.fixture
def layers(tmp_path):
    row = houses(12)
    found = row[:6] + row[6:9]  # 6 matched + 3 new
    shrunk = shapely.affinity.scale(row[9], 0.4, 0.4)
    found.append(shrunk)  # a house found at 40 % of its size: new, and its mapped house missing
    existing = [shapely.affinity.translate(g, 1.0, 0.0) for g in row[:6]] + [row[9], row[10], row[11]]
    existing.append(shapely.box(ORIGIN[0] + 10, ORIGIN[1] - 140, ORIGIN[0] + 22, ORIGIN[1] - 128))  # a 4th missing
    area = shapely.box(ORIGIN[0], ORIGIN[1] - 300, ORIGIN[0] + 300, ORIGIN[1])
    far = shapely.box(ORIGIN[0] + 5000, ORIGIN[1] - 100, ORIGIN[0] + 5012, ORIGIN[1] - 88)  # outside the scene
    found_path = write(tmp_path / "found.gpkg", found, provenance=searched(area), score=np.linspace(0.5, 0.9, len(found)))
    # the mapped layer in another CRS, with an attribute of its own (as OpenStreetMap has)
    mapped = gpd.GeoSeries(existing + [far], crs=UTM).to_crs("EPSG:4326")
    mapped_path = write(tmp_path / "osm.gpkg", list(mapped.values), crs="EPSG:4326",
                        osm_id=np.arange(100, 100 + len(mapped)))
    return found_path, mapped_path


def test_exactly_k_new_m_missing_n_matched(tmp_path, layers):
    found, mapped = layers
    summary = compare(found, mapped, tmp_path / "changes.gpkg", CompareSettings())
    assert (summary["new"], summary["missing"], summary["matched"]) == (K_NEW + 1, M_MISSING, N_MATCHED)
    assert summary["found"] == 10 and summary["existing"] == 10  # the house 5 km away is outside the scene
    out = {layer: pyogrio.read_dataframe(tmp_path / "changes.gpkg", layer=layer) for layer in ("new", "missing", "matched")}
    assert [len(out[k]) for k in ("new", "missing", "matched")] == [4, 4, 6]
    assert CRS.from_user_input(out["missing"].crs) == CRS.from_user_input(UTM)  # in the found layer's CRS
    assert out["matched"]["iou"].to_numpy() == pytest.approx(11 / 13, abs=1e-3)  # 12 x 12 m shifted by 1 m
    assert sorted(out["missing"]["osm_id"]) == [106, 107, 108, 109]  # the mapped layer's own columns kept
    best = dict(zip(out["missing"]["osm_id"], out["missing"]["best_iou"]))
    assert best[106] == pytest.approx(0.16, abs=1e-3) and best[107] == 0.0
    assert set(out["new"]["change"]) == {"new"} and "score" in out["new"]


def test_a_looser_iou_matches_the_shrunk_house(tmp_path, layers):
    found, mapped = layers
    summary = compare(found, mapped, tmp_path / "c.gpkg", CompareSettings(min_iou=0.1))
    assert (summary["new"], summary["missing"], summary["matched"]) == (K_NEW, M_MISSING - 1, N_MATCHED + 1)


def test_overlap_mode_matches_a_block_drawn_as_one_polygon():
    found = np.array(houses(3) + houses(1, x0=ORIGIN[0] + 500))
    block = np.array([shapely.box(ORIGIN[0], ORIGIN[1] - 110, ORIGIN[0] + 80, ORIGIN[1] - 80)])
    strict, loose = match(found, block, "iou"), match(found, block, "overlap")
    assert len(strict.found) == 0 and len(strict.new) == 4 and len(strict.missing) == 1
    assert sorted(loose.found) == [0, 1, 2] and list(loose.new) == [3] and len(loose.missing) == 0


def test_a_bbox_limits_what_counts(tmp_path, layers):
    found, mapped = layers
    box = (ORIGIN[0], ORIGIN[1] - 300, ORIGIN[0] + 70, ORIGIN[1])  # the first three houses and the 4th missing one
    summary = compare(found, mapped, tmp_path / "c.gpkg", CompareSettings(bbox=box))
    assert (summary["new"], summary["missing"], summary["matched"]) == (0, 1, 3)


def test_single_layer_formats_get_a_change_column(tmp_path, layers):
    found, mapped = layers
    compare(found, mapped, tmp_path / "c.geojson", CompareSettings())
    frame = pyogrio.read_dataframe(tmp_path / "c.geojson")
    assert frame["change"].value_counts().to_dict() == {"matched": 6, "new": 4, "missing": 4}


def test_new_buildings_for_josm(tmp_path, layers):
    found, mapped = layers
    compare(found, mapped, tmp_path / "c.gpkg", CompareSettings(osm=str(tmp_path / "new.geojson"), osm_source="Maxar"))
    data = json.loads((tmp_path / "new.geojson").read_text())
    assert len(data["features"]) == 4
    assert {json.dumps(f["properties"], sort_keys=True) for f in data["features"]} == {
        '{"building": "yes", "source": "Maxar"}'}
    lon, lat = data["features"][0]["geometry"]["coordinates"][0][0]
    assert 14.9 < lon < 15.1 and 41.5 < lat < 41.6  # EPSG:4326 (lon, lat), near UTM 33N's origin used here


def test_bad_existing_layers_get_one_line_and_nothing_is_written(tmp_path, layers, capsys):
    found, _ = layers
    points = tmp_path / "points.gpkg"
    gpd.GeoDataFrame(geometry=[shapely.Point(ORIGIN)], crs=UTM).to_file(points)
    code, err = run_cli(capsys, "compare", found, "--with", points, "-o", tmp_path / "c.gpkg")
    assert_one_line(code, err, "holds point geometries; compare needs building polygons")
    elsewhere = write(tmp_path / "far.gpkg", houses(2, x0=ORIGIN[0] + 90000))
    code, err = run_cli(capsys, "compare", found, "--with", elsewhere, "-o", tmp_path / "c.gpkg")
    assert_one_line(code, err, "share no area")
    code, err = run_cli(capsys, "compare", found, "--with", tmp_path / "nothing.gpkg", "-o", tmp_path / "c.gpkg")
    assert_one_line(code, err, "does not exist")
    assert not (tmp_path / "c.gpkg").exists() and not list(tmp_path.glob(".*part*"))


def test_predict_compares_in_the_same_run(tmp_path, bright_predictor):
    boxes = [(20, 20, 40, 50), (100, 100, 130, 120), (150, 20, 170, 40)]
    scene = write_scene(tmp_path / "scene.tif", rectangles_scene(200, 200, boxes))
    # mapped: the first building exactly, the second not at all, and one the scene does not show
    x, y = ORIGIN
    mapped = write(tmp_path / "mapped.gpkg", [shapely.box(x + 20, y - 40, x + 50, y - 20),
                                              shapely.box(x + 60, y - 190, x + 90, y - 160)])
    comparison = Comparison(str(mapped), str(tmp_path / "changes.gpkg"))
    summary = predict(scene, tmp_path / "b.gpkg", PredictOptions(tile_size=128, overlap=32), predictor=bright_predictor,
                      comparison=comparison)
    assert summary["buildings"] == 3
    changes = summary["changes"]
    assert (changes["new"], changes["missing"], changes["matched"]) == (2, 1, 1)
    matched = pyogrio.read_dataframe(tmp_path / "changes.gpkg", layer="matched")
    assert matched["iou"].iloc[0] == pytest.approx(1.0)


def test_predict_refuses_a_bad_comparison_layer_before_running(tmp_path, bright_predictor):
    scene = write_scene(tmp_path / "scene.tif", rectangles_scene(64, 64, [(10, 10, 20, 20)]))
    lines = tmp_path / "lines.gpkg"
    gpd.GeoDataFrame(geometry=[shapely.LineString([ORIGIN, (ORIGIN[0] + 5, ORIGIN[1])])], crs=UTM).to_file(lines)
    with pytest.raises(GeosegError, match="linestring geometries"):
        predict(scene, tmp_path / "b.gpkg", predictor=bright_predictor,
                comparison=Comparison(str(lines), str(tmp_path / "c.gpkg")))
    assert not (tmp_path / "b.gpkg").exists()
