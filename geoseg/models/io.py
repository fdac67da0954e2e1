"""Weights on disk: safetensors with the model card in the header metadata. Never unpickles."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as to_bytes

from geoseg.errors import GeosegError
from geoseg.models.base import SegmentationNet
from geoseg.models.card import ModelCard
from geoseg.write.atomic import atomic_output

CARD_KEY = "geoseg.card"


def save(model: SegmentationNet, card: ModelCard, path: str | Path, overwrite: bool = True,
         dtype: torch.dtype | None = None) -> None:
    """Write ``model``'s weights and ``card`` to a safetensors file, atomically; floating-point
    tensors in ``dtype`` if given (fp16 halves a shipped file; loading brings them back to
    the network's fp32)."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    _write(tensors, card, path, overwrite)


def replace_card(path: str | Path, card: ModelCard) -> None:
    """Rewrite the weights file ``path`` with ``card`` in place of its card, tensors untouched."""
    tensors, _ = load_state(path)
    _write(tensors, card, path, overwrite=True)


def _write(tensors: dict[str, torch.Tensor], card: ModelCard, path: str | Path, overwrite: bool) -> None:
    data = to_bytes(tensors, metadata={CARD_KEY: card.to_json(), "format": "pt"})
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)  # the umask's mode (save_file makes the file private)


def read_card(path: str | Path) -> ModelCard:
    """The card of a geoseg weights file, without loading the weights."""
    with _open(path) as f:
        metadata = f.metadata() or {}
    if CARD_KEY not in metadata:
        raise GeosegError(f"{path} is a safetensors file but not a geoseg model (it has no model card)")
    return ModelCard.from_json(metadata[CARD_KEY])


def load_state(path: str | Path) -> tuple[dict[str, torch.Tensor], ModelCard]:
    """The tensors and card of a geoseg weights file."""
    card = read_card(path)
    with _open(path) as f:
        return {k: f.get_tensor(k) for k in f.keys()}, card


def _open(path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise GeosegError(f"model file {path} does not exist")
    try:
        return safe_open(str(path), framework="pt")
    except (SafetensorError, OSError, ValueError) as exc:
        raise GeosegError(f"{path} is not a geoseg model: not a readable safetensors file ({exc})") from None
