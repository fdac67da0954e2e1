"""Training targets and losses: binary cross-entropy (+ soft Dice) for binary building heads,
weighted cross-entropy for multiclass heads, both over valid pixels only."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from geoseg.errors import GeosegError
from geoseg.train.separation import BUILDING, SEPARATION

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


@dataclass(frozen=True)
class LossSettings:
    """What a batch is scored by: ``kind`` 'bce' or 'bce+dice' (binary heads; multiclass heads
    use weighted cross-entropy), the weight of a teacher's soft targets (``distill``), and for
    separating buildings (recipe lever (e)): ``gap_weight`` adds that much weight to the
    building term on the pixels between two buildings (the label's separation flag), and
    ``separation_weight`` scales the separation output's term."""

    kind: str = "bce"
    distill: float = 0.0
    multiclass: bool = False
    gap_weight: float = 0.0
    separation_weight: float = 1.0


def loss_fn(logits: torch.Tensor, targets: Targets, settings: LossSettings = LossSettings(),
            class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Over valid pixels only: weighted cross-entropy for a multiclass model; for a binary one,
    binary cross-entropy ('bce', or 'bce+dice' adding soft Dice) on the building channel and,
    where the network has a second channel, the same on the separation flags of the label.
    With a teacher's ``soft`` targets, the building term is ``(1 - distill)`` times that on
    the labels plus ``distill`` times the cross-entropy against the teacher's probabilities
    (every valid pixel, labelled or not)."""
    weight = targets.label_weight()
    if settings.multiclass:
        per_pixel = F.cross_entropy(logits, targets.label.long(), weight=class_weights, reduction="none")
        return (per_pixel * weight).sum() / weight.sum().clamp(min=1)
    if settings.kind not in LOSSES:
        raise GeosegError(f"unknown loss {settings.kind!r}: use {' or '.join(LOSSES)}")
    dice = settings.kind == "bce+dice"
    weight = weight[:, None]
    gaps = ((targets.label & SEPARATION) > 0).float()[:, None]
    buildings = (targets.label & BUILDING).float()[:, None]
    loss = _binary(logits[:, :1], buildings, weight, dice)
    if settings.gap_weight:  # the gaps' BCE counted (1 + gap_weight) times, Dice as it was
        on_gaps = F.binary_cross_entropy_with_logits(logits[:, :1], buildings, weight=weight * gaps, reduction="sum")
        loss = loss + settings.gap_weight * on_gaps / weight.sum().clamp(min=1)
    if targets.soft is not None:
        teacher = _binary(logits[:, :1], targets.soft, targets.valid.float()[:, None], dice=False)
        loss = (1 - settings.distill) * loss + settings.distill * teacher
    if logits.shape[1] == 2:
        loss = loss + settings.separation_weight * _binary(logits[:, 1:], gaps, weight, dice)
    return loss


def _binary(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, dice: bool) -> torch.Tensor:
    loss = F.binary_cross_entropy_with_logits(logits, target, weight=weight, reduction="sum") / weight.sum().clamp(min=1)
    if dice:
        prob = logits.sigmoid() * weight
        inter = (prob * target).sum()
        loss = loss + 1 - (2 * inter + 1) / (prob.sum() + (target * weight).sum() + 1)
    return loss
