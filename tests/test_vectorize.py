"""Strip-wise polygonising: buildings that cross strip seams come out whole."""

import numpy as np
import shapely
import shapely.affinity
from rasterio.transform import from_origin

from geoseg.vectorize.polygons import (Building, Shaping, binary_classes, dissolved, fill_holes, polygonize_strips,
                                       shape_buildings)


def _strips(mask: np.ndarray, rows: int, prob: int = 255):
    score = np.where(mask, prob, 0).astype(np.uint8)
    for y in range(0, mask.shape[0], rows):
        yield y, mask[y:y + rows].astype(np.uint8), score[y:y + rows]


def _buildings(mask, rows):
    return list(polygonize_strips(_strips(mask, rows)))


def test_building_across_several_strips_is_one_polygon_with_exact_area():
    mask = np.zeros((40, 30), dtype=bool)
    mask[3:37, 5:9] = True  # crosses the seams at 10, 20, 30
    (building,) = _buildings(mask, 10)
    assert building.pixels == 34 * 4
    assert building.geometry.equals(shapely.box(5, 3, 9, 37))


def test_u_shape_joined_only_below_a_seam_is_one_building():
    mask = np.zeros((20, 20), dtype=bool)
    mask[2:15, 2:5] = True
    mask[2:15, 12:15] = True
    mask[12:15, 2:15] = True  # the bottom of the U, in the second strip
    buildings = _buildings(mask, 10)
    assert len(buildings) == 1
    assert buildings[0].geometry.area == mask.sum()


def test_n_shape_that_splits_below_a_seam_is_one_building():
    mask = np.zeros((20, 20), dtype=bool)
    mask[2:5, 2:15] = True
    mask[2:18, 2:5] = True
    mask[2:18, 12:15] = True
    (building,) = _buildings(mask, 4)
    assert building.geometry.area == mask.sum()


def test_separate_buildings_stay_separate_and_diagonal_touch_does_not_join():
    mask = np.zeros((12, 12), dtype=bool)
    mask[1:5, 1:5] = True
    mask[5:9, 5:9] = True  # touches the first only at a corner
    mask[1:3, 9:11] = True
    buildings = _buildings(mask, 5)
    assert sorted(b.pixels for b in buildings) == [4, 16, 16]


def test_score_is_mean_probability_over_pixels():
    prob = np.zeros((10, 10), dtype=np.uint8)
    prob[0:6, 0:2] = 200
    prob[6:10, 0:2] = 250
    classes = binary_classes(prob, np.ones_like(prob, dtype=bool), 128)
    strips = [(0, classes[:5], prob[:5]), (5, classes[5:], prob[5:])]
    (b,) = polygonize_strips(strips)
    assert abs(b.score - (12 * 200 + 8 * 250) / 20 / 255) < 1e-9


def test_invalid_pixels_are_never_buildings():
    prob = np.full((10, 10), 255, dtype=np.uint8)
    valid = np.zeros_like(prob, dtype=bool)
    assert list(polygonize_strips([(0, binary_classes(prob, valid, 128), prob)])) == []


def test_regions_of_different_classes_stay_apart_across_a_seam():
    classes = np.zeros((10, 6), dtype=np.uint8)
    classes[2:8, 1:3] = 3  # one region of class 3 across the seam at row 5
    classes[2:5, 3:5] = 4  # class 4 above the seam ...
    classes[5:8, 3:5] = 3  # ... continued by class 3 below it: joins the class-3 region
    score = np.full(classes.shape, 255, dtype=np.uint8)
    regions = list(polygonize_strips([(0, classes[:5], score[:5]), (5, classes[5:], score[5:])]))
    assert sorted((r.value, r.pixels) for r in regions) == [(3, 18), (4, 6)]


def test_holes_below_the_limit_are_filled():
    outer = shapely.box(0, 0, 10, 10)
    poly = shapely.Polygon(outer.exterior, [shapely.box(2, 2, 3, 3).exterior, shapely.box(5, 5, 8, 8).exterior])
    assert len(fill_holes(poly, 4).interiors) == 1


def test_holes_below_the_limit_are_filled_in_each_piece():
    from rasterio import features

    from geoseg.vectorize import polygons

    rng = np.random.default_rng(3)
    classes = (rng.random((96, 128)) < 0.85).astype(np.uint8)  # speckle: holes of 1 to a few pixels
    classes[40:60, :] = 0  # a band of ground, so there are several buildings
    classes[10:30, 20:40], classes[15:25, 25:35], classes[19:21, 29:31] = 1, 0, 1  # a hole with an island in it
    classes[70:74, 60:64], classes[71:73, 61:63] = 2, 0  # a hole in a building of another class
    classes[0, 5] = 0  # a hole on the edge: left to the polygons
    score = classes * np.uint8(200)
    labels, pieces = polygons.cell_pieces(0, 0, classes, score, min_px=12, hole_px=6)
    traced = {int(v): shapely.geometry.shape(g) for g, v in features.shapes(labels, mask=labels > 0, connectivity=4)}
    assert len(pieces) == len(traced) > 2
    areas = {}
    for i, piece in enumerate(pieces, start=1):
        (part,) = piece.parts
        assert part.equals(fill_holes(traced[i], 6))
        areas.setdefault(piece.value, []).extend(shapely.Polygon(ring).area for ring in part.interiors)
    assert 100.0 in areas[1] and min(areas[1]) >= 6  # the hole around the island stays, the speckle goes
    assert areas[2] == []  # the 4-pixel hole of the class-2 building is filled
    assert sum(len(g.interiors) for g in traced.values()) > 100  # the speckle's holes, before filling


