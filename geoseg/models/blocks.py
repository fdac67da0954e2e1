"""The building blocks of ENet (Paszke et al. 2016) shared by ENet and E-UNet.

Every bottleneck is a residual unit: a 1x1 projection to a quarter of the
channels, a 3x3 (plain, dilated or asymmetric 5x1 + 1x5) convolution, a 1x1
expansion, batch norm and PReLU between them, spatial dropout on the branch,
then an add and a PReLU.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

INTERNAL_RATIO = 4


def _conv_bn_prelu(conv: nn.Module, channels: int) -> list[nn.Module]:
    return [conv, nn.BatchNorm2d(channels), nn.PReLU(channels)]


class InitialBlock(nn.Module):
    """3x3 stride-2 convolution beside a 2x2 max-pool of the input, concatenated to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int = 16) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels - in_channels, 3, stride=2, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(torch.cat([self.conv(x), self.pool(x)], dim=1)))


class Bottleneck(nn.Module):
    """Regular, dilated or asymmetric bottleneck that keeps size and channels."""

    def __init__(self, channels: int, kind: str = "regular", dilation: int = 1, dropout: float = 0.1) -> None:
        super().__init__()
        internal = channels // INTERNAL_RATIO
        if kind == "asymmetric":
            middle: nn.Module = nn.Sequential(
                nn.Conv2d(internal, internal, (5, 1), padding=(2, 0), bias=False),
                nn.Conv2d(internal, internal, (1, 5), padding=(0, 2), bias=False),
            )
        elif kind in ("regular", "dilated"):
            middle = nn.Conv2d(internal, internal, 3, padding=dilation, dilation=dilation, bias=False)
        else:
            raise ValueError(f"unknown bottleneck kind {kind!r}")
        self.branch = nn.Sequential(
            *_conv_bn_prelu(nn.Conv2d(channels, internal, 1, bias=False), internal),
            *_conv_bn_prelu(middle, internal),
            nn.Conv2d(internal, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.Dropout2d(dropout),
        )
        self.act = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.branch(x))


class DownsamplingBottleneck(nn.Module):
    """Halves the size: max-pool (indices kept) and zero channel padding on the main branch,
    a 2x2 stride-2 projection on the extension."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.1) -> None:
        super().__init__()
        internal = in_channels // INTERNAL_RATIO
        self.extra_channels = out_channels - in_channels
        self.branch = nn.Sequential(
            *_conv_bn_prelu(nn.Conv2d(in_channels, internal, 2, stride=2, bias=False), internal),
            *_conv_bn_prelu(nn.Conv2d(internal, internal, 3, padding=1, bias=False), internal),
            nn.Conv2d(internal, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.Dropout2d(dropout),
        )
        self.act = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        main, indices = F.max_pool2d(x, 2, return_indices=True)
        main = F.pad(main, (0, 0, 0, 0, 0, self.extra_channels))
        return self.act(main + self.branch(x)), indices


def max_unpool2x(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Inverse of a 2x2 stride-2 max-pool, written as a scatter so that it exports to ONNX."""
    n, c, h, w = x.shape
    flat = x.new_zeros((n, c, 4 * h * w)).scatter(2, indices.flatten(2), x.flatten(2))
    return flat.view(n, c, 2 * h, 2 * w)


class UpsamplingBottleneck(nn.Module):
    """Doubles the size. The main branch is a 1x1 convolution followed by max-unpooling with
    the stored indices (ENet) or by a 2x2 transposed convolution (E-UNet, ``unpool=False``);
    the extension upsamples with a 3x3 transposed convolution."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.1, unpool: bool = True) -> None:
        super().__init__()
        internal = in_channels // INTERNAL_RATIO
        self.unpool = unpool
        if unpool:
            self.main = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        else:
            self.main = nn.Sequential(
                nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2, bias=False), nn.BatchNorm2d(out_channels)
            )
        up = nn.ConvTranspose2d(internal, internal, 3, stride=2, padding=1, output_padding=1, bias=False)
        self.branch = nn.Sequential(
            *_conv_bn_prelu(nn.Conv2d(in_channels, internal, 1, bias=False), internal),
            *_conv_bn_prelu(up, internal),
            nn.Conv2d(internal, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.Dropout2d(dropout),
        )
        self.act = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor, indices: torch.Tensor | None = None) -> torch.Tensor:
        main = self.main(x)
        if self.unpool:
            main = max_unpool2x(main, indices)
        return self.act(main + self.branch(x))


def stage(channels: int, layout: list[tuple[str, int]], dropout: float) -> nn.Sequential:
    """A run of bottlenecks from ``(kind, dilation)`` pairs."""
    return nn.Sequential(*(Bottleneck(channels, kind, dilation, dropout) for kind, dilation in layout))


# ENet's stages 2 and 3 (after the downsampling block of stage 2).
ENET_MIDDLE = [
    ("regular", 1), ("dilated", 2), ("asymmetric", 1), ("dilated", 4),
    ("regular", 1), ("dilated", 8), ("asymmetric", 1), ("dilated", 16),
]
