"""A training run's last epoch as a weights file: its checkpoint's weights with the card of the
best epoch's file (a run keeps only its best epoch as a model; the levers of docs/models.md
are compared at both).

    python benchmarks/last_epoch.py RUN.ckpt BEST.safetensors OUT.safetensors
"""

from __future__ import annotations

import sys

import torch

from geoseg.models import io, registry


def main() -> None:
    checkpoint, best, out = sys.argv[1:4]
    net, card = registry.load(best)
    net.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True)["model"])
    card.metrics = {"epoch": "last"}
    io.save(net, card, out)


if __name__ == "__main__":
    main()
