"""What every geoseg network shares: input of any size, padded to the network's stride."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class SegmentationNet(nn.Module):
    """A network that maps ``(N, in_channels, H, W)`` to ``(N, num_classes, H, W)`` logits for any H, W.

    Subclasses implement :meth:`forward_aligned` for inputs whose sides are multiples of
    ``size_divisor``; :meth:`forward` pads by edge replication and crops back.
    """

    size_divisor: int = 1

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes

    def forward_aligned(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_h = (-h) % self.size_divisor
        pad_w = (-w) % self.size_divisor
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        return self.forward_aligned(x)[..., :h, :w]
