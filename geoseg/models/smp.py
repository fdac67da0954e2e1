"""Architectures from segmentation-models-pytorch, behind geoseg's own interface.

Encoders start from random weights (``encoder_weights=None``): geoseg never downloads.
"""

from __future__ import annotations

import segmentation_models_pytorch as smp
import torch

from geoseg.models.base import SegmentationNet


class UnetMobileNetV2(SegmentationNet):
    """U-Net decoder on a MobileNetV2 encoder."""

    size_divisor = 32

    def __init__(self, in_channels: int = 3, num_classes: int = 1) -> None:
        super().__init__(in_channels, num_classes)
        self.net = smp.Unet("mobilenet_v2", encoder_weights=None, in_channels=in_channels, classes=num_classes)

    def forward_aligned(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
