"""Touching buildings, split where the probability map has a valley between them.

A building mask often joins two houses that share a wall or stand a pixel apart. Where the
network is sure of each house (a *core*: a connected patch of probability at or above a
level) but less sure between them, the valley splits the cores. Each pixel of the joined
region then goes to its nearest core (a watershed of the distance to the cores), and a
one-pixel line where neighbours go to different cores is removed from the mask, so the
houses come out as separate polygons. Regions with one core, or none, are left as they are.

It works on the vectoriser's strips (:func:`split_strip`): each strip is judged with
``halo`` rows of the strips above and below it, so a line that crosses a strip seam is found
on both sides of it, and each strip can be judged apart from the others (in parallel).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

Strip = tuple[int, np.ndarray, np.ndarray]  # (first row, classes (0 = none), score uint8)
HALO = 64  # rows of context from each neighbouring strip
CORE_PROBABILITY = 0.8  # a building's core: where the network is at least this sure
MIN_CORE_M2 = 4.0  # smaller cores are noise, not a building of their own


def split_levels(pixel_m: float) -> tuple[int, int]:
    """geoseg's core level (a byte) and smallest core (pixels) for pixels of ``pixel_m`` metres."""
    return int(round(CORE_PROBABILITY * 255)), max(1, int(np.ceil(MIN_CORE_M2 / pixel_m**2)))


def valley_lines(score: np.ndarray, mask: np.ndarray, level: int, min_core: int) -> np.ndarray:
    """Pixels of ``mask`` on a line between two cores of ``score`` (uint8).

    Cores are the 4-connected parts of ``score >= level`` inside the mask with at least
    ``min_core`` pixels. Of two 4-neighbours that go to different (nearest) cores, the left or
    upper one is on the line; without the line, no two cores stay 4-connected."""
    sure = mask & (score >= level)
    at, core_at, kept = _core_pixels(sure, min_core)
    del sure  # each shared region's cores are found again in its box, from the score
    if kept.sum() < 2:
        return np.zeros(mask.shape, dtype=bool)
    regions, region_count = parts(mask)
    region_of_core = np.zeros(kept.size, dtype=regions.dtype)
    region_of_core[core_at] = regions.ravel()[at]  # a core lies in one region
    del at, core_at  # the arrays of a wide strip are let go as soon as they are done with
    shared = np.flatnonzero(np.bincount(region_of_core[kept]) >= 2)  # regions holding two cores or more
    if shared.size == 0:
        return np.zeros(mask.shape, dtype=bool)
    # the shared regions numbered 1, 2, ...: their boxes alone (find_objects costs per label)
    numbered = np.zeros(region_count + 1, dtype=np.uint16 if shared.size < 2**16 else np.int32)
    numbered[shared] = np.arange(1, shared.size + 1)
    lines = np.zeros(mask.shape, dtype=bool)
    for region, box in zip(shared, ndimage.find_objects(numbered[regions])):
        inside = regions[box] == region
        own, _ = ndimage.label((score[box] >= level) & inside)  # the region's cores (each lies in it whole)
        small = np.bincount(own.ravel()) < min_core
        small[0] = False
        own[small[own]] = 0  # the small cores are no cores
        nearest = ndimage.distance_transform_edt(own == 0, return_distances=False, return_indices=True)
        basin = np.where(inside, own[tuple(nearest)], 0)
        right = (basin[:, :-1] > 0) & (basin[:, 1:] > 0) & (basin[:, :-1] != basin[:, 1:])
        down = (basin[:-1] > 0) & (basin[1:] > 0) & (basin[:-1] != basin[1:])
        cut = np.zeros(inside.shape, dtype=bool)
        cut[:, :-1] |= right
        cut[:-1] |= down
        lines[box] |= cut
    return lines


def parts(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The 4-connected parts of ``mask`` numbered 1, 2, ... and their count, as
    :func:`scipy.ndimage.label` gives them but in two bytes a pixel where they fit (a strip of
    a wide scene has a few hundred parts; speckle can have more than 65 535): half the memory,
    and faster to label."""
    try:
        return ndimage.label(mask, output=np.uint16)
    except RuntimeError:  # too many parts for two bytes
        return ndimage.label(mask)


def _core_pixels(sure: np.ndarray, min_core: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pixels of ``sure``'s 4-connected parts (flat indices), each one's part, and which
    parts have ``min_core`` pixels or more (indexed by part; part 0 is none). The parts' label
    array is not kept: on a wide scene it is as large as the strip's regions, which come next."""
    cores, count = parts(sure)
    at = np.flatnonzero(sure)  # the core pixels: a small part of the strip, so index them alone
    core_at = cores.ravel()[at]
    del cores  # before counting, whose wide copy of core_at takes its place
    kept = np.bincount(core_at, minlength=count + 1) >= min_core
    kept[0] = False
    return at, core_at, kept


def halos(before: Strip | None, after: Strip | None, halo: int = HALO) -> tuple[Strip | None, Strip | None]:
    """The rows of the strips ``before`` and ``after`` a strip that :func:`split_strip` reads as
    its context: the last and the first ``halo`` (what goes to a worker process)."""
    if before is not None:
        start = max(0, before[1].shape[0] - halo)
        before = (before[0] + start, before[1][start:], before[2][start:])
    if after is not None:
        after = (after[0], after[1][:halo], after[2][:halo])
    return before, after


def split_strip(before: Strip | None, strip: Strip, after: Strip | None, level: int, min_core: int,
                halo: int = HALO) -> Strip:
    """``strip`` with the valley lines between touching buildings removed from its classes,
    judged with ``halo`` rows of the strips ``before`` and ``after`` it (None at the scene's
    edges) as context."""
    y0, classes, score = strip
    top = before[1].shape[0] - min(halo, before[1].shape[0]) if before is not None else 0
    above = (before[1][top:], before[2][top:]) if before is not None else (classes[:0], score[:0])
    below = (after[1][:halo], after[2][:halo]) if after is not None else (classes[:0], score[:0])
    context = np.concatenate([above[0], classes, below[0]]) > 0
    lines = valley_lines(np.concatenate([above[1], score, below[1]]), context, level, min_core)
    own = lines[len(above[0]):len(above[0]) + classes.shape[0]]
    if not own.any():
        return strip
    return y0, np.where(own, 0, classes).astype(classes.dtype), score
