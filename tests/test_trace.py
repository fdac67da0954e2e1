"""The array tracer gives GDAL's 4-connected polygons, point for point."""

import numpy as np
import pytest
import shapely
from rasterio import features
from scipy import ndimage

from geoseg.vectorize.polygons import fill_holes
from geoseg.vectorize.trace import traced_polygons


def _gdal(labels: np.ndarray, x0: float, y0: float) -> dict[int, list]:
    transform = (1.0, 0.0, float(x0), 0.0, 1.0, float(y0))
    return {int(v): g["coordinates"] for g, v in features.shapes(labels, mask=labels > 0, connectivity=4,
                                                                transform=transform)}


@pytest.mark.parametrize("seed", range(6))
def test_random_patches_are_traced_as_gdal_traces_them(seed):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        shape = rng.integers(1, 48, 2)
        mask = rng.random(shape) < rng.uniform(0.2, 0.9)  # corners touching, holes, islands in holes
        if seed % 2:
            mask = ndimage.binary_closing(mask)
        labels = ndimage.label(mask)[0].astype(np.int32)
        x0, y0 = rng.integers(-50, 50, 2)
        owners, polygons = traced_polygons(labels, x0, y0)
        expected = _gdal(labels, x0, y0)
        assert owners.tolist() == sorted(expected)
        assert shapely.is_valid(polygons).all()
        for owner, polygon in zip(owners.tolist(), polygons):
            rings = [polygon.exterior, *polygon.interiors]
            assert [list(ring.coords) for ring in rings][:1] == [list(map(tuple, expected[owner][0]))]
            assert sorted(list(ring.coords) for ring in rings[1:]) == sorted(list(map(tuple, r)) for r in expected[owner][1:])


def test_small_holes_are_left_out_as_fill_holes_leaves_them():
    rng = np.random.default_rng(9)
    labels = ndimage.label(rng.random((60, 80)) < 0.8)[0].astype(np.int32)  # speckle: holes of 1 to a few pixels
    owners, polygons = traced_polygons(labels, min_hole=3)
    _, whole = traced_polygons(labels)
    assert sum(len(p.interiors) for p in polygons) < sum(len(p.interiors) for p in whole)
    for polygon, full in zip(polygons, whole):
        assert polygon.equals(fill_holes(full, 3))
        assert all(shapely.Polygon(ring).area >= 3 for ring in polygon.interiors)


def test_a_hole_that_touches_its_shell_at_a_corner_is_a_hole():
    labels = np.ones((3, 3), dtype=np.int32)
    labels[0, 0] = labels[1, 1] = 0  # the hole meets the notch at the point (1, 1)
    (owner,), (polygon,) = traced_polygons(labels)
    assert owner == 1 and polygon.is_valid and polygon.area == 7
    assert len(polygon.interiors) == 1 and shapely.Polygon(polygon.interiors[0]).equals(shapely.box(1, 1, 2, 2))


def test_no_labels_give_no_polygons():
    owners, polygons = traced_polygons(np.zeros((4, 5), dtype=np.int32))
    assert owners.size == 0 and polygons.size == 0
