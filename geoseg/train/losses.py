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
    """What a batch is scored against: ``label`` ``(N, H, W)`` (0/1 buildings or class IDs),
    ``valid`` ``(N, H, W)``, False where a pixel is padding, nodata or void; for distillation,
    ``soft`` ``(N, 1, H, W)``, a teacher's building probabilities, and ``labelled`` ``(N,)``,
    False for windows of unlabelled imagery (their ``label`` is not used)."""

    label: torch.Tensor
    valid: torch.Tensor
    soft: torch.Tensor | None = None
    labelled: torch.Tensor | None = None

    def to(self, device: str | torch.device) -> "Targets":
        moved = [t.to(device, non_blocking=True) if t is not None else None
                 for t in (self.label, self.valid, self.soft, self.labelled)]
        return Targets(*moved)

    def label_weight(self) -> torch.Tensor:
        """1 where the label counts (valid pixels of labelled windows), else 0."""
        weight = self.valid.float()
        return weight if self.labelled is None else weight * self.labelled.float()[:, None, None]


def loss_fn(logits: torch.Tensor, targets: Targets, kind: str = "bce",
            class_weights: torch.Tensor | None = None, distill: float = 0.0) -> torch.Tensor:
    """Over valid pixels only: binary cross-entropy for one-channel logits ('bce', or 'bce+dice'
    adding soft Dice), weighted cross-entropy for multiclass logits. With a teacher's ``soft``
    targets, a binary loss is ``(1 - distill)`` times that on the labels plus ``distill`` times
    the cross-entropy against the teacher's probabilities (every valid pixel, labelled or not)."""
    if logits.shape[1] > 1:
        weight = targets.label_weight()
        per_pixel = F.cross_entropy(logits, targets.label.long(), weight=class_weights, reduction="none")
        return (per_pixel * weight).sum() / weight.sum().clamp(min=1)
    if kind not in LOSSES:
        raise GeosegError(f"unknown loss {kind!r}: use {' or '.join(LOSSES)}")
    loss = _binary(logits, targets.label.float()[:, None], targets.label_weight()[:, None], kind == "bce+dice")
    if targets.soft is None:
        return loss
    teacher = _binary(logits, targets.soft, targets.valid.float()[:, None], dice=False)
    return (1 - distill) * loss + distill * teacher


def _binary(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, dice: bool) -> torch.Tensor:
    loss = F.binary_cross_entropy_with_logits(logits, target, weight=weight, reduction="sum") / weight.sum().clamp(min=1)
    if dice:
        prob = logits.sigmoid() * weight
        inter = (prob * target).sum()
        loss = loss + 1 - (2 * inter + 1) / (prob.sum() + (target * weight).sum() + 1)
    return loss
