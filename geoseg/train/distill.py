"""Distillation: a trained teacher's building probabilities as soft targets for a student.

The teacher sees each training window exactly as the student does (same pixels, same pixel
size), normalised its own way, in inference mode and in the training run's precision.
"""

from __future__ import annotations

import numpy as np
import torch

from geoseg.errors import GeosegError
from geoseg.models import registry
from geoseg.models.card import ModelCard
from geoseg.train.data import card_normalisation, model_input
from geoseg.train.step import autocast


class Teacher:
    def __init__(self, spec: str, student: ModelCard, device: str, precision: str) -> None:
        net, card = registry.load(spec)
        if not card.trained:
            raise GeosegError(f"teacher: {spec} has no trained weights")
        if card.num_outputs != 1 or student.num_outputs != 1:
            raise GeosegError("distillation works between binary building models")
        if card.gsd_m != student.gsd_m or card.in_channels != student.in_channels:
            raise GeosegError(f"teacher {spec} sees {card.in_channels} bands at {card.gsd_m} m; "
                              f"the student {student.in_channels} at {student.gsd_m} m")
        self.net = net.to(device, memory_format=torch.channels_last).eval()
        self.card = card
        self.device = torch.device(device)
        self.precision = precision
        self.mean, self.std = card_normalisation(card)

    def __call__(self, images: np.ndarray) -> torch.Tensor:
        """``(n, h, w, 3)`` uint8 windows (array or tensor) -> ``(n, 1, h, w)`` float32 building probabilities."""
        x = model_input(images, self.mean, self.std, self.device).contiguous(memory_format=torch.channels_last)
        with torch.no_grad(), autocast(self.device, self.precision):  # no_grad: the loss may keep the result
            return self.net(x)[:, :1].float().sigmoid()  # the building output, without any separation
