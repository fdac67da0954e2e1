"""The predictor: a model card and a backend that turns batches of normalised tiles into
class probabilities, on the best device there is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from geoseg.errors import GeosegError
from geoseg.models import registry
from geoseg.models.card import ModelCard


def choose_device(requested: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; ``cuda``/``mps``/``cpu`` force one."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if requested == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if requested.startswith("cuda") and not cuda:
        raise GeosegError("--device cuda was asked for, but no CUDA GPU is available; use --device cpu")
    if requested == "mps" and not mps:
        raise GeosegError("--device mps was asked for, but Apple MPS is not available; use --device cpu")
    return torch.device(requested)


class Backend(Protocol):
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """``(N, bands, H, W)`` float32 normalised input -> ``(N, outputs, H, W)`` probabilities."""


class TorchBackend:
    """Runs a PyTorch network in inference mode."""

    def __init__(self, model: torch.nn.Module, card: ModelCard, device: torch.device) -> None:
        self.model = model.to(device).eval()
        self.device = device
        self.softmax = card.activation == "softmax"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = self.model(torch.from_numpy(batch).to(self.device))
            probs = logits.softmax(dim=1) if self.softmax else logits.sigmoid()
            return probs.float().cpu().numpy()


@dataclass
class Predictor:
    backend: Backend
    card: ModelCard
    device: str
    name: str

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.backend(np.ascontiguousarray(batch, dtype=np.float32))


def load_predictor(model: str | Path | None = None, device: str = "auto") -> Predictor:
    """A predictor for ``--model`` (preset name or weights file; default model if None)."""
    if model is not None and str(model).endswith(".onnx"):
        raise GeosegError("ONNX models are not supported yet; give a .safetensors file or a model name")
    net, card = registry.load(model)
    torch_device = choose_device(device)
    return Predictor(TorchBackend(net, card, torch_device), card, str(torch_device), card.name)
