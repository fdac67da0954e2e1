"""Networks compiled ahead of time with AOTInductor and kept in geoseg's cache.

A package is specific to the weights, the input shape (batch, bands, height, width), the
precision, the device and the PyTorch version. The first run that needs one compiles it
(about half a minute on 2 CPU cores, with a C++ compiler); every later run loads it in
about a second.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch

from geoseg.atomic import temporary_name
from geoseg.cache import cache_dir, network_digest
from geoseg.models.card import ModelCard

Network = Callable[[torch.Tensor], torch.Tensor]
log = logging.getLogger(__name__)


def package_path(net: torch.nn.Module, card: ModelCard, example: torch.Tensor) -> Path:
    """Where the compiled package for ``net`` on inputs like ``example`` lives in the cache."""
    shape = "x".join(str(n) for n in example.shape)
    dtype = str(example.dtype).removeprefix("torch.")
    version = torch.__version__.replace("+", "-")
    return cache_dir() / f"{card.name}-{network_digest(net, card)}-{shape}-{dtype}-{example.device.type}-torch{version}.pt2"


def compiled_network(net: torch.nn.Module, card: ModelCard, example: torch.Tensor) -> Network:
    """``net`` compiled for inputs of ``example``'s shape, dtype and device: loaded from the
    cache, or compiled and stored there first."""
    path = package_path(net, card, example)
    if not path.is_file():
        log.warning("compiling %s for %s inputs (once; later runs load it from %s)",
                    card.name, "x".join(map(str, example.shape)), path.parent)
        with torch.inference_mode(False), torch.no_grad():
            program = torch.export.export(net, (example,))
        part = temporary_name(path)
        try:
            torch._inductor.aoti_compile_and_package(program, package_path=str(part))
            os.replace(part, path)
        finally:
            part.unlink(missing_ok=True)
    return torch._inductor.aoti_load_package(str(path))

