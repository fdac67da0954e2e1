"""Blending weights and seam-free streaming stitching."""

import numpy as np
import pytest
import rasterio
import torch
from conftest import PointwiseNet, predictor_for, write_scene
from hypothesis import given, settings
from hypothesis import strategies as st

from geoseg.models.input import normalised
from geoseg.pipeline import infer_scene
from geoseg.read.resample import SceneView
from geoseg.read.scene import scene_scaling, select_bands
from geoseg.read.tiling import axis_starts, tile_grid
from geoseg.stitch.blend import StripeStitcher, axis_weight_sum, axis_weights


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 2000), st.integers(2, 400), st.data())
def test_weights_are_positive_and_every_pixel_gets_full_weight(length, tile, data):
    overlap = data.draw(st.integers(0, tile - 1))
    starts = axis_starts(length, tile, overlap)
    size = min(tile, length)
    for w in axis_weights(starts, size):
        assert w.min() > 0 and w.max() <= 1
    assert axis_weight_sum(starts, size, length).min() >= 1 - 1e-12


@pytest.mark.parametrize("length,tile,overlap", [(928, 256, 32), (512, 128, 64), (4096, 512, 64)])
def test_ramps_over_a_shared_strip_sum_to_one(length, tile, overlap):
    starts = axis_starts(length, tile, overlap)
    np.testing.assert_allclose(axis_weight_sum(starts, tile, length), 1.0, rtol=1e-12)


def test_centre_outweighs_edges():
    inner = axis_weights([0, 96, 192], 128)[1]
    assert inner[64] == 1.0 and inner[0] < 0.01 and inner[-1] < 0.01


def _stitch(height, width, tile, overlap, block, values):
    """Stitch constant-per-tile ``values`` through the streaming stitcher and collect stripes."""
    grid = tile_grid(height, width, tile, overlap)
    out = np.full((1, height, width), np.nan, dtype=np.float32)
    ys = []

    def sink(y, stripe):
        ys.append((y, stripe.shape[1]))
        out[:, y:y + stripe.shape[1]] = stripe

    stitcher = StripeStitcher(grid, 1, sink, block=block)
    for r in range(len(grid.ys)):
        for t in grid.row(r):
            stitcher.add(t, values[t.y:t.y + t.height, t.x:t.x + t.width][None])
        stitcher.end_row(r)
    return out[0], ys, stitcher.buffer.shape[1]


def test_stripes_arrive_in_order_in_whole_blocks_and_buffer_stays_small():
    values = np.random.default_rng(0).integers(0, 256, (1000, 300), dtype=np.uint8)  # as predictors answer
    out, ys, buffer_rows = _stitch(1000, 300, 128, 32, 64, values)
    np.testing.assert_allclose(out, values, atol=1e-3)  # blended bytes, in bytes
    starts = [y for y, _ in ys]
    assert starts == sorted(starts) and starts[0] == 0
    assert all(y % 64 == 0 for y in starts)
    assert sum(n for _, n in ys) == 1000
    assert buffer_rows == 128 + 64


CASES = [
    (300, 300, 128, 32),  # not a multiple of the tile
    (512, 384, 128, 0),  # exact multiple, no overlap
    (257, 1001, 256, 100),
    (90, 70, 256, 32),  # smaller than one tile
    (600, 200, 64, 56),  # overlap of most of the tile
]


@pytest.mark.parametrize("height,width,tile,overlap", CASES)
def test_stitched_scene_equals_one_pass_over_the_whole_image(tmp_path, height, width, tile, overlap):
    rng = np.random.default_rng(height + width)
    data = rng.integers(0, 255, size=(3, height, width), dtype=np.uint8)
    path = write_scene(tmp_path / "scene.tif", data)
    net = PointwiseNet()
    predictor = predictor_for(net)
    stitched = np.zeros((height, width), dtype=np.float32)

    def sink(y, stripe):
        stitched[y:y + stripe.shape[1]] = stripe[0]

    with rasterio.open(path) as src:
        bands = select_bands(src, predictor.card)
        scaling = scene_scaling(src, bands, predictor.card)
        infer_scene(SceneView(path), predictor, bands, scaling, tile_grid(height, width, tile, overlap), 3, sink)
        whole = scaling.apply(src.read(bands))
    with torch.inference_mode():
        x = normalised(torch.from_numpy(whole[None]), predictor.card.mean, predictor.card.std)
        expected = torch.sigmoid(net(x)).numpy()[0, 0]
    np.testing.assert_allclose(stitched, expected * 255, atol=0.5 + 1e-3)  # each tile's answer comes as a byte


@pytest.mark.parametrize("channels", [1, 3])
def test_blending_on_a_device_gives_the_host_stitchers_bytes(channels):
    """The device stitcher, on the CPU here (on a GPU in use): one-channel rows come back as the
    bytes the host stitcher's rows round to, several channels as the same float32 rows."""
    from geoseg.stitch.device import DeviceStitcher

    grid = tile_grid(700, 530, 128, 32)
    rng = np.random.default_rng(4)
    answers = {(t.row, t.col): rng.integers(0, 256, (channels, t.height, t.width), dtype=np.uint8)
               for r in range(len(grid.ys)) for t in grid.row(r)}
    outputs = []
    for stitcher_of, as_answer in ((lambda sink: StripeStitcher(grid, channels, sink, block=64), np.asarray),
                                   (lambda sink: DeviceStitcher(grid, channels, sink, 64, "cpu"), torch.from_numpy)):
        rows = []
        stitcher = stitcher_of(lambda y, block: rows.append((y, block.copy())))
        for r in range(len(grid.ys)):
            for t in grid.row(r):
                stitcher.add(t, as_answer(answers[(t.row, t.col)]))
            stitcher.end_row(r)
        outputs.append(rows)
    host, device = outputs
    assert [y for y, _ in host] == [y for y, _ in device] and sum(b.shape[1] for _, b in host) == 700
    for (_, expected), (_, got) in zip(host, device):
        if channels == 1:
            assert got.dtype == np.uint8 and np.array_equal(got, np.rint(expected).astype(np.uint8))
        else:
            assert got.dtype == np.float32 and np.array_equal(got, expected)
    assert np.unique(np.concatenate([b for _, b in device], axis=1)).size > 200  # real blends, not constants
