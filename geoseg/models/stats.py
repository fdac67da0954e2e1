"""Size and cost of a network: parameters and floating-point operations."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode


def parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def gflops(model: torch.nn.Module, size: int = 512, in_channels: int = 3) -> float:
    """GFLOPs (multiply and add counted apart) of one forward pass over a ``size``^2 tile."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(torch.zeros(1, in_channels, size, size))
    return counter.get_total_flops() / 1e9
