"""Scores with answers worked out by hand."""

import numpy as np
import pytest
import shapely
from conftest import ORIGIN, write_scene

from geoseg.evaluate.metrics import ObjectCounts, PixelCounts
from geoseg.evaluate.truth import evaluate
from geoseg.write.vectors import write_vector


def test_pixel_scores_by_hand():
    truth = np.zeros((4, 4), dtype=bool)
    truth[0:2, 0:2] = True  # 4 px
    pred = np.zeros((4, 4), dtype=bool)
    pred[0:2, 1:3] = True  # 4 px, 2 overlap
    s = PixelCounts().add(pred, truth).scores()
    assert s == {"iou": 2 / 6, "f1": 4 / 8, "precision": 0.5, "recall": 0.5}


def test_object_f1_one_to_one_at_iou_half():
    truth = np.zeros((20, 20), dtype=bool)
    truth[0:4, 0:4] = True  # matched: IoU 12/16 = 0.75
    truth[10:14, 10:14] = True  # missed: prediction covers a quarter
    pred = np.zeros((20, 20), dtype=bool)
    pred[0:4, 0:3] = True
    pred[10:12, 10:12] = True
    pred[17:19, 0:5] = True  # a false positive
    s = ObjectCounts().add(pred, truth).scores()
    assert s["object_precision"] == pytest.approx(1 / 3)
    assert s["object_recall"] == pytest.approx(1 / 2)
    assert s["object_f1"] == pytest.approx(2 / 5)


def test_one_prediction_over_two_buildings_matches_at_most_one():
    truth = np.zeros((10, 10), dtype=bool)
    truth[0:4, 0:4] = True
    truth[0:4, 5:6] = True
    pred = np.zeros((10, 10), dtype=bool)
    pred[0:4, 0:6] = True  # IoU with the big one 16/24 >= 0.5, with the small one 4/24
    counts = ObjectCounts().add(pred, truth)
    assert (counts.tp, counts.fp, counts.fn) == (1, 0, 1)


def test_evaluate_raster_prediction_against_vector_truth(tmp_path):
    prob = np.zeros((1, 20, 20), dtype=np.uint8)
    prob[0, 2:6, 2:6] = 230  # building, probability 0-255
    prob[0, 10:12, 10:12] = 90  # below the cut
    pred = write_scene(tmp_path / "prob.tif", prob)
    x0, y0 = ORIGIN
    truth = tmp_path / "truth.gpkg"
    # truth covers rows 2-5 and columns 2-7: 24 px, 16 of them predicted
    write_vector([{"geometry": shapely.box(x0 + 2, y0 - 6, x0 + 8, y0 - 2)}], truth, "EPSG:32633", {}, False)
    s = evaluate(pred, truth)
    assert s["iou"] == pytest.approx(16 / 24, abs=1e-4)
    assert s["precision"] == 1.0
    assert s["object_f1"] == 1.0  # IoU 0.667 >= 0.5


def test_evaluate_refuses_two_vectors(tmp_path):
    from geoseg.errors import GeosegError

    a = tmp_path / "a.gpkg"
    write_vector([], a, "EPSG:32633", {}, False)
    with pytest.raises(GeosegError, match="at least one raster"):
        evaluate(a, a)


def test_probability_raster_on_a_coarser_grid_is_scored_on_the_truth_grid(tmp_path):
    from rasterio.transform import from_origin

    prob = np.zeros((1, 10, 10), dtype=np.uint8)  # 2 m pixels, as predict writes at the model's pixel size
    prob[0, 1:3, 1:4] = 255
    pred = write_scene(tmp_path / "prob.tif", prob, transform=from_origin(*ORIGIN, 2.0, 2.0))
    truth = np.zeros((1, 20, 20), dtype=np.uint8)  # 1 m pixels: the same 4 m x 6 m building
    truth[0, 2:6, 2:8] = 255
    truth[0, 14:16, 14:16] = 255  # and one the prediction misses
    s = evaluate(pred, write_scene(tmp_path / "truth.tif", truth))
    assert s["iou"] == pytest.approx(24 / 28, abs=1e-4) and s["precision"] == 1.0
    assert s["object_f1"] == pytest.approx(2 / 3, abs=1e-4)  # 1 of 1 predicted, 1 of 2 true


def test_buildings_given_by_id_stay_apart_where_they_touch():
    truth = np.zeros((10, 10), dtype=bool)
    truth[0:4, 0:4] = True
    truth[6:9, 0:4] = True
    ids = np.zeros((10, 10), dtype=np.int32)
    ids[0:4, 0:4] = 7  # two polygons that share an edge, burnt one ID each
    ids[0:4, 4:9] = 3
    ids[6:9, 0:4] = 12
    counts = ObjectCounts().add(ids, truth)
    assert (counts.tp, counts.fp, counts.fn) == (2, 1, 0)
    merged = ObjectCounts().add(ids > 0, truth)  # as a mask, the touching two are one (IoU 16/36 with the first)
    assert (merged.tp, merged.fp, merged.fn) == (1, 1, 1)


def test_evaluate_counts_each_predicted_polygon(tmp_path):
    truth = np.zeros((1, 20, 20), dtype=np.uint8)
    truth[0, 2:6, 2:6] = 255
    truth[0, 2:6, 7:11] = 255  # two houses a pixel apart
    x0, y0 = ORIGIN
    pred = tmp_path / "pred.gpkg"  # two polygons that share the edge at x = 6.5
    write_vector([{"geometry": shapely.box(x0 + 2, y0 - 6, x0 + 6.5, y0 - 2)},
                  {"geometry": shapely.box(x0 + 6.5, y0 - 6, x0 + 11, y0 - 2)}], pred, "EPSG:32633", {}, False)
    s = evaluate(pred, write_scene(tmp_path / "truth.tif", truth))
    assert s["object_f1"] == 1.0 and s["iou"] == pytest.approx(32 / 36, abs=1e-4)
