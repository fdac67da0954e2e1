"""How much an image is enlarged or shrunk so that a model sees the pixel size it learned."""

from __future__ import annotations

import math

TOLERANCE = 0.1  # images whose pixels are within 10 % of the model's are used as they are


def zoom(pixel_m: float | None, gsd_m: float | None) -> float | None:
    """How much to enlarge an image of ``pixel_m``-metre pixels for a model of ``gsd_m`` (< 1:
    shrink); None where either is unknown or they are within :data:`TOLERANCE` of each other."""
    if not pixel_m or not gsd_m:
        return None
    factor = pixel_m / gsd_m
    return None if abs(math.log(factor)) <= math.log1p(TOLERANCE) else factor