def test_shapes_are_moved_onto_the_map_with_areas_in_square_metres():
    mask = np.zeros((20, 20), dtype=bool)
    mask[4:14, 6:10] = True  # 10 x 4 pixels of 2 m: 160 m2
    transform = from_origin(1000.0, 2000.0, 2.0, 2.0)
    records = list(shape_buildings(_buildings(mask, 5), transform, "EPSG:32633", Shaping()))
    (rec,) = records
    assert rec["geometry"].equals(shapely.box(1012, 1972, 1020, 1992))
    assert rec["area_m2"] == 160.0 and rec["perimeter_m"] == 56.0 and rec["score"] == 1.0


def test_min_area_drops_small_buildings():
    mask = np.zeros((20, 20), dtype=bool)
    mask[1:3, 1:3] = True  # 4 m2
    mask[10:15, 10:15] = True  # 25 m2
    transform = from_origin(0.0, 20.0, 1.0, 1.0)
    records = list(shape_buildings(_buildings(mask, 8), transform, "EPSG:32633", Shaping(min_area_m2=10)))
    assert [r["area_m2"] for r in records] == [25.0]


def _rasterised(poly, shape=(120, 120)):
    from rasterio import features

    return features.rasterize([(poly, 1)], out_shape=shape).astype(bool)


def _shaped(mask, regularize):
    transform = from_origin(0.0, float(mask.shape[0]), 1.0, 1.0)
    return list(shape_buildings(_buildings(mask, 32), transform, "EPSG:32633", Shaping(regularize=regularize)))


def _pixel_poly(geom, height):
    return shapely.affinity.affine_transform(geom, [1, 0, 0, -1, 0, height])


def test_regularised_rotated_building_has_right_angles_and_fits_better():
    truth = shapely.affinity.rotate(shapely.box(30, 40, 90, 75), 28, origin="centroid")
    mask = _rasterised(truth)
    (raw,) = _shaped(mask, False)
    (reg,) = _shaped(mask, True)
    assert reg["regularized"] is True
    ring = np.array(reg["geometry"].exterior.coords)
    assert len(ring) - 1 <= 6 < len(np.array(raw["geometry"].exterior.coords)) - 1
    edges = np.diff(ring, axis=0)
    walls = edges[np.linalg.norm(edges, axis=1) > 2]  # ignore sub-pixel jogs
    angles = np.degrees(np.arctan2(walls[:, 1], walls[:, 0])) % 90
    off = np.minimum(np.abs(angles - angles[0]), 90 - np.abs(angles - angles[0]))
    assert off.max() < 2  # every wall parallel or perpendicular to the first
    iou = lambda g: g.intersection(truth).area / g.union(truth).area  # noqa: E731
    assert iou(_pixel_poly(reg["geometry"], 120)) >= iou(_pixel_poly(raw["geometry"], 120)) - 0.01
    assert iou(_pixel_poly(reg["geometry"], 120)) > 0.95


def test_round_building_stays_round():
    truth = shapely.Point(60, 60).buffer(30, quad_segs=32)
    (reg,) = _shaped(_rasterised(truth), True)
    geom = _pixel_poly(reg["geometry"], 120)
    assert geom.intersection(truth).area / geom.union(truth).area > 0.95


def test_output_polygons_are_valid_and_never_overlap():
    rng = np.random.default_rng(3)
    mask = np.zeros((200, 200), dtype=bool)
    for _ in range(60):  # crowded, touching, odd-shaped blobs
        r, c = rng.integers(0, 190, 2)
        h, w = rng.integers(3, 15, 2)
        mask[r:r + h, c:c + w] = rng.random() < 0.8
    for regularize in (False, True):
        geoms = [r["geometry"] for r in _shaped(mask, regularize)]
        assert all(g.is_valid and g.geom_type == "Polygon" for g in geoms)
        tree = shapely.STRtree(geoms)
        a, b = tree.query(geoms, predicate="intersects")
        overlap = sum(geoms[i].intersection(geoms[j]).area for i, j in zip(a, b) if i < j)
        assert overlap < 1e-6


def test_disjoint_cuts_later_polygons_back_wherever_they_come():
    from itertools import combinations

    import shapely

    from geoseg.vectorize.polygons import Disjoint

    placed = Disjoint(cell=8)
    squares = [shapely.box(x, y, x + 10, y + 10) for x, y in [(0, 0), (100, 100), (8, 0), (95, 96), (4, 6)]]
    out = [placed.place(g) for g in squares]
    assert [round(g.area, 6) for g in out] == [100, 100, 80, 70, 60]
    for a, b in combinations(out, 2):
        assert a.intersection(b).area < 1e-9
    assert out[0].equals(squares[0]) and out[1].equals(squares[1])
    assert out[2].equals(shapely.box(10, 0, 18, 10))  # the first square keeps what they shared


