import numpy as np
import pytest
from conftest import BrightNet, predictor_for, write_scene
from pyogrio import read_dataframe as read_vector
from scipy import ndimage

from geoseg.models.registry import preset_card
from geoseg.options import PredictOptions
from geoseg.pipeline import predict
from geoseg.vectorize.separate import halos, parts, split_strip, valley_lines


def two_houses(bridge: int = 150, sure: int = 250) -> np.ndarray:
    """Probability (uint8): two 20 x 20 houses joined by a 4-px wide, 6-px long bridge."""
    score = np.zeros((40, 60), dtype=np.uint8)
    score[10:30, 5:25] = sure
    score[10:30, 31:51] = sure
    score[18:22, 25:31] = bridge
    return score


def components(mask: np.ndarray, min_size: int = 1) -> int:
    labels, count = ndimage.label(mask)
    return int((np.bincount(labels.ravel())[1:] >= min_size).sum())


def test_a_valley_between_two_cores_is_cut_once():
    score = two_houses()
    mask = score >= 128
    lines = valley_lines(score, mask, level=204, min_core=10)
    assert components(mask) == 1 and components(mask & ~lines) == 2
    assert lines.sum() == 4  # one pixel across the 4-px bridge
    assert lines[18:22, 25:31].sum() == 4 and not lines[:, :25].any() and not lines[:, 31:].any()


def test_no_cut_without_a_valley_or_with_one_core():
    sure_bridge = two_houses(bridge=250)
    assert not valley_lines(sure_bridge, sure_bridge >= 128, level=204, min_core=10).any()
    one = two_houses()
    one[10:30, 31:51] = 150  # the second house is not sure anywhere: it has no core
    assert not valley_lines(one, one >= 128, level=204, min_core=10).any()
    specks = two_houses()
    specks[10:30, 31:51] = 150
    specks[20, 40] = 250  # a one-pixel core is noise
    assert not valley_lines(specks, specks >= 128, level=204, min_core=10).any()


def test_a_speck_of_core_between_two_houses_makes_no_third_basin():
    plain = two_houses()
    speck = two_houses()
    speck[19, 28] = 250  # a one-pixel core on the bridge, in the region the two houses share
    lines = valley_lines(speck, speck >= 128, level=204, min_core=10)
    assert np.array_equal(lines, valley_lines(plain, plain >= 128, level=204, min_core=10)) and lines.sum() == 4


def test_parts_take_two_bytes_where_they_fit_and_four_beyond():
    few = two_houses() > 0
    labels, count = parts(few)
    assert labels.dtype == np.uint16 and count == 1 and np.array_equal(labels, ndimage.label(few)[0])
    speckle = np.zeros((600, 600), dtype=bool)
    speckle[::2, ::2] = True  # 90 000 parts: more than two bytes can number
    labels, count = parts(speckle)
    assert labels.dtype == np.int32 and count == 90_000 and labels.max() == 90_000


def test_houses_in_speckle_of_more_than_65535_parts_are_still_cut():
    score = np.zeros((600, 600), dtype=np.uint8)
    score[::2, ::2] = 150  # isolated unsure pixels, each a region of its own
    score[100:140, 100:160] = two_houses()
    mask = score >= 128
    lines = valley_lines(score, mask, level=204, min_core=10)
    assert lines.sum() == 4 and lines[118:122, 125:131].sum() == 4


@pytest.mark.parametrize("rows", [7, 16, 25])
def test_strips_cut_the_same_lines_as_the_whole_mask(rows):
    rng = np.random.default_rng(3)
    score = np.zeros((120, 90), dtype=np.uint8)
    for r in range(0, 120, 24):  # rows of houses touching over bridges, some across strip seams
        for c in range(0, 90, 30):
            score[r + 2:r + 20, c + 2:c + 26] = rng.integers(215, 255)
            score[r + 8:r + 12, c + 26:c + 32] = 150
            score[r + 20:r + 26, c + 10:c + 14] = 150
    classes = (score >= 128).astype(np.uint8)
    whole = split_strip(None, (0, classes, score), None, 204, 10)[1]
    strips = [(y, classes[y:y + rows], score[y:y + rows]) for y in range(0, 120, rows)]
    neighbours = list(zip([None, *strips[:-1]], strips, [*strips[1:], None]))
    stitched = np.concatenate([split_strip(*three, 204, 10)[1] for three in neighbours])
    assert components(whole, min_size=10) == 15 and np.array_equal(stitched, whole)  # crumbs from stepped lines aside
    for before, strip, after in neighbours:  # a worker gets the halos alone, and cuts the same lines
        above, below = halos(before, after, halo=5)
        assert np.array_equal(split_strip(above, strip, below, 204, 10, halo=5)[1],
                              split_strip(before, strip, after, 204, 10, halo=5)[1])
        assert above is None or (above[0] == strip[0] - 5 and above[1].shape[0] == 5)


def test_predict_separate_gives_two_polygons_for_two_touching_houses(tmp_path):
    card = preset_card("eunet-buildings")
    mean, std = card.mean[0], card.std[0]
    bridge = int(round(40 + 160 * (mean + 0.05 * std)))  # probability about 0.6: building, not sure
    data = np.full((3, 64, 96), 40, dtype=np.uint8)
    data[:, 10:50, 8:40] = 200
    data[:, 10:50, 48:80] = 200
    data[:, 26:34, 40:48] = bridge
    scene = write_scene(tmp_path / "houses.tif", data)
    counts = {}
    for separate in (False, True):
        out = tmp_path / f"houses-{separate}.gpkg"
        predict(scene, out, predictor=predictor_for(BrightNet()), options=PredictOptions(separate=separate))
        frame = read_vector(out)
        counts[separate] = len(frame)
        assert frame.geometry.is_valid.all()
    assert counts == {False: 1, True: 2}
    areas = sorted(read_vector(tmp_path / "houses-True.gpkg").area_m2)
    assert areas[0] == pytest.approx(32 * 40 + 4 * 8, rel=0.1) and areas[1] == pytest.approx(32 * 40 + 4 * 8, rel=0.1)
