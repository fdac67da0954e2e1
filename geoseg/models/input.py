"""What a network reads and what comes back, in one place for inference and training:
stretched uint8 tiles become the card's normalised input where the network runs (so four
times fewer bytes travel to a GPU), and probabilities return as bytes (0-255)."""

from __future__ import annotations

import functools

import numpy as np
import torch


def normalised(x: torch.Tensor, mean, std) -> torch.Tensor:
    """Stretched uint8 ``(n, bands, h, w)`` as float32 ``(x / 255 - mean) / std``, on ``x``'s device."""
    mean, std = (torch.as_tensor(np.asarray(v, dtype=np.float32), device=x.device)[:, None, None] for v in (mean, std))
    return x.float().div_(255.0).sub_(mean).div_(std)


def as_bytes(probabilities: torch.Tensor) -> torch.Tensor:
    """Probabilities 0-1 as uint8 0-255, rounded, on their device."""
    return probabilities.clamp(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)


class ByteTable:
    """:func:`normalised` for every byte, per band: a lookup in NumPy instead of float arithmetic."""

    def __init__(self, mean, std) -> None:
        values = np.arange(256, dtype=np.float32) / 255.0
        mean, std = (np.asarray(v, dtype=np.float32)[:, None] for v in (mean, std))
        self.table = ((values[None] - mean) / std).astype(np.float32)  # (bands, 256)

    def take_along(self, batch: np.ndarray) -> np.ndarray:
        """``(n, bands, h, w)`` uint8 -> float32 normalised."""
        out = np.empty(batch.shape, np.float32)
        for b in range(batch.shape[1]):
            np.take(self.table[b], batch[:, b], out=out[:, b], mode="clip")
        return out


@functools.lru_cache(maxsize=16)
def _table(mean: tuple, std: tuple) -> ByteTable:
    return ByteTable(mean, std)


def byte_table(card) -> ByteTable:
    """The :class:`ByteTable` of a card's normalisation (made once)."""
    return _table(tuple(card.mean), tuple(card.std))
