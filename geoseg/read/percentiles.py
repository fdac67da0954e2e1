"""Per-band percentiles, the stretch of raw pixel values to the model's 0-1 range (pure numpy)."""

from __future__ import annotations

import numpy as np


def band_percentiles(
    data: np.ndarray, valid: np.ndarray, low: float, high: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-band ``low`` and ``high`` percentiles of ``data`` (bands, h, w) where ``valid``;
    ``high`` is forced above ``low`` so that flat bands do not divide by zero."""
    lows, highs = [], []
    for band in data:
        values = band[valid] if valid.any() else band.ravel()
        lo, hi = percentiles(values, (low, high))
        lows.append(lo)
        highs.append(hi if hi > lo else lo + 1.0)
    return np.array(lows), np.array(highs)


def percentiles(values: np.ndarray, q: tuple[float, ...]) -> np.ndarray:
    """``np.percentile(values, q)`` (linear interpolation), to the last bit; for 8- and 16-bit
    unsigned imagery counted in a histogram instead of sorted, which is many times faster."""
    if values.dtype not in (np.uint8, np.uint16) or values.size == 0:
        return np.percentile(values.astype(np.float64), q)
    below = np.cumsum(np.bincount(values.ravel()))  # below[v]: how many values are <= v
    rank = np.asarray(q, dtype=np.float64) / 100 * (below[-1] - 1)
    first = np.floor(rank)
    a = np.searchsorted(below, first, side="right").astype(np.float64)  # the value of that rank, sorted
    b = np.searchsorted(below, np.ceil(rank), side="right").astype(np.float64)
    t = rank - first
    return np.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)  # numpy's own interpolation
