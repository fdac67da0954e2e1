"""Outlines of labelled pixels as polygons, traced along the pixels' edges with array operations.

Every edge between two pixels of different labels (or a pixel and the array's border) is a
unit step of the outline of each labelled pixel beside it, directed so that the label lies on
its right; steps in a straight line are taken together as one run. Each run is followed by
the run of the same label that starts where it ends; where two do (two pixels of one label
that touch only at a corner), the right turn is taken, so a ring never passes through a
point twice and the rings of one label meet at most at points. The runs then fall into
closed rings, each read from its first point in the array's order; a ring's points are its
runs' starts, its corners. A label's one clockwise ring (as shapely reckons it, y up; it runs
anticlockwise on screen, where rows go down) is its shell, the others are its holes (those
below a size are left out before any polygon is made). The polygons are those of GDAL's
4-connected polygonize (``rasterio.features.shapes``), with the same first points and
orientation.
"""

from __future__ import annotations

import numpy as np
import shapely

# Unit steps: east, south, west, north in (x, y) with rows growing down; a right turn from
# step d is step (d + 1) % 4.
STEPS = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=np.int64)


def traced_polygons(labels: np.ndarray, x0: float = 0.0, y0: float = 0.0,
                    min_hole: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The outline of each label (> 0) of ``labels`` as a polygon in pixel coordinates offset
    by (``x0``, ``y0``), without its holes of less than ``min_hole`` pixels: the labels, in
    increasing order, and their polygons. Each label must be one 4-connected patch (as
    :func:`scipy.ndimage.label` makes them)."""
    height, width = labels.shape
    if not labels.any():
        return np.zeros(0, dtype=labels.dtype), np.empty(0, dtype=object)
    label, start, step, length = _runs(labels)  # a label has runs in each of the four directions
    corners = width + 1
    points = (height + 1) * corners
    key = label.astype(np.int64) * points + start
    order = np.argsort(key, kind="stable")
    label, start, step, length, key = label[order], start[order], step[order], length[order], key[order]
    end_key = key + (STEPS[step, 0] + STEPS[step, 1] * corners) * length
    following = np.searchsorted(key, end_key)  # the first run of this label from the end point
    second = following + 1
    twice = (second < key.size) & (key[np.minimum(second, key.size - 1)] == end_key)
    turn_right = (step[np.minimum(second, key.size - 1)] == (step + 1) % 4)
    following = np.where(twice & turn_right, second, following)
    # the runs ring by ring, each ring from its first run (its smallest point in the array's
    # order); each run starts at a corner
    sequence, ring = _cycles(following)
    start, label = start[sequence], label[sequence]
    x, y = start % corners, start // corners
    ring_starts = np.flatnonzero(np.r_[True, ring[1:] != ring[:-1]])
    sizes = np.diff(np.r_[ring_starts, ring.size])
    twice_area = _twice_signed_areas(x, y, ring_starts)
    shell = twice_area < 0  # clockwise with y up (anticlockwise on screen, rows down): negative
    kept = shell | (twice_area >= 2 * min_hole)
    on_kept = np.repeat(kept, sizes)
    x, y, sizes, ring_labels, shell = x[on_kept], y[on_kept], sizes[kept], label[ring_starts[kept]], shell[kept]
    xy = np.column_stack([x + x0, y + y0]).astype(np.float64)
    rings = shapely.linearrings(xy, indices=np.repeat(np.arange(sizes.size), sizes))
    by_polygon = np.lexsort((~shell, ring_labels))  # each label's shell first, then its holes
    owners, polygon_of_ring = np.unique(ring_labels[by_polygon], return_inverse=True)
    return owners, shapely.polygons(rings[by_polygon], indices=polygon_of_ring)


def _twice_signed_areas(x: np.ndarray, y: np.ndarray, ring_starts: np.ndarray) -> np.ndarray:
    """Twice the signed (shoelace) area of each ring of points ``x``, ``y`` (integers), the rings
    one after the other from ``ring_starts``."""
    following = np.arange(1, x.size + 1)
    following[np.r_[ring_starts[1:], x.size] - 1] = ring_starts  # a ring's last point goes back to its first
    return np.add.reduceat(x * y[following] - x[following] * y, ring_starts)


def _runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every straight run of every label's outline: its label, its start point (``y * (width
    + 1) + x``), its direction (an index into :data:`STEPS`, the label on its right) and its
    length in unit steps. Runs are maximal: the next run of a ring always turns."""
    width = labels.shape[1]
    padded = np.pad(labels, 1)
    # the edges between rows y - 1 and y in the rows' order, and between columns x - 1 and x in
    # the columns' order (np.nonzero of a 2-D mask is ten times slower than of the flat one)
    ys, xs = np.divmod(np.flatnonzero(padded[:-1, 1:-1] != padded[1:, 1:-1]), width)
    across = padded.T
    cols, rows = np.divmod(np.flatnonzero(across[:-1, 1:-1] != across[1:, 1:-1]), labels.shape[0])
    sides = (  # (the pixel on the runs' right, the edge's line and place along it, direction, start at its far end)
        (padded[ys, xs + 1], ys, xs, 0, False),  # above a horizontal edge: east
        (padded[ys + 1, xs + 1], ys, xs, 2, True),  # below it: west
        (across[cols, rows + 1], cols, rows, 3, True),  # left of a vertical edge: north
        (across[cols + 1, rows + 1], cols, rows, 1, False),  # right of it: south
    )
    owners, starts, steps, lengths = [], [], [], []
    for owner, line, place, direction, backwards in sides:
        keep = owner > 0
        owner, line, place = owner[keep], line[keep], place[keep]
        first = np.flatnonzero(np.r_[True, (line[1:] != line[:-1]) | (place[1:] != place[:-1] + 1)
                                     | (owner[1:] != owner[:-1])])
        last = np.r_[first[1:], owner.size] - 1
        at = place[last] + 1 if backwards else place[first]  # where the run starts along its line
        x, y = (at, line[first]) if direction in (0, 2) else (line[first], at)
        owners.append(owner[first])
        starts.append(y.astype(np.int64) * (width + 1) + x)
        steps.append(np.full(first.size, direction, dtype=np.int64))
        lengths.append(last - first + 1)
    return np.concatenate(owners), np.concatenate(starts), np.concatenate(steps), np.concatenate(lengths)


def _cycles(following: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a permutation ``following`` (each run's next one), the runs cycle by cycle, each
    from its smallest run, the cycles in the order of their smallest runs, and the cycle of
    each (named by its smallest run): by pointer jumping, in as many rounds as the longest
    cycle takes (its length's logarithm)."""
    size = following.size
    ring = np.arange(size)  # becomes each run's cycle, named by its smallest run
    jump = following
    while True:
        np.minimum(ring, ring[jump], out=ring)  # the smallest of the next 2 x (jump's reach) runs
        if np.array_equal(ring[following], ring):  # the same along every cycle: each cycle's smallest
            break
        jump = jump[jump]
    # each run's distance to its cycle's last run (the one before its smallest), by list ranking
    last = ring[following] == following
    left = (~last).astype(np.int64)
    jump = np.where(last, np.arange(size), following)
    while not last[jump].all():
        left = left + left[jump]
        jump = jump[jump]
    lengths = np.bincount(ring, minlength=size)
    place = (np.cumsum(lengths) - lengths)[ring] + lengths[ring] - 1 - left
    sequence = np.empty(size, dtype=np.int64)
    sequence[place] = np.arange(size)
    return sequence, ring[sequence]