def test_forgetting_outlines_behind_the_frontier_changes_no_polygon(monkeypatch):
    from geoseg.vectorize import polygons as vectorize
    from geoseg.vectorize.polygons import StripPolygonizer

    monkeypatch.setattr(vectorize, "CHUNK", 4)  # forget after every few buildings
    forgotten = []
    forget = vectorize.Disjoint.forget_above
    monkeypatch.setattr(vectorize.Disjoint, "forget_above", lambda self, y: (forgotten.append(y), forget(self, y)))

    from scipy import ndimage

    # a tall scene of ragged blobs a pixel or two apart: straightened outlines overlap and are cut back
    mask = ndimage.gaussian_filter(np.random.default_rng(5).random((1200, 160)), 2) > 0.52
    transform = from_origin(0.0, 1200.0, 1.0, 1.0)
    shaping = Shaping(regularize=True, min_area_m2=4)
    polygonizer = StripPolygonizer()
    streamed = list(shape_buildings(polygonizer(_strips(mask, 64)), transform, "EPSG:32633", shaping, polygonizer.frontier))
    held = list(shape_buildings(_buildings(mask, 64), transform, "EPSG:32633", shaping))
    assert len(streamed) == len(held) > 600
    assert max(forgotten) > 1000  # it did forget, nearly to the foot of the scene
    assert all(a["geometry"].equals_exact(b["geometry"], 0) for a, b in zip(streamed, held))


def test_disjoint_forgets_only_buckets_wholly_above_a_row():
    from geoseg.vectorize.polygons import Disjoint

    placed = Disjoint(cell=8)
    placed.place(shapely.box(0, 0, 4, 4))  # bucket row 0
    placed.place(shapely.box(0, 20, 4, 30))  # bucket rows 2 and 3
    placed.forget_above(23)
    assert sorted(placed.buckets) == [(0, 2), (0, 3)]
    assert placed.place(shapely.box(0, 0, 4, 4)).area == 16  # forgotten: no longer cut back
    assert placed.place(shapely.box(0, 22, 4, 26)).is_empty  # still held: cut back to nothing


def test_pieces_are_dissolved_per_building_in_one_call():
    box = shapely.geometry.box
    one = Building(parts=[box(0, 0, 4, 4)])
    two = Building(parts=[box(10, 0, 14, 3), box(10, 3, 14, 6)])  # one house cut at a strip seam
    three = Building(parts=[box(20, 0, 22, 2), box(22, 0, 24, 2), box(20, 2, 24, 5)])
    apart = Building(parts=[box(30, 0, 31, 1), box(33, 0, 34, 1)])  # pieces that do not touch stay two
    geoms = dissolved([one, two, three, apart, Building(parts=[])])
    assert geoms[0] is one.parts[0]
    assert geoms[1].geom_type == "Polygon" and geoms[1].area == 24 and geoms[1].equals(box(10, 0, 14, 6))
    assert geoms[2].equals(box(20, 0, 24, 5)) and len(geoms[2].interiors) == 0
    assert geoms[3].geom_type == "MultiPolygon" and geoms[3].area == 2
    assert geoms[4].is_empty
    assert all(g.equals(b.geometry) for g, b in zip(geoms[:4], [one, two, three, apart]))


def test_a_building_cut_at_a_seam_gets_the_outline_it_has_traced_whole():
    """Douglas-Peucker keeps a ring's first vertex: a building dissolved from pieces must start
    its rings where the tracer starts them, or its outline depends on where the seams fell."""
    from geoseg.vectorize.trace import traced_polygons

    rng = np.random.default_rng(5)
    mask = np.zeros((60, 70), dtype=np.int32)
    for row in range(8, 52):  # a ragged house: each row's ends wander by a pixel or two
        left, right = 10 + int(rng.integers(0, 3)), 58 - int(rng.integers(0, 3))
        mask[row, left:right] = 1
    mask[30:34, 20:24] = 0  # and a courtyard
    transform = from_origin(500000, 4600000, 0.5, 0.5)

    def shaped(parts):
        building = Building(parts=list(parts), pixels=int(mask.sum()), prob_sum=255.0 * mask.sum())
        (record,) = shape_buildings([building], transform, "EPSG:32633", Shaping())
        return record["geometry"]

    whole = shaped(traced_polygons(mask)[1])
    for seam in (17, 29, 40):  # rows where a strip ends
        top, bottom = traced_polygons(mask[:seam])[1], traced_polygons(mask[seam:], 0, seam)[1]
        assert shapely.equals_exact(shaped([*top, *bottom]), whole, 0)
    left, right = traced_polygons(mask[:, :37])[1], traced_polygons(mask[:, 37:], 37, 0)[1]  # a cell border
    assert shapely.equals_exact(shaped([*left, *right]), whole, 0)
    assert len(whole.interiors) == 1
