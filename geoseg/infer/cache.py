"""geoseg's on-disk cache ($GEOSEG_CACHE, else ~/.cache/geoseg): models derived from a network
(ONNX exports, compiled packages), named by a digest of what they were made from."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from geoseg.models.card import ModelCard


def cache_dir() -> Path:
    path = Path(os.environ.get("GEOSEG_CACHE", Path.home() / ".cache" / "geoseg"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_digest(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (hex), read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def network_digest(net: torch.nn.Module, card: ModelCard) -> str:
    """16 hex digits that change whenever the card or any weight changes."""
    digest = hashlib.sha256(card.to_json().encode())
    for tensor in net.state_dict().values():
        digest.update(tensor.detach().cpu().float().numpy().tobytes())
    return digest.hexdigest()[:16]

