"""The separation target (where buildings touch) and its use at inference."""

import numpy as np
import pyogrio
import pytest
import shapely
import torch
from conftest import ORIGIN, rectangles_scene, write_scene

from geoseg.evaluate.footprints import burn_footprints
from geoseg.infer.predictor import Predictor, TorchBackend
from geoseg.models.heads import building_probability
from geoseg.models.registry import preset_card
from geoseg.options import PredictOptions
from geoseg.pipeline import predict
from geoseg.train.layouts import read_dataset
from geoseg.train.separation import BUILDING, SEPARATION, flagged_label, instances_of, reach_px, separation
from geoseg.write.vectors import write_vector


def test_touching_buildings_are_separated_along_the_line_where_they_meet():
    instances = np.zeros((10, 12), np.int32)
    instances[2:8, 1:6] = 1
    instances[2:8, 6:11] = 2  # touches building 1 along the column boundary 5 | 6
    sep = separation(instances, reach=1)
    assert sep[2:8, 5:7].all() and not sep[:, :4].any() and not sep[:, 8:].any()
    assert not sep[0].any()  # two rows above both buildings
    label = flagged_label(instances, gsd_m=0.5)
    assert ((label & BUILDING) > 0).sum() == 60 and ((label & SEPARATION) > 0).sum() == sep.sum()


def test_a_narrow_gap_is_separation_and_a_wide_one_is_not():
    instances = np.zeros((6, 20), np.int32)
    instances[1:5, 0:5] = 1
    instances[1:5, 7:12] = 2  # two-pixel gap (columns 5, 6)
    instances[1:5, 17:20] = 3  # five-pixel gap
    sep = separation(instances, reach=2)
    assert sep[1:5, 5:7].all() and not sep[:, 13:16].any()
    assert reach_px(0.15) == 3 and reach_px(0.5) == 1 and reach_px(None) == 2


def test_a_mask_alone_keeps_touching_buildings_together():
    mask = np.zeros((8, 12), bool)
    mask[2:6, 1:11] = True
    assert instances_of(mask).max() == 1 and not separation(instances_of(mask), 1).any()


def test_footprints_keep_their_ids_where_they_touch(tmp_path):
    x0, y0 = ORIGIN
    scene = write_scene(tmp_path / "s.tif", rectangles_scene(20, 20, [(5, 2, 15, 18)]))
    polygons = [{"geometry": shapely.box(x0 + 2, y0 - 15, x0 + 10, y0 - 5)},
                {"geometry": shapely.box(x0 + 10, y0 - 15, x0 + 18, y0 - 5)}]
    write_vector(polygons, tmp_path / "s.gpkg", "EPSG:32633", {}, False)
    import rasterio

    with rasterio.open(scene) as src:
        grid = ((src.height, src.width), src.transform, src.crs)
    ids = burn_footprints(tmp_path / "s.gpkg", grid, instances=True)
    assert set(np.unique(ids)) == {0, 1, 2} and (ids[5:15, 2:10] == 1).all() and (ids[5:15, 10:18] == 2).all()
    assert burn_footprints(tmp_path / "s.gpkg", grid).sum() == 160
    (sample,) = read_dataset(tmp_path, "train")
    _, label, _ = sample.data()
    assert ((label & SEPARATION) > 0)[5:15, 9:11].all()  # 1 m pixels: reach one pixel either side


def test_inference_suppresses_buildings_where_they_meet():
    probs = np.zeros((1, 2, 1, 3), np.float32)
    probs[0, 0] = 0.9
    probs[0, 1, 0, 1] = 1.0
    assert building_probability(probs, True)[0, 0, 0].tolist() == pytest.approx([0.9, 0.0, 0.9])
    assert building_probability(probs, False)[0, 0, 0].tolist() == pytest.approx([0.9, 0.9, 0.9])


class ContactNet(torch.nn.Module):
    """Building logit from band 1 and, with ``separation``, a separation logit from band 2
    (bright = yes)."""

    def __init__(self, separation: bool) -> None:
        super().__init__()
        self.outputs = 2 if separation else 1

    def forward(self, x):
        return 10.0 * x[:, : self.outputs]


@pytest.mark.parametrize("with_separation,buildings", [(False, 1), (True, 2)])
def test_a_separation_output_splits_a_block_of_touching_buildings(tmp_path, with_separation, buildings):
    data = rectangles_scene(60, 100, [(20, 10, 40, 90)])
    data[1] = 40
    data[1, :, 49:51] = 200  # the line where two houses meet
    scene = write_scene(tmp_path / "s.tif", data)
    card = preset_card("eunet-buildings")
    card.separation = with_separation
    predictor = Predictor(TorchBackend(ContactNet(with_separation), card, torch.device("cpu")), card, "cpu", "contact")
    summary = predict(scene, tmp_path / "b.gpkg", predictor=predictor, options=PredictOptions(gsd="native"))
    assert summary["buildings"] == buildings
    frame = pyogrio.read_dataframe(tmp_path / "b.gpkg")
    assert sorted(frame["area_m2"]) == ([1600.0] if not with_separation else [780.0, 780.0])
