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
        lo, hi = np.percentile(values.astype(np.float64), [low, high])
        lows.append(lo)
        highs.append(hi if hi > lo else lo + 1.0)
    return np.array(lows), np.array(highs)
