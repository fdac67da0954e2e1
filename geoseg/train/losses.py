"""Training targets and losses: binary cross-entropy (+ soft Dice) for binary building heads,
weighted cross-entropy for multiclass heads, both over valid pixels only."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from geoseg.errors import GeosegError

LOSSES = ("bce", "bce+dice")


@dataclass
class Targets:
    """What a batch is scored against: ``label`` ``(N, H, W)`` (0/1 buildings or class IDs) and
    ``valid`` ``(N, H, W)``, False where a pixel is padding, nodata or void."""

    label: torch.Tensor
    valid: torch.Tensor

    def to(self, device: str | torch.device) -> "Targets":
        return Targets(self.label.to(device, non_blocking=True), self.valid.to(device, non_blocking=True))


def loss_fn(logits: torch.Tensor, targets: Targets, kind: str = "bce",
            class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Over valid pixels only: binary cross-entropy for one-channel logits ('bce', or 'bce+dice'
    adding soft Dice), weighted cross-entropy for multiclass logits."""
    weight = targets.valid.float()
    if logits.shape[1] > 1:
        per_pixel = F.cross_entropy(logits, targets.label.long(), weight=class_weights, reduction="none")
        return (per_pixel * weight).sum() / weight.sum().clamp(min=1)
    if kind not in LOSSES:
        raise GeosegError(f"unknown loss {kind!r}: use {' or '.join(LOSSES)}")
    target = targets.label.float()[:, None]
    weight = weight[:, None]
    loss = F.binary_cross_entropy_with_logits(logits, target, weight=weight, reduction="sum") / weight.sum().clamp(min=1)
    if kind == "bce+dice":
        prob = logits.sigmoid() * weight
        inter = (prob * target).sum()
        loss = loss + 1 - (2 * inter + 1) / (prob.sum() + (target * weight).sum() + 1)
    return loss
