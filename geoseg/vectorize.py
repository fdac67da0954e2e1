"""Building masks to polygons, a strip of rows at a time.

Each strip is labelled into 4-connected components and polygonised in pixel coordinates
(integers, so pieces from neighbouring strips share their edges exactly). A component that
touches the strip's last row stays open; the next strip's first row says which of its
components continue it, and the pieces are unioned once the building is closed. Memory holds
one strip and the buildings still open, whatever the scene's height.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import shapely
import shapely.affinity
from rasterio import features
from scipy import ndimage
from shapely.geometry import Polygon, shape

from geoseg.ground import Ground, pixel_size_m


@dataclass
class Building:
    """One connected region of one class in pixel coordinates, with the sums for its score."""

    value: int = 1  # the class value in the strips (1 for a binary building mask)
    parts: list[Polygon] = field(default_factory=list)
    prob_sum: float = 0.0
    pixels: int = 0

    def absorb(self, other: "Building") -> None:
        self.parts.extend(other.parts)
        self.prob_sum += other.prob_sum
        self.pixels += other.pixels

    @property
    def geometry(self) -> Polygon:
        return self.parts[0] if len(self.parts) == 1 else shapely.union_all(self.parts)

    @property
    def score(self) -> float:
        """Mean building probability (0-1) over the building's pixels."""
        return self.prob_sum / self.pixels / 255.0


