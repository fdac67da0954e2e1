"""Building masks to polygons, a strip of rows at a time, at a cost linear in the pixels.

Each strip is cut into cells of ``CELL_COLUMNS`` columns; each cell is labelled into
4-connected components and each component polygonised in integer pixel coordinates, so a
*piece* never changes once made and pieces of one region in neighbouring cells share their
edges exactly. Pieces that touch across a cell border (same class, same row or column) belong
to one region (union-find). A region is emitted as soon as no later strip can extend it,
its pieces dissolved into one polygon.

A region wider or taller than ``max_px`` pixels (``--max-size`` metres) is no building: a
field, a shadow, a dense town painted as one. It is emitted as its pieces, cut along the cell
borders, as soon as each is made; so no union ever spans more than ``max_px`` on a side,
and memory holds one strip and the regions still open, whatever the scene's size.

Splitting touching buildings (:mod:`geoseg.vectorize.separate`) and labelling and tracing a strip's
cells depend on that strip and its neighbours alone, so ``workers`` threads (or processes, on
machines with many cores) do them for several strips at once, each handing back the pieces
and the cells' border labels; joining the pieces stays in order, so the polygons are the
same whatever the number of workers.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy import ndimage
from shapely.geometry import Polygon

from geoseg.ground import Ground, pixel_size_m
from geoseg.vectorize.processes import ProcessPool
from geoseg.vectorize.separate import HALO, halos, split_strip
from geoseg.vectorize.trace import traced_polygons

CELL_COLUMNS = 1024  # columns of a labelling cell: the grid along which oversized regions are cut
STRIP_PIXELS = 2**21  # a strip's pixels: what one vectorising worker holds (about 40 MB), whatever the scene's width
MAX_STRIP_ROWS = 256
STRIPS_PER_PROCESS = 8  # a worker process costs about 0.4 s of CPU to start: what 8 strips of 2 MP cost to label
MAX_LABEL_THREADS = 4  # labelling holds Python's lock for about 1/7 of its time: threads up to 4, then processes
# A process labels about 40 MP/s of dense town and holds 60-100 MB: eight keep up with 300 MP/s,
# three times what a GPU run end to end asks, and more would only cost memory and start-up.
MAX_LABEL_PROCESSES = 8
Strip = tuple[int, np.ndarray, np.ndarray]  # (first row, classes (0 = none), score uint8)


@dataclass
class Building:
    """One connected region of one class in pixel coordinates, with the sums for its score."""

    value: int = 1  # the class value in the strips (1 for a binary building mask)
    parts: list[Polygon] = field(default_factory=list)
    prob_sum: float = 0.0
    pixels: int = 0

    @property
    def geometry(self) -> Polygon:
        """The building's pieces as one geometry (:func:`dissolved`)."""
        return dissolved([self])[0]

    @property
    def score(self) -> float:
        """Mean building probability (0-1) over the building's pixels."""
        return self.prob_sum / self.pixels / 255.0


@dataclass
class _Region:
    """A region being assembled: its pieces so far and its extent in pixels."""

    value: int
    pieces: list[Building]
    bounds: list[int]  # x0, y0, x1, y1
    oversized: bool = False

    def absorb(self, other: _Region) -> None:
        self.pieces.extend(other.pieces)
        self.bounds = [min(self.bounds[0], other.bounds[0]), min(self.bounds[1], other.bounds[1]),
                       max(self.bounds[2], other.bounds[2]), max(self.bounds[3], other.bounds[3])]

    def building(self) -> Building:
        """The region as one building (its pieces dissolved)."""
        return Building(self.value, [p for piece in self.pieces for p in piece.parts],
                        sum(p.prob_sum for p in self.pieces), sum(p.pixels for p in self.pieces))


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


