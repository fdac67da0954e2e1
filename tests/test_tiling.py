import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geoseg.read.tiling import axis_starts, strips, tile_grid


def test_edge_tile_is_shifted_inward():
    assert axis_starts(1000, 256, 32) == [0, 224, 448, 672, 744]


def test_scene_smaller_than_a_tile_gets_one_tile_of_its_size():
    grid = tile_grid(100, 37, 256, 32)
    assert grid.ys == [0] and grid.xs == [0]
    assert (grid.tile_height, grid.tile_width) == (100, 37)


def test_bad_overlap_is_refused():
    with pytest.raises(ValueError):
        axis_starts(100, 32, 32)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3000), st.integers(1, 600), st.data())
def test_tiles_cover_every_pixel_and_stay_inside(length, tile, data):
    overlap = data.draw(st.integers(0, tile - 1))
    starts = axis_starts(length, tile, overlap)
    size = min(tile, length)
    covered = np.zeros(length, dtype=int)
    for s in starts:
        assert 0 <= s and s + size <= length
        covered[s:s + size] += 1
    assert covered.min() >= 1
    assert starts == sorted(set(starts))


def test_strips_cover_rows_once():
    assert strips(10, 4) == [(0, 4), (4, 8), (8, 10)]