def label_classes(classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """4-connected components of equal non-zero value; returns labels and each label's value."""
    if classes.max(initial=0) <= 1:  # binary mask: one labelling, no per-class pass
        labels, count = ndimage.label(classes)
        return labels.astype(np.int32, copy=False), np.array([0] + [1] * count)
    present = np.flatnonzero(np.bincount(classes.ravel()))
    labels = np.zeros(classes.shape, dtype=np.int32)
    values = [0]
    for value in present[present > 0]:
        part, count = ndimage.label(classes == value)
        inside = part > 0
        labels[inside] = part[inside] + (len(values) - 1)
        values.extend([int(value)] * count)
    return labels, np.array(values)


def strip_components(y0: int, classes: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, dict[int, Building]]:
    """Label a strip; return the labels and one :class:`Building` per label."""
    labels, values = label_classes(classes)
    count = len(values) - 1
    if count == 0:
        return labels, {}
    inside = np.flatnonzero(labels)  # buildings cover a small part of a scene: sum over them only
    flat = labels.ravel()[inside]
    sums = np.bincount(flat, weights=score.ravel()[inside], minlength=count + 1)
    sizes = np.bincount(flat, minlength=count + 1)
    buildings = {i: Building(int(values[i]), prob_sum=float(sums[i]), pixels=int(sizes[i])) for i in range(1, count + 1)}
    offset = (1.0, 0.0, 0.0, 0.0, 1.0, float(y0))
    for geom, value in features.shapes(labels, mask=labels > 0, connectivity=4, transform=offset):
        buildings[int(value)].parts.append(shape(geom))
    return labels, buildings


def binary_classes(prob: np.ndarray, valid: np.ndarray, threshold: int) -> np.ndarray:
    """1 where a valid pixel's probability (uint8) reaches ``threshold``, else 0."""
    return ((prob >= threshold) & valid).astype(np.uint8)


def polygonize_strips(strips: Iterable[tuple[int, np.ndarray, np.ndarray]]) -> Iterator[Building]:
    """Regions from ``(y0, classes, score)`` strips given top to bottom: ``classes`` holds a
    non-zero value per class (0 = nothing) and ``score`` uint8 0-255 confidence.

    Regions are yielded as soon as no later strip can extend them.
    """
    open_by_label: dict[int, Building] = {}  # previous strip's bottom-row labels -> building
    last_row: np.ndarray | None = None
    last_classes: np.ndarray | None = None
    for y0, classes, score in strips:
        labels, pieces = strip_components(y0, classes, score)
        joined: dict[int, Building] = {}
        if last_row is not None:
            for above, below in _vertical_links(last_row, labels[0], last_classes == classes[0]):
                target = joined.get(below)
                source = open_by_label[above]
                if target is None:
                    joined[below] = source
                elif target is not source:
                    target.absorb(source)
                    for k, b in list(open_by_label.items()):
                        if b is source:
                            open_by_label[k] = target
                    for k, b in list(joined.items()):
                        if b is source:
                            joined[k] = target
        for label, piece in pieces.items():
            if label in joined:
                joined[label].absorb(piece)
                pieces[label] = joined[label]
        still_open = {int(k): pieces[int(k)] for k in np.unique(labels[-1]) if k > 0}
        continuing = {id(b) for b in still_open.values()}
        carried = {id(b) for b in joined.values()}
        yield from _unique(b for b in open_by_label.values() if id(b) not in carried)
        yield from _unique(b for b in pieces.values() if id(b) not in continuing)
        open_by_label, last_row, last_classes = still_open, labels[-1], classes[-1]
    yield from _unique(open_by_label.values())


def _vertical_links(above: np.ndarray, below: np.ndarray, same: np.ndarray) -> set[tuple[int, int]]:
    """Pairs of labels of the same class that touch across a strip seam (same column)."""
    both = (above > 0) & (below > 0) & same
    return set(zip(above[both].tolist(), below[both].tolist()))


def _unique(buildings: Iterable[Building]) -> Iterator[Building]:
    seen: set[int] = set()
    for b in buildings:
        if id(b) not in seen:
            seen.add(id(b))
            yield b


@dataclass(frozen=True)
class Shaping:
    """How raw pixel outlines become output polygons. Lengths in metres, areas in square metres;
    ``simplify_m=None`` simplifies by one pixel; ``separate`` splits touching buildings
    (:mod:`geoseg.separate`; building models only)."""

    simplify_m: float | None = None
    min_area_m2: float = 2.0
    fill_holes_m2: float = 2.0
    regularize: bool = False
    separate: bool = False


CHUNK = 512  # buildings regularised in one call


def shape_buildings(buildings: Iterable[Building], transform, crs, shaping: Shaping) -> Iterator[dict]:
    """Map-coordinate records ``{geometry, value, area_m2, perimeter_m, score}`` for output
    (and ``regularized`` when ``shaping.regularize``).

    In pixel space, where the pieces' shared edges are exact: holes below ``fill_holes_m2``
    are filled, outlines simplified (and regularised), and a polygon that a neighbour's
    simplification made overlap is cut back, so polygons never overlap. Then they move onto
    the map; buildings below ``min_area_m2`` are dropped.
    """
    ground = Ground(crs)
    pixel_m = pixel_size_m(transform, crs)
    pixel_area = pixel_m**2
    tolerance = (shaping.simplify_m if shaping.simplify_m is not None else pixel_m) / pixel_m
    matrix = [transform.a, transform.b, transform.d, transform.e, transform.c, transform.f]
    outlines = (
        (building, _outline(geom, shaping.fill_holes_m2 / pixel_area, tolerance))
        for building in buildings
        if building.pixels * pixel_area >= shaping.min_area_m2
        for geom in polygons(building.geometry)
    )
    placed = Disjoint()
    for chunk in _chunks(outlines, CHUNK):
        shapes = [geom for _, geom in chunk]
        flags: list[bool | None] = [None] * len(chunk)
        if shaping.regularize:
            from geoseg.regularize import regularize

            shapes, flags = map(list, zip(*regularize(shapes, pixel_m)))
        for (building, _), geom, flag in zip(chunk, shapes, flags):
            geom = shapely.affinity.affine_transform(placed.place(geom), matrix)
            area = ground.area(geom)
            if geom.is_empty or area < shaping.min_area_m2:
                continue
            record = {
                "geometry": geom,
                "value": building.value,
                "area_m2": round(area, 2),
                "perimeter_m": round(ground.length(geom.exterior), 2),
                "score": round(building.score, 4),
            }
            if flag is not None:
                record["regularized"] = flag
            yield record


def _outline(geom: Polygon, max_hole: float, tolerance: float) -> Polygon:
    """Holes filled and the outline simplified, in pixel units; always one valid polygon."""
    geom = shapely.simplify(fill_holes(geom, max_hole), 0)  # drop collinear vertices: rings start at a corner
    if tolerance > 0:
        geom = shapely.simplify(geom, tolerance, preserve_topology=True)
    return _largest(geom)


class Disjoint:
    """The polygons placed so far, in a grid of ``cell``-sized buckets; a polygon placed later
    is cut back where it overlaps an earlier one, so none of them overlap, wherever in the
    scene (or in the order) they come."""

    def __init__(self, cell: float = 64.0) -> None:
        self.cell = cell
        self.buckets: dict[tuple[int, int], list[Polygon]] = {}

    def place(self, geom: Polygon) -> Polygon:
        keys = self._keys(geom)
        near = {id(g): g for key in keys for g in self.buckets.get(key, ())}
        for other in near.values():
            if geom.intersects(other) and geom.intersection(other).area > 0:
                geom = _largest(geom.difference(other))
        if not geom.is_empty:
            for key in keys:
                self.buckets.setdefault(key, []).append(geom)
        return geom

    def _keys(self, geom: Polygon) -> list[tuple[int, int]]:
        if geom.is_empty:
            return []
        x0, y0, x1, y1 = (int(np.floor(v / self.cell)) for v in geom.bounds)
        return [(i, j) for i in range(x0, x1 + 1) for j in range(y0, y1 + 1)]


def _largest(geom) -> Polygon:
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = polygons(geom)
    return max(parts, key=lambda g: g.area) if parts else Polygon()


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def fill_holes(polygon: Polygon, max_hole_area: float) -> Polygon:
    """``polygon`` without the holes smaller than ``max_hole_area`` (in its own units)."""
    keep = [ring for ring in polygon.interiors if Polygon(ring).area >= max_hole_area]
    return polygon if len(keep) == len(polygon.interiors) else Polygon(polygon.exterior, keep)


def polygons(geom) -> list[Polygon]:
    """The polygons in ``geom`` (itself, or the polygon parts of a collection)."""
    if isinstance(geom, Polygon):
        return [geom]
    return [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]
