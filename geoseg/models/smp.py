"""segmentation-models-pytorch's U-Net on an ImageNet encoder, behind geoseg's own interface.

The network is built with random weights; training may start its encoder from a local
ImageNet weights file (:func:`geoseg.models.encoders.load_encoder_weights`).
"""

from __future__ import annotations

import torch

from geoseg.models.base import SegmentationNet
from geoseg.models.encoders import ENCODERS


class SmpUnet(SegmentationNet):
    """smp's U-Net decoder (256-128-64-32-16 channels) on an encoder of :data:`ENCODERS`."""

    size_divisor = 32

    def __init__(self, encoder: str, in_channels: int = 3, num_classes: int = 1) -> None:
        import segmentation_models_pytorch as smp  # imports timm: only when asked for

        super().__init__(in_channels, num_classes)
        self.net = smp.Unet(ENCODERS[encoder].smp_name, encoder_weights=None, in_channels=in_channels,
                            classes=num_classes)

    @property
    def encoder(self) -> torch.nn.Module:
        return self.net.encoder

    def forward_aligned(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
