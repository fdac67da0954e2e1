"""Percentiles from a histogram: numpy's to the last bit, for the imagery's integer types."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from geoseg.read.percentiles import band_percentiles, percentiles

QS = st.lists(st.floats(0, 100), min_size=1, max_size=4).map(tuple)


@settings(max_examples=300, deadline=None)
@given(arrays(st.sampled_from([np.uint8, np.uint16]), st.integers(1, 500)), QS)
def test_histogram_percentiles_are_numpys(values, q):
    assert np.array_equal(percentiles(values, q), np.percentile(values.astype(np.float64), q))


def test_other_types_and_flat_bands_as_before():
    floats = np.array([0.1, 0.7, 0.3, 0.9])
    assert np.array_equal(percentiles(floats, (2, 98)), np.percentile(floats, (2, 98)))
    data = np.stack([np.full((4, 4), 7, np.uint16), np.arange(16, dtype=np.uint16).reshape(4, 4)])
    valid = np.ones((4, 4), bool)
    valid[0, 0] = False  # the 0 is not counted
    low, high = band_percentiles(data, valid, 0, 100)
    assert low.tolist() == [7.0, 1.0] and high.tolist() == [8.0, 15.0]  # flat: high forced above low
