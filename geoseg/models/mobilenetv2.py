"""MobileNetV2 (Sandler et al. 2018) as a segmentation encoder, in plain PyTorch.

The module layout is torchvision's (``features.0`` ... ``features.18``), so torchvision's
ImageNet weights load into it strictly, and so do weights trained with smp's
``mobilenet_v2`` encoder. It exists so that inference does not import torchvision and
segmentation-models-pytorch, which takes about two seconds per ``predict``.
"""

from __future__ import annotations

import torch
from torch import nn

# expansion t, output channels c, repeats n, first stride s (the paper's Table 2)
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
# the features after which the resolution halves next: outputs at 1/2, 1/4, 1/8, 1/16, 1/32
STAGE_ENDS = (2, 4, 7, 14, 19)


def conv_bn_relu6(in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """1x1 expansion (unless t = 1), 3x3 depthwise, linear 1x1 projection; a residual add when
    the block keeps size and channels."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        layers = [conv_bn_relu6(in_channels, hidden, kernel=1)] if expansion != 1 else []
        layers += [conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2Encoder(nn.Module):
    """Features at the input's full size and at 1/2 ... 1/32 (16, 24, 32, 96, 1280 channels)."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn_relu6(in_channels, 32, stride=2)]
        channels = 32
        for expansion, out, repeats, stride in SETTINGS:
            for i in range(repeats):
                layers.append(InvertedResidual(channels, out, stride if i == 0 else 1, expansion))
                channels = out
        layers.append(conv_bn_relu6(channels, 1280, kernel=1))
        self.features = nn.Sequential(*layers)
        self.out_channels = (in_channels, 16, 24, 32, 96, 1280)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = [x]
        start = 0
        for end in STAGE_ENDS:
            for layer in self.features[start:end]:
                x = layer(x)
            outputs.append(x)
            start = end
        return outputs
