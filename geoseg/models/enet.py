"""ENet (Paszke, Chaurasia, Kim, Culurciello 2016): a real-time encoder-decoder network.

Stage 1 downsamples to 64 maps, stages 2-3 work at 1/8 with 128 maps and regular, dilated
(2, 4, 8, 16) and asymmetric bottlenecks; the decoder unpools with the encoder's max-pool
indices back to 64 and 16 maps, and a transposed convolution gives C classes at full size.
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


class ENet(SegmentationNet):
    size_divisor = 8

    def __init__(self, in_channels: int = 3, num_classes: int = 1) -> None:
        super().__init__(in_channels, num_classes)
        self.initial = InitialBlock(in_channels, 16)
        self.down1 = DownsamplingBottleneck(16, 64, dropout=0.01)
        self.stage1 = stage(64, [("regular", 1)] * 4, dropout=0.01)
        self.down2 = DownsamplingBottleneck(64, 128, dropout=0.1)
        self.stage2 = stage(128, ENET_MIDDLE, dropout=0.1)
        self.stage3 = stage(128, ENET_MIDDLE, dropout=0.1)
        self.up4 = UpsamplingBottleneck(128, 64, dropout=0.1)
        self.stage4 = stage(64, [("regular", 1)] * 2, dropout=0.1)
        self.up5 = UpsamplingBottleneck(64, 16, dropout=0.1)
        self.stage5 = stage(16, [("regular", 1)], dropout=0.1)
        self.classifier = nn.ConvTranspose2d(16, num_classes, 3, stride=2, padding=1, output_padding=1)

    def forward_aligned(self, x: torch.Tensor) -> torch.Tensor:
        x = self.initial(x)
        x, indices1 = self.down1(x)
        x = self.stage1(x)
        x, indices2 = self.down2(x)
        x = self.stage3(self.stage2(x))
        x = self.stage4(self.up4(x, indices2))
        x = self.stage5(self.up5(x, indices1))
        return self.classifier(x)
