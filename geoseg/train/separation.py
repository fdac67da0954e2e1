"""The separation target: where two buildings touch or nearly touch.

Labels of binary building datasets are bit flags: :data:`BUILDING` marks building pixels,
:data:`SEPARATION` the pixels within :data:`SEPARATION_M` of two different buildings (on
either side of the line where they meet, and in a narrow gap between them). A model with a
separation output learns it next to the building probability, and inference suppresses
buildings along it, so that touching houses come out as separate polygons (the SpaceNet
winners' "contact" channel).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

BUILDING = 1
SEPARATION = 2
SEPARATION_M = 0.5  # ground distance from two buildings within which a pixel separates them
UNKNOWN_GSD_PX = 2  # the reach in pixels for images of unknown pixel size


def reach_px(gsd_m: float | None) -> int:
    """:data:`SEPARATION_M` in pixels of ``gsd_m`` (at least one pixel)."""
    return max(1, round(SEPARATION_M / gsd_m)) if gsd_m else UNKNOWN_GSD_PX


def separation(instances: np.ndarray, reach: int) -> np.ndarray:
    """Pixels whose square neighbourhood of ``reach`` pixels holds two or more different
    buildings of ``instances`` (int IDs, 0 for background)."""
    size = 2 * reach + 1
    none = np.iinfo(instances.dtype).max
    highest = ndimage.maximum_filter(instances, size=size)
    lowest = ndimage.minimum_filter(np.where(instances > 0, instances, none), size=size)
    return (lowest != none) & (highest > lowest)


def flagged_label(instances: np.ndarray, gsd_m: float | None) -> np.ndarray:
    """The uint8 label of a binary dataset: :data:`BUILDING` and :data:`SEPARATION` flags."""
    label = (instances > 0).astype(np.uint8) * BUILDING
    label[separation(instances, reach_px(gsd_m))] |= SEPARATION
    return label


def instances_of(mask: np.ndarray) -> np.ndarray:
    """Building IDs of a mask without them: its 4-connected components (buildings that touch
    are one; those a gap keeps apart are not)."""
    return ndimage.label(mask)[0].astype(np.int32)