def cell_pieces(y0: int, x0: int, classes: np.ndarray, score: np.ndarray, min_px: int = 0,
                hole_px: float = 0) -> tuple[np.ndarray, list[Building]]:
    """Label one cell whose top-left pixel is (``x0``, ``y0``); return the labels (0: none) and
    one piece per label (label ``i`` is ``pieces[i - 1]``).

    A component away from the cell's borders is a whole region already: below ``min_px``
    pixels it is dropped here, before it is ever traced. Holes below ``hole_px`` pixels inside
    a piece are filled here too (a hole inside one piece is a hole of the region as it is)."""
    labels, values = label_classes(classes)
    count = len(values) - 1
    if count == 0:
        return labels, []
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    if min_px > 1:
        keep = sizes >= min_px
        keep[0] = True  # the background keeps label 0
        keep[edge_values(labels)] = True  # may go on in a neighbouring cell
        if not keep.all():
            new = np.where(keep, np.cumsum(keep) - 1, 0).astype(np.int32)  # kept labels renumbered 1, 2, ...
            labels, values, sizes = new[labels], values[keep], sizes[keep]
            count = len(values) - 1
            if count == 0:
                return labels, []
    inside = np.flatnonzero(labels > 0)  # buildings cover a small part of a scene: sum over them only
    sums = np.bincount(labels.ravel()[inside], weights=score.ravel()[inside], minlength=count + 1)
    pieces = [Building(int(values[i]), prob_sum=float(sums[i]), pixels=int(sizes[i])) for i in range(1, count + 1)]
    owners, outlines = traced_polygons(labels, x0, y0, min_hole=hole_px)
    for owner, geom in zip(owners.tolist(), outlines):
        pieces[owner - 1].parts.append(geom)
    return labels, pieces


def edge_values(array: np.ndarray) -> np.ndarray:
    """The values on the four edges of a 2-D array."""
    return np.unique(np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]]))


@dataclass(frozen=True)
class Cell:
    """One labelled and traced cell of a strip: its first column, its pieces (label ``i`` is
    ``pieces[i - 1]``), and all that joining pieces across its borders needs: the labels (0:
    none) and classes of its first and last rows ``(2, 2, width)`` and columns ``(2, 2, height)``,
    labels first."""

    x0: int
    pieces: list[Building]
    rows: np.ndarray
    columns: np.ndarray

    @classmethod
    def of(cls, x0: int, labels: np.ndarray, classes: np.ndarray, pieces: list[Building]) -> Cell:
        rows = np.stack([labels[[0, -1]], classes[[0, -1]].astype(np.int32)])
        columns = np.stack([labels[:, [0, -1]].T, classes[:, [0, -1]].T.astype(np.int32)])
        return cls(x0, pieces, rows, columns)


LabelledStrip = tuple[int, int, list[Cell]]  # (first row, rows, cells)


def label_strip(before: Strip | None, strip: Strip, after: Strip | None, min_px: int = 0, hole_px: float = 0,
                split: tuple[int, int] | None = None) -> LabelledStrip:
    """One strip's share of vectorising, from it and its neighbours alone: touching buildings
    split (``split``: the core level and smallest core of :func:`geoseg.vectorize.separate.split_strip`),
    then each cell labelled and traced (:func:`cell_pieces`)."""
    if split is not None:
        strip = split_strip(before, strip, after, *split)
    y0, classes, score = strip
    cells = []
    for x0 in range(0, classes.shape[1], CELL_COLUMNS):
        cols = slice(x0, x0 + CELL_COLUMNS)
        labels, pieces = cell_pieces(y0, x0, classes[:, cols], score[:, cols], min_px, hole_px)
        cells.append(Cell.of(x0, labels, classes[:, cols], pieces))
    return y0, classes.shape[0], cells


