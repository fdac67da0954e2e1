"""Named architectures and model presets, and turning ``--model NAME|PATH`` into a network."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import torch

from geoseg import __version__
from geoseg.errors import GeosegError
from geoseg.models import io
from geoseg.models.base import SegmentationNet
from geoseg.models.card import ModelCard
from geoseg.models.encoders import normalisation
from geoseg.models.enet import ENet
from geoseg.models.eunet import EUNet
from geoseg.models.heads import HEADS
from geoseg.models.light_unet import LightUnet
from geoseg.models.smp import SmpUnet


@dataclass(frozen=True)
class Architecture:
    """How to build a network, and the ImageNet encoder it is made around (if any)."""

    build: Callable[[int, int], SegmentationNet]  # (in_channels, num_classes) -> network
    encoder: str | None = None


def _on(network: type[SegmentationNet], encoder: str) -> Architecture:
    return Architecture(partial(network, encoder), encoder)


ARCHITECTURES: dict[str, Architecture] = {
    "enet": Architecture(ENet),
    "eunet": Architecture(EUNet),
    "unet-mobilenetv2": _on(SmpUnet, "mobilenetv2"),
    "eunet-mobilenetv2": _on(LightUnet, "mobilenetv2"),
    "eunet-efficientnet-lite0": _on(LightUnet, "efficientnet-lite0"),
    "eunet-efficientnet-lite2": _on(LightUnet, "efficientnet-lite2"),
}


@dataclass(frozen=True)
class Preset:
    architecture: str
    head: str
    description: str


PRESETS: dict[str, Preset] = {
    "eunet-buildings": Preset("eunet", "buildings", "E-UNet from scratch (0.25 M parameters): fastest, least accurate"),
    "enet-buildings": Preset("enet", "buildings", "ENet, binary building masks"),
    "unet-mobilenetv2-buildings": Preset("unet-mobilenetv2", "buildings", "smp U-Net on MobileNetV2, buildings"),
    "eunet-mobilenetv2-buildings": Preset("eunet-mobilenetv2", "buildings",
                                          "E-UNet decoder on an ImageNet MobileNetV2, with a separation output: "
                                          "the default, accurate and about 3 MP/s on 2 cores"),
    "eunet-mobilenetv2-buildings-xbd": Preset("eunet-mobilenetv2", "buildings",
                                              "the default's network, also taught by xBD's satellite suburbs: detached "
                                              "houses among trees; NON-COMMERCIAL (CC BY-NC-SA 4.0)"),
    "eunet-efficientnet-lite0-buildings": Preset("eunet-efficientnet-lite0", "buildings",
                                                 "E-UNet decoder on EfficientNet-Lite0, buildings"),
    "eunet-efficientnet-lite2-buildings": Preset("eunet-efficientnet-lite2", "buildings",
                                                 "E-UNet decoder on EfficientNet-Lite2, buildings: the teacher"),
    "enet-camvid": Preset("enet", "camvid", "ENet, CamVid 11 classes + void"),
    "enet-cityscapes": Preset("enet", "cityscapes", "ENet, Cityscapes 19 train IDs"),
}
DEFAULT_MODEL = "eunet-mobilenetv2-buildings"
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def create(architecture: str, num_classes: int = 1, in_channels: int = 3) -> SegmentationNet:
    """A freshly initialised network of a registered architecture."""
    return architecture_of(architecture).build(in_channels, num_classes)


def architecture_of(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise GeosegError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}") from None


def preset_card(name: str) -> ModelCard:
    """The card of an untrained preset: head, bands and defaults, no metrics."""
    preset = PRESETS[name]
    head = HEADS[preset.head]
    card = ModelCard(
        name=name,
        architecture=preset.architecture,
        task=preset.head,
        classes=list(head.classes),
        activation=head.activation,
        palette=[list(c) for c in head.palette],
        ignore_index=head.ignore_index,
        geoseg_version=__version__,
    )
    encoder = ARCHITECTURES[preset.architecture].encoder
    if encoder is not None:
        card.mean, card.std = normalisation(encoder, card.in_channels)
    return card


def shipped_weights(name: str) -> Path | None:
    """The weights file shipped in the package for preset ``name``, if there is one."""
    path = WEIGHTS_DIR / f"{name}.safetensors"
    return path if path.is_file() else None


def build(card: ModelCard, state: dict[str, torch.Tensor] | None = None) -> SegmentationNet:
    """The network a card describes, with ``state`` loaded if given, in eval mode."""
    model = create(card.architecture, card.network_outputs, card.in_channels)
    if state is not None:
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
            raise GeosegError(f"the weights do not fit a {card.architecture} network: {first}") from None
    return model.eval()


def load(spec: str | Path | None = None) -> tuple[SegmentationNet, ModelCard]:
    """Resolve ``--model``: a weights file, a preset name (its shipped weights if any), or the default."""
    spec = str(spec) if spec is not None else DEFAULT_MODEL
    if spec in PRESETS:
        path = shipped_weights(spec)
        if path is None:  # untrained: initialised from a fixed seed, so runs are repeatable
            with torch.random.fork_rng():
                torch.manual_seed(0)
                return build(preset_card(spec)), preset_card(spec)
        spec = str(path)
    elif not Path(spec).exists() and not spec.endswith((".safetensors", ".onnx")):
        raise GeosegError(f"unknown model {spec!r}: give a weights file or one of {', '.join(PRESETS)}")
    state, card = io.load_state(spec)
    return build(card, state), card


def fingerprint(spec: str | Path | None = None) -> str:
    """A digest that changes whenever the model ``--model`` names changes: the weights file's
    bytes, or the card of an untrained preset (built from a fixed seed)."""
    import hashlib

    from geoseg.infer.cache import file_digest

    spec = str(spec) if spec is not None else DEFAULT_MODEL
    if spec in PRESETS:
        path = shipped_weights(spec)
        if path is None:
            return hashlib.sha256(f"untrained:{preset_card(spec).to_json()}".encode()).hexdigest()
        spec = str(path)
    if not Path(spec).is_file():
        raise GeosegError(f"model file {spec} does not exist")
    return file_digest(spec)
