"""Shared helpers: synthetic georeferenced scenes with known buildings, and a stand-in model
whose answer is known exactly (bright pixels are buildings)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from geoseg.infer.predictor import Predictor, TorchBackend
from geoseg.models.registry import preset_card

REPO = Path(__file__).resolve().parent.parent
DEMO_SCENE = REPO / "data" / "scenes" / "shanghai_sn2_img6917_rgb16.tif"
SHARED = REPO.parent / "shared" / "data"

UTM = "EPSG:32633"
ORIGIN = (500000.0, 4600000.0)


def write_scene(path: Path, data: np.ndarray, crs=UTM, transform=None, **profile) -> Path:
    """Write ``data`` (bands, h, w) as a GeoTIFF; 1 m pixels at ``ORIGIN`` unless told."""
    count, height, width = data.shape
    transform = transform or from_origin(*ORIGIN, 1.0, 1.0)
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count,
                       dtype=data.dtype, crs=crs, transform=transform, **profile) as dst:
        dst.write(data)
    return path


def rectangles_scene(height: int, width: int, boxes: list[tuple[int, int, int, int]], bands: int = 3,
                     dtype=np.uint8, bright: int = 200, dark: int = 40) -> np.ndarray:
    """A dark scene with bright axis-aligned buildings; ``boxes`` are (row0, col0, row1, col1)."""
    data = np.full((bands, height, width), dark, dtype=dtype)
    for r0, c0, r1, c1 in boxes:
        data[:, r0:r1, c0:c1] = bright
    return data


class PointwiseNet(torch.nn.Module):
    """A fully convolutional stand-in (1x1 convolutions only) for exact stitching checks:
    its output at a pixel depends on that pixel alone."""

    size_divisor = 1

    def __init__(self, in_channels: int = 3, hidden: int = 8, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.a = torch.nn.Conv2d(in_channels, hidden, 1)
        self.b = torch.nn.Conv2d(hidden, 1, 1)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.tanh(self.a(x)))


class BrightNet(torch.nn.Module):
    """Building logit = 10 x the first normalised band: bright pixels are buildings."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 10.0 * x[:, :1]


def predictor_for(net: torch.nn.Module) -> Predictor:
    card = preset_card("eunet-buildings")
    return Predictor(TorchBackend(net, card, torch.device("cpu")), card, "cpu", "test-net")


@pytest.fixture
def bright_predictor() -> Predictor:
    return predictor_for(BrightNet())