def labelled_strips(strips: Iterable[Strip], min_px: int = 0, hole_px: float = 0, split: tuple[int, int] | None = None,
                    workers: int = 1) -> Iterator[LabelledStrip]:
    """:func:`label_strip` over ``strips`` in order (each strip once the next one has arrived,
    for its context), in ``workers`` threads beside the caller, or in ``workers`` processes
    (:mod:`geoseg.vectorize.processes`) where they are more than :data:`MAX_LABEL_THREADS`; at
    most ``workers + 1`` strips in flight."""
    pool = (ThreadPoolExecutor(max(1, workers), thread_name_prefix="geoseg-label") if workers <= MAX_LABEL_THREADS
            else ProcessPool(workers))
    with pool:
        pending: deque[Future] = deque()
        before = current = None
        for following in itertools.chain(strips, [None]):  # one by one: strips stream in
            if current is not None:
                above, below = halos(before, following) if split is not None else (None, None)
                pending.append(pool.submit(label_strip, above, current, below, min_px, hole_px, split))
            before, current = current, following
            while len(pending) > max(1, workers):
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def strip_rows(width: int) -> int:
    """Rows of a vectorising strip of a raster ``width`` pixels wide: about :data:`STRIP_PIXELS`
    pixels, in whole multiples of :data:`~geoseg.vectorize.separate.HALO` rows (so that a strip's
    neighbours give it a full halo of context), at most ``MAX_STRIP_ROWS``."""
    return int(np.clip(STRIP_PIXELS // max(1, width) // HALO * HALO, HALO, MAX_STRIP_ROWS))


def label_workers(cores: int, height: int, width: int) -> int:
    """Workers worth having to label a ``height`` x ``width`` raster with ``cores`` cores: a
    thread per core and strip up to :data:`MAX_LABEL_THREADS`, a process per core beyond that
    where there are :data:`STRIPS_PER_PROCESS` strips for each, at most
    :data:`MAX_LABEL_PROCESSES` (:func:`labelled_strips`)."""
    strips = -(-height // strip_rows(width))
    processes = min(cores, strips // STRIPS_PER_PROCESS, MAX_LABEL_PROCESSES)
    return processes if processes > MAX_LABEL_THREADS else max(1, min(cores, strips, MAX_LABEL_THREADS))


def binary_classes(prob: np.ndarray, valid: np.ndarray, threshold: int) -> np.ndarray:
    """1 where a valid pixel's probability (uint8) reaches ``threshold``, else 0."""
    return ((prob >= threshold) & valid).astype(np.uint8)


class StripPolygonizer:
    """Regions from ``(y0, classes, score)`` strips given top to bottom: ``classes`` holds a
    non-zero value per class (0 = nothing) and ``score`` uint8 0-255 confidence. Regions
    larger than ``max_px`` on a side come out cut into their cell pieces; ``cut`` counts them.
    Regions that lie inside one cell and have fewer than ``min_px`` pixels are dropped, and
    holes below ``hole_px`` inside one piece filled, as soon as they are found."""

    def __init__(self, max_px: float = float("inf"), min_px: int = 0, hole_px: float = 0) -> None:
        self.max_px = max_px
        self.min_px = min_px
        self.hole_px = hole_px
        self.cut = 0
        self._next_row = 0  # the first row of the strips still to come
        self._parent: list[int] = [0]  # region ids start at 1: 0 marks pixels of no region
        self._regions: dict[int, _Region] = {}  # by root id

    @classmethod
    def shaped(cls, shaping: Shaping, pixel_m: float) -> StripPolygonizer:
        """The polygonizer for ``shaping`` on pixels of ``pixel_m`` metres."""
        area = pixel_m**2
        return cls(shaping.max_size_m / pixel_m, int(np.ceil(shaping.min_area_m2 / area - 1e-9)),
                   shaping.fill_holes_m2 / area)

    def __call__(self, strips: Iterable[Strip], split: tuple[int, int] | None = None,
                 workers: int = 1) -> Iterator[Building]:
        """The regions of ``strips``, touching buildings split first where ``split`` gives the
        levels (:func:`label_strip`), the per-strip work in ``workers`` processes (:func:`labelled_strips`)."""
        open_ids = np.zeros(0, dtype=np.int32)  # region id of each pixel of the previous strip's last row
        last_classes: np.ndarray | None = None
        for y0, rows, cells in labelled_strips(strips, self.min_px, self.hole_px, split, workers):
            firsts, fresh = self._number(cells)
            for (left, a), (right, b) in zip(zip(cells, firsts), zip(cells[1:], firsts[1:])):
                self._union_touching(_ids(left.columns[0, 1], a), _ids(right.columns[0, 0], b),
                                     left.columns[1, 1] == right.columns[1, 0])
            top, top_classes = self._row(cells, firsts, 0)
            if last_classes is not None:
                self._union_touching(open_ids, top, last_classes == top_classes)
            self._next_row = y0 + rows
            yield from self._flush_oversized()
            bottom, bottom_classes = self._row(cells, firsts, 1)
            still_open = {self._find(i) for i in np.unique(bottom).tolist() if i > 0}
            candidates = {self._find(i) for i in np.unique(open_ids).tolist() if i > 0} | {self._find(i) for i in fresh}
            for root in sorted(candidates - still_open):
                yield from self._close(root)
            open_ids, last_classes = bottom, bottom_classes
        for root in sorted({self._find(i) for i in np.unique(open_ids).tolist() if i > 0}):
            yield from self._close(root)

    def frontier(self) -> float:
        """The highest row (pixels) a building not yet emitted can reach: the top of the highest
        region still open, or the first row of the strips to come."""
        return min([region.bounds[1] for region in self._regions.values()] + [self._next_row])

    def _close(self, root: int) -> Iterator[Building]:
        """A region no later strip can extend: one building, or its last pieces if it was cut."""
        region = self._regions.pop(root)
        if region.oversized:
            self.cut += 1
            yield from region.pieces
        else:
            yield region.building()

    def _number(self, cells: list[Cell]) -> tuple[list[int], list[int]]:
        """Give the pieces of ``cells`` region ids: the first id of each cell's pieces, and the
        ids made."""
        firsts: list[int] = []
        fresh: list[int] = []
        for cell in cells:
            first = len(self._parent)
            firsts.append(first)
            if not cell.pieces:
                continue
            bounds = shapely.bounds(np.array([piece.parts[0] for piece in cell.pieces], dtype=object))
            for k, (piece, box) in enumerate(zip(cell.pieces, bounds.astype(int).tolist())):
                self._parent.append(first + k)
                self._regions[first + k] = _Region(piece.value, [piece], box)
                fresh.append(first + k)
        return firsts, fresh

    @staticmethod
    def _row(cells: list[Cell], firsts: list[int], which: int) -> tuple[np.ndarray, np.ndarray]:
        """Region ids and classes of a strip's first (``which`` 0) or last (1) row."""
        return (np.concatenate([_ids(cell.rows[0, which], first) for cell, first in zip(cells, firsts)]),
                np.concatenate([cell.rows[1, which] for cell in cells]))

    def _union_touching(self, a: np.ndarray, b: np.ndarray, same_class: np.ndarray) -> None:
        """Join the regions of neighbouring pixels ``a`` and ``b`` (ids, 0: none) of one class."""
        both = (a > 0) & (b > 0) & same_class
        for i, j in set(zip(a[both].tolist(), b[both].tolist())):
            self._union(i, j)

    def _find(self, i: int) -> int:
        parent = self._parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:  # path compression
            parent[i], i = root, parent[i]
        return root

    def _union(self, a: int, b: int) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return
        big, small = (ra, rb) if len(self._regions[ra].pieces) >= len(self._regions[rb].pieces) else (rb, ra)
        region, other = self._regions[big], self._regions.pop(small)
        self._parent[small] = big
        region.absorb(other)
        x0, y0, x1, y1 = region.bounds
        region.oversized = region.oversized or other.oversized or max(x1 - x0, y1 - y0) > self.max_px

    def _flush_oversized(self) -> Iterator[Building]:
        """The pieces of oversized regions, each as a building of its own (they never change)."""
        for region in self._regions.values():
            if region.oversized and region.pieces:
                yield from region.pieces
                region.pieces = []


def _ids(labels: np.ndarray, first: int) -> np.ndarray:
    """A cell's labels as region ids: label ``i`` is id ``first + i - 1``; 0 stays 0."""
    return np.where(labels > 0, labels + np.int32(first - 1), 0)


def polygonize_strips(strips: Iterable[Strip], max_px: float = float("inf"), min_px: int = 0,
                      hole_px: float = 0) -> Iterator[Building]:
    """:class:`StripPolygonizer` over ``strips`` (when the number cut is not needed)."""
    return StripPolygonizer(max_px, min_px, hole_px)(strips)


@dataclass(frozen=True)
class Shaping:
    """How raw pixel outlines become output polygons. Lengths in metres, areas in square metres;
    ``simplify_m=None`` simplifies by one pixel; ``separate`` splits touching buildings
    (:mod:`geoseg.vectorize.separate`; building models only)."""

    simplify_m: float | None = None
    min_area_m2: float = 10.0
    fill_holes_m2: float = 2.0
    regularize: bool = False
    separate: bool = False
    max_size_m: float = 1000.0  # regions larger than this on a side are cut into their cells (see above)


CHUNK = 512  # buildings regularised in one call
FORGET_MARGIN = 64  # pixels: how far above its building's pixels an outline may reach once shaped


def shape_buildings(buildings: Iterable[Building], transform, crs, shaping: Shaping,
                    frontier: Callable[[], float] | None = None) -> Iterator[dict]:
    """Map-coordinate records ``{geometry, value, area_m2, perimeter_m, score}`` for output
    (and ``regularized`` when ``shaping.regularize``).

    In pixel space, where the pieces' shared edges are exact: holes below ``fill_holes_m2``
    are filled, outlines simplified (and regularised), and a polygon that a neighbour's
    simplification made overlap is cut back, so polygons never overlap. Then they move onto
    the map; buildings below ``min_area_m2`` are dropped. Each step but the cutting back runs
    over :data:`CHUNK` buildings at once (shapely's array functions).
    """
    ground = Ground(crs, at=(transform.c, transform.f))
    pixel_m = pixel_size_m(transform, crs)
    pixel_area = pixel_m**2
    tolerance = (shaping.simplify_m if shaping.simplify_m is not None else pixel_m) / pixel_m
    matrix = np.array([[transform.a, transform.d], [transform.b, transform.e]])
    offset = np.array([transform.c, transform.f])
    large = (building for building in buildings if building.pixels * pixel_area >= shaping.min_area_m2)
    kept = (
        (building, geom)
        for group in _chunks(large, CHUNK)
        for building, whole in zip(group, dissolved(group))
        for geom in polygons(whole)
    )
    placed = Disjoint()
    for chunk in _chunks(kept, CHUNK):
        owners = [building for building, _ in chunk]
        shapes = outlines(np.array([geom for _, geom in chunk], dtype=object), shaping.fill_holes_m2 / pixel_area,
                          tolerance)
        if frontier is not None:
            # the chunk's own buildings, and any of their polygons still to come, reach their pieces' tops
            tops = shapely.bounds(np.array([part for b in owners for part in b.parts], dtype=object))[:, 1]
            placed.forget_above(min(frontier(), float(tops.min())) - FORGET_MARGIN)
        flags: list[bool | None] = [None] * len(chunk)
        if shaping.regularize:
            from geoseg.vectorize.regularize import regularize

            shapes, flags = map(list, zip(*regularize(shapes, pixel_m)))
        on_map = shapely.transform(np.array(placed.place_all(shapes), dtype=object),
                                   lambda xy: xy @ matrix + offset)
        areas = ground.areas(on_map)
        keep = ~shapely.is_empty(on_map) & (areas >= shaping.min_area_m2)
        perimeters = np.zeros(len(on_map))
        perimeters[keep] = ground.lengths(shapely.get_exterior_ring(on_map[keep]))
        for i in np.flatnonzero(keep):
            record = {
                "geometry": on_map[i],
                "value": owners[i].value,
                "area_m2": round(float(areas[i]), 2),
                "perimeter_m": round(float(perimeters[i]), 2),
                "score": round(owners[i].score, 4),
            }
            if flags[i] is not None:
                record["regularized"] = flags[i]
            yield record


def outlines(geoms: np.ndarray, max_hole: float, tolerance: float) -> list[Polygon]:
    """Holes filled and outlines simplified, in pixel units; always one valid polygon each.
    Douglas-Peucker first (fast); where that breaks a polygon, the topology-preserving
    simplifier."""
    # drop collinear vertices: rings start at a corner (as traced, or as_traced where dissolved)
    geoms = shapely.simplify(holes_filled(geoms, max_hole), 0, preserve_topology=False)
    if tolerance > 0:
        simple = shapely.simplify(geoms, tolerance, preserve_topology=False)
        valid = shapely.is_valid(simple) & ~shapely.is_empty(simple)
        broken = np.flatnonzero(~valid)
        simple[broken] = shapely.simplify(geoms[broken], tolerance, preserve_topology=True)
        valid[broken] = shapely.is_valid(simple[broken])
        geoms = simple
    else:
        valid = shapely.is_valid(geoms)
    plain = valid & (shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON)
    return [geom if ok else _largest(geom) for geom, ok in zip(geoms, plain)]


class Disjoint:
    """The polygons placed so far, in a grid of ``cell``-sized buckets; a polygon placed later
    is cut back where it overlaps an earlier one, so none of them overlap, wherever in the
    scene (or in the order) they come."""

    def __init__(self, cell: float = 64.0) -> None:
        self.cell = cell
        self.buckets: dict[tuple[int, int], list[Polygon]] = {}

    def place_all(self, geoms: list[Polygon]) -> list[Polygon]:
        """:meth:`place` each of ``geoms`` in turn."""
        bounds = shapely.bounds(np.array(geoms, dtype=object))
        return [self.place(geom, box) for geom, box in zip(geoms, bounds)]

    def place(self, geom: Polygon, bounds: np.ndarray | None = None) -> Polygon:
        """``geom`` cut back where it overlaps a polygon placed before (``bounds``: its own, if known)."""
        keys = self._keys(geom.bounds if bounds is None else bounds)
        near = list({id(g): g for key in keys for g in self.buckets.get(key, ())}.values())
        if near:  # most neighbours only share edges with it: array calls tell the few whose interiors meet it
            others = np.array(near, dtype=object)
            shapely.prepare(geom)
            overlapping = shapely.intersects(geom, others) & ~shapely.touches(geom, others)
            cut = False
            for other in others[overlapping]:
                if not cut or (geom.intersects(other) and not geom.touches(other)):  # still, once cut back
                    geom, cut = _largest(geom.difference(other)), True
        if not geom.is_empty:
            for key in keys:
                self.buckets.setdefault(key, []).append(geom)
        return geom

    def forget_above(self, y: float) -> None:
        """Drop the buckets that lie wholly above ``y``: no polygon placed from now on reaches them."""
        for key in [k for k in self.buckets if (k[1] + 1) * self.cell <= y]:
            del self.buckets[key]

    def _keys(self, bounds) -> list[tuple[int, int]]:
        if np.isnan(bounds[0]):  # empty
            return []
        x0, y0, x1, y1 = (int(v // self.cell) for v in bounds)
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
    count = shapely.get_num_interior_rings(polygon)
    if count == 0 or max_hole_area <= 0:
        return polygon
    rings = shapely.get_interior_ring(polygon, np.arange(count))
    keep = shapely.area(shapely.polygons(rings)) >= max_hole_area
    return polygon if keep.all() else Polygon(polygon.exterior, rings[keep])


def holes_filled(geoms: np.ndarray, max_hole_area: float) -> np.ndarray:
    """:func:`fill_holes` over an array of polygons, in place (only those with holes are visited)."""
    holed = np.flatnonzero(shapely.get_num_interior_rings(geoms) > 0)
    geoms[holed] = [fill_holes(geom, max_hole_area) for geom in geoms[holed]]
    return geoms


def dissolved(buildings: list[Building]) -> np.ndarray:
    """Each building's pieces as one geometry: a single piece as it is, the pieces of all those
    with several dissolved in one array call (a row of pieces per building) and their rings
    then started and turned as the tracer would have made them whole (:func:`as_traced`)."""
    geoms = np.empty(len(buildings), dtype=object)
    geoms[:] = [building.parts[0] if len(building.parts) == 1 else None for building in buildings]
    several = [i for i, building in enumerate(buildings) if len(building.parts) != 1]
    if several:
        pieces = np.full((len(several), max(1, *(len(buildings[i].parts) for i in several))), None, dtype=object)
        for row, i in enumerate(several):
            pieces[row, :len(buildings[i].parts)] = buildings[i].parts
        geoms[several] = as_traced(shapely.union_all(pieces, axis=1))  # None: no piece, left out
    return geoms


def as_traced(geoms: np.ndarray) -> np.ndarray:
    """Each ring started at its first corner in the raster's order (the top row's leftmost) and
    turned as :mod:`geoseg.vectorize.trace` turns it (shells clockwise and holes anticlockwise
    as shapely reckons them), as a building traced whole already is. A building dissolved from
    pieces cut at seams gets the rings it would have had traced whole, so the Douglas-Peucker
    simplification, which keeps a ring's first vertex, gives it the same outline wherever the
    seams fell. (GEOS's normal form starts a ring at its least x, then y: applied with x and y
    swapped, it starts at the least y, then x, and turns the other way.)"""
    def swapped(xy: np.ndarray) -> np.ndarray:
        return xy[:, ::-1]

    return shapely.reverse(shapely.transform(shapely.normalize(shapely.transform(geoms, swapped)), swapped))


def polygons(geom) -> list[Polygon]:
    """The polygons in ``geom`` (itself, or the polygon parts of a collection)."""
    if isinstance(geom, Polygon):
        return [geom]
    return [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]
