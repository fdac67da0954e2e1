"""E-UNet: ENet's contraction path made shallower, joined to a decoder of bottlenecks by
U-Net skip connections.

Encoder widths 16 -> 32 -> 64 -> 128 at 1/2, 1/4, 1/8 and 1/16 of the input; the decoder
upsamples with transposed convolutions (64 -> 32 -> 16 -> C) and adds each encoder stage
to the decoder stage of the same resolution.
"""

from __future__ import annotations

import torch
from torch import nn

from geoseg.models.base import SegmentationNet
from geoseg.models.blocks import (
    ENET_MIDDLE,
    DownsamplingBottleneck,
    InitialBlock,
    UpsamplingBottleneck,
    stage,
)


class EUNet(SegmentationNet):
    size_divisor = 16

    def __init__(self, in_channels: int = 3, num_classes: int = 1) -> None:
        super().__init__(in_channels, num_classes)
        self.initial = InitialBlock(in_channels, 16)
        self.down1 = DownsamplingBottleneck(16, 32, dropout=0.01)
        self.enc1 = stage(32, [("regular", 1)] * 2, dropout=0.01)
        self.down2 = DownsamplingBottleneck(32, 64, dropout=0.1)
        self.enc2 = stage(64, ENET_MIDDLE[:4], dropout=0.1)
        self.down3 = DownsamplingBottleneck(64, 128, dropout=0.1)
        self.enc3 = stage(128, ENET_MIDDLE, dropout=0.1)
        self.up3 = UpsamplingBottleneck(128, 64, dropout=0.1, unpool=False)
        self.dec3 = stage(64, [("regular", 1)], dropout=0.1)
        self.up2 = UpsamplingBottleneck(64, 32, dropout=0.1, unpool=False)
        self.dec2 = stage(32, [("regular", 1)], dropout=0.1)
        self.up1 = UpsamplingBottleneck(32, 16, dropout=0.1, unpool=False)
        self.dec1 = stage(16, [("regular", 1)], dropout=0.1)
        self.classifier = nn.ConvTranspose2d(16, num_classes, 3, stride=2, padding=1, output_padding=1)

    def forward_aligned(self, x: torch.Tensor) -> torch.Tensor:
        skip1 = self.initial(x)
        skip2 = self.enc1(self.down1(skip1)[0])
        skip3 = self.enc2(self.down2(skip2)[0])
        x = self.enc3(self.down3(skip3)[0])
        x = self.dec3(self.up3(x) + skip3)
        x = self.dec2(self.up2(x) + skip2)
        x = self.dec1(self.up1(x) + skip1)
        return self.classifier(x)
