"""ONNX export (card in ``metadata_props``) and reading the card back."""

from __future__ import annotations

from pathlib import Path

import torch

from geoseg.errors import GeosegError
from geoseg.models.base import SegmentationNet
from geoseg.models.card import ModelCard
from geoseg.models.io import CARD_KEY
from geoseg.write.atomic import atomic_output


class _Aligned(torch.nn.Module):
    """Exports the network's stride-aligned forward; callers pad to ``size_divisor``."""

    def __init__(self, net: SegmentationNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_aligned(x)


def export(model: SegmentationNet, card: ModelCard, path: str | Path, overwrite: bool = False) -> None:
    """Write ``model`` as ONNX with dynamic batch and spatial size (multiples of the network's
    stride) and the card in the model's metadata."""
    import onnx

    divisor = model.size_divisor
    batch = torch.export.Dim("batch", min=1, max=1024)
    rows = torch.export.Dim("rows", min=1, max=4096)
    cols = torch.export.Dim("cols", min=1, max=4096)
    example = torch.zeros(2, card.in_channels, 4 * divisor, 4 * divisor)
    shapes = {"x": {0: batch, 2: divisor * rows, 3: divisor * cols}}
    program = torch.onnx.export(_Aligned(model).eval(), (example,), dynamo=True, dynamic_shapes=shapes,
                                input_names=["input"], output_names=["logits"], verbose=False)
    proto = program.model_proto
    for key, value in ((CARD_KEY, card.to_json()), ("geoseg.size_divisor", str(divisor))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    with atomic_output(path, overwrite=overwrite) as tmp:
        onnx.save(proto, str(tmp))


def read_metadata(session) -> tuple[ModelCard, int]:
    """The card and stride of an ONNX Runtime session's model."""
    meta = session.get_modelmeta().custom_metadata_map
    if CARD_KEY not in meta:
        raise GeosegError("the ONNX file is not a geoseg model (it has no geoseg.card metadata)")
    return ModelCard.from_json(meta[CARD_KEY]), int(meta.get("geoseg.size_divisor", "1"))
