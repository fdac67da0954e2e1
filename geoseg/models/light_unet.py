"""E-UNet's decoder on an ImageNet encoder: the idea of the seed article (a light decoder of
ENet upsampling bottlenecks, U-Net skips added) with a pretrained contraction path.

The encoder's features at 1/2 ... 1/32 of the input are each projected (1x1 convolution) to
the decoder's width at that resolution and added to the upsampled decoder path, which then
goes through one regular bottleneck. Most of the arithmetic stays in the encoder: smp's
U-Net decoder on the same encoder costs about eight times more.
"""

from __future__ import annotations

import torch
from torch import nn

from geoseg.models.base import SegmentationNet
from geoseg.models.blocks import Bottleneck, UpsamplingBottleneck
from geoseg.models.encoders import build_encoder

# Decoder widths at 1/32, 1/16, 1/8, 1/4 and 1/2 of the input.
WIDTHS = (128, 96, 64, 32, 16)
DROPOUT = 0.05


def _projection(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))


class LightUnet(SegmentationNet):
    size_divisor = 32

    def __init__(self, encoder: str, in_channels: int = 3, num_classes: int = 1) -> None:
        super().__init__(in_channels, num_classes)
        self.encoder = build_encoder(encoder, in_channels)
        features = self.encoder.out_channels  # the input, then 1/2 ... 1/32
        self.top = nn.Sequential(_projection(features[5], WIDTHS[0]), nn.ReLU(inplace=True))
        self.ups = nn.ModuleList(UpsamplingBottleneck(w_in, w_out, dropout=DROPOUT, unpool=False)
                                 for w_in, w_out in zip(WIDTHS, WIDTHS[1:]))
        self.skips = nn.ModuleList(_projection(features[level], width)
                                   for level, width in zip((4, 3, 2, 1), WIDTHS[1:]))
        self.refine = nn.ModuleList(Bottleneck(width, dropout=DROPOUT) for width in WIDTHS[1:])
        self.classifier = nn.ConvTranspose2d(WIDTHS[-1], num_classes, 3, stride=2, padding=1, output_padding=1)

    def forward_aligned(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encoder(x)
        x = self.top(features[5])
        for up, skip, refine, feature in zip(self.ups, self.skips, self.refine, features[4:0:-1]):
            x = refine(up(x) + skip(feature))
        return self.classifier(x)
