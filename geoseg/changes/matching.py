"""Pairing found buildings with mapped ones: pure geometry, no I/O.

Two rules, for two kinds of reference layers:

- ``iou`` (one-to-one): a found building and a mapped one match when their intersection over
  union reaches ``min_iou``; pairs are taken best first and each building is used once (the
  SpaceNet rule, as ``geoseg evaluate`` counts objects).
- ``overlap`` (for layers drawn at another level of detail, such as one polygon per block):
  a found building matches every mapped one it overlaps at all; it is new only if it overlaps
  none, and a mapped building is missing only if no found building overlaps it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

RULES = ("iou", "overlap")


@dataclass(frozen=True)
class Matching:
    """Indices into the found and the mapped geometries.

    ``found`` / ``mapped`` / ``iou``: the matched pairs (one row a pair; in ``overlap`` mode a
    found building appears once, with the mapped building it overlaps most). ``new``: found
    buildings without a match. ``missing``: mapped buildings without a match, and
    ``missing_best_iou``: each one's best IoU with any found building (0 where none touches it)."""

    found: np.ndarray
    mapped: np.ndarray
    iou: np.ndarray
    new: np.ndarray
    missing: np.ndarray
    missing_best_iou: np.ndarray


def overlapping_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair ``(i, j)`` of ``a[i]`` and ``b[j]`` whose interiors overlap, with its IoU."""
    tree = shapely.STRtree(b)
    i, j = tree.query(a, predicate="intersects")
    if len(i) == 0:
        return i, j, np.zeros(0)
    inter = shapely.area(shapely.intersection(a[i], b[j]))
    union = shapely.area(a[i]) + shapely.area(b[j]) - inter
    keep = inter > 0
    return i[keep], j[keep], inter[keep] / union[keep]


def match(found: np.ndarray, mapped: np.ndarray, rule: str = "iou", min_iou: float = 0.5) -> Matching:
    """Pair ``found`` with ``mapped`` (arrays of polygons in one CRS) by ``rule`` (see the module)."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; use one of {', '.join(RULES)}")
    i, j, iou = overlapping_pairs(np.asarray(found, dtype=object), np.asarray(mapped, dtype=object))
    best_of_mapped = np.zeros(len(mapped))
    np.maximum.at(best_of_mapped, j, iou)
    if rule == "iou":
        pairs = _one_to_one(i, j, iou, min_iou)
    else:
        pairs = _best_overlap(i, j, iou)
    pi, pj, piou = pairs
    used_mapped = np.zeros(len(mapped), dtype=bool)
    used_mapped[j if rule == "overlap" else pj] = True
    used_found = np.zeros(len(found), dtype=bool)
    used_found[pi] = True
    missing = np.flatnonzero(~used_mapped)
    return Matching(found=pi, mapped=pj, iou=piou, new=np.flatnonzero(~used_found), missing=missing,
                    missing_best_iou=best_of_mapped[missing])


def _one_to_one(i: np.ndarray, j: np.ndarray, iou: np.ndarray, min_iou: float):
    """Pairs at or above ``min_iou``, best first, each index used once."""
    order = np.argsort(-iou, kind="stable")
    taken_i, taken_j, rows = set(), set(), []
    for k in order:
        if iou[k] < min_iou:
            break
        if i[k] in taken_i or j[k] in taken_j:
            continue
        taken_i.add(i[k])
        taken_j.add(j[k])
        rows.append(k)
    rows = np.array(sorted(rows, key=lambda k: i[k]), dtype=np.int64)
    return i[rows], j[rows], iou[rows]


def _best_overlap(i: np.ndarray, j: np.ndarray, iou: np.ndarray):
    """For each found building that overlaps any mapped one, the mapped one it overlaps most."""
    order = np.lexsort((-iou, i))
    first = np.ones(len(order), dtype=bool)
    first[1:] = i[order][1:] != i[order][:-1]
    rows = order[first]
    return i[rows], j[rows], iou[rows]
