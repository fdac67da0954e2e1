"""ImageNet encoders from segmentation-models-pytorch, started from local weights files.

geoseg never downloads: a network is built with random weights, and training may load an
encoder's ImageNet weights from a safetensors file (``encoder_weights`` in a training
config). A scene with other than three bands gets the first convolution adapted from the
RGB kernels, so ImageNet features still start from something sensible.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from geoseg.errors import GeosegError


@dataclass(frozen=True)
class Encoder:
    """An ImageNet encoder: smp's name for it, and the normalisation its weights expect."""

    smp_name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    weights: str  # what the ImageNet weights are, for the model card


ENCODERS: dict[str, Encoder] = {
    "mobilenetv2": Encoder("mobilenet_v2", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
                           "torchvision MobileNetV2 IMAGENET1K_V1"),
    "efficientnet-lite0": Encoder("timm-tf_efficientnet_lite0", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5),
                                  "Google EfficientNet-Lite0 (timm tf_efficientnet_lite0)"),
    "efficientnet-lite2": Encoder("timm-tf_efficientnet_lite2", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5),
                                  "Google EfficientNet-Lite2 (timm tf_efficientnet_lite2)"),
}
CLASSIFIER = "classifier."  # the ImageNet head of a classification checkpoint, which an encoder lacks


def build_encoder(name: str, in_channels: int) -> nn.Module:
    """The encoder ``name`` (a key of :data:`ENCODERS`) with random weights: geoseg's own
    MobileNetV2 (same layout as torchvision's and smp's), smp's encoder for the others."""
    if name == "mobilenetv2":
        from geoseg.models.mobilenetv2 import MobileNetV2Encoder

        return MobileNetV2Encoder(in_channels)
    import segmentation_models_pytorch as smp  # imports timm: only when asked for

    return smp.encoders.get_encoder(ENCODERS[name].smp_name, in_channels=in_channels, depth=5, weights=None)


def normalisation(name: str, bands: int) -> tuple[list[float], list[float]]:
    """The mean and std the encoder's ImageNet weights expect, for ``bands`` input bands:
    R, G, B's for the first three, their average for a band beyond them or fewer bands
    (see :func:`adapt_first_conv`)."""
    encoder = ENCODERS[name]
    grey_mean, grey_std = sum(encoder.mean) / 3, sum(encoder.std) / 3
    if bands < 3:
        return [grey_mean] * bands, [grey_std] * bands
    return list(encoder.mean) + [grey_mean] * (bands - 3), list(encoder.std) + [grey_std] * (bands - 3)


def first_conv_key(encoder: nn.Module) -> str:
    """The state-dict key of the encoder's first convolution's kernel."""
    name = next(n for n, m in encoder.named_modules() if isinstance(m, nn.Conv2d))
    return f"{name}.weight"


def adapt_first_conv(kernel: torch.Tensor, in_channels: int) -> torch.Tensor:
    """An RGB kernel ``(out, 3, k, k)`` for ``in_channels`` inputs. Fewer bands share the sum of
    the three (one grey band then gets the response the RGB kernel gives to grey); more bands
    keep R, G, B for the first three and start the others at zero. Either way a flat image
    gets the same response as before."""
    rgb = kernel.shape[1]
    if in_channels == rgb:
        return kernel
    if in_channels < rgb:
        return (kernel.sum(dim=1, keepdim=True) / in_channels).repeat(1, in_channels, 1, 1)
    extra = kernel.new_zeros((kernel.shape[0], in_channels - rgb, *kernel.shape[2:]))
    return torch.cat([kernel, extra], dim=1)


def load_encoder_weights(encoder: nn.Module, path: str | Path) -> None:
    """Load ImageNet weights from the safetensors file ``path`` into ``encoder``, strictly (every
    key and shape must match; the classifier of a classification checkpoint is dropped)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise GeosegError(f"encoder weights {path} do not exist")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise GeosegError(f"encoder weights {path} are not a readable safetensors file ({exc})") from None
    state = {k: v for k, v in state.items() if not k.startswith(CLASSIFIER)}
    key = first_conv_key(encoder)
    in_channels = encoder.state_dict()[key].shape[1]
    if key in state:
        state[key] = adapt_first_conv(state[key], in_channels)
    try:
        encoder.load_state_dict(state)
    except RuntimeError as exc:
        detail = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), str(exc))
        raise GeosegError(f"encoder weights {path} do not fit this encoder: {detail[:200]}") from None
