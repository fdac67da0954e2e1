"""One optimiser step, as fast as the device allows: channels-last tensors, bf16 (or fp16 on
CUDA) autocast for the forward pass and the loss, and optionally a compiled network.

The weights and the optimiser stay in fp32; only the arithmetic of the forward and backward
passes runs in low precision. fp16 on CUDA scales the loss so that small gradients survive.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch

from geoseg.errors import GeosegError
from geoseg.infer.predictor import DTYPES, reduced_precision_ok
from geoseg.train.losses import LossSettings, Targets, loss_fn


def autocast(device: torch.device, precision: str):
    """Autocast to ``precision`` on ``device`` (nothing for fp32)."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])


def training_precision(device: torch.device, precision: str) -> str:
    """``precision`` as asked, or for ``auto``: bf16 where the device has fast bf16 arithmetic
    (CPUs with AVX-512 BF16 or AMX, recent CUDA GPUs), fp16 on other CUDA GPUs, else fp32."""
    if precision != "auto":
        return precision
    if reduced_precision_ok(device, "bf16"):
        return "bf16"
    return "fp16" if device.type == "cuda" else "fp32"


@dataclass(frozen=True)
class StepSettings:
    precision: str = "fp32"  # "fp32", "bf16" (CPU with AVX-512 BF16/AMX, or CUDA), "fp16" (CUDA) or "auto"
    channels_last: bool = True
    compile: bool = False  # torch.compile the network (pays off for networks with many small ops)
    loss: LossSettings = LossSettings()


class TrainStep:
    """Forward, loss, backward and update of ``model`` on one batch."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 schedule: torch.optim.lr_scheduler.LRScheduler, settings: StepSettings, device: str,
                 class_weights: torch.Tensor | None = None) -> None:
        device_type = torch.device(device).type
        precision = training_precision(torch.device(device), settings.precision)
        if precision not in DTYPES:
            raise GeosegError(f"unknown precision {precision!r}; use auto or one of {', '.join(DTYPES)}")
        if not reduced_precision_ok(torch.device(device), precision):
            raise GeosegError(f"precision {precision} is not supported for training on {device_type} here; use fp32")
        self.precision = precision
        self.model = model.to(memory_format=torch.channels_last) if settings.channels_last else model
        self.network = torch.compile(self.model) if settings.compile else self.model
        self.optimizer = optimizer
        self.schedule = schedule
        self.settings = settings
        self.device = device
        self.class_weights = class_weights
        self.autocast = autocast(torch.device(device), precision)
        self.scaler = torch.amp.GradScaler(device_type) if precision == "fp16" else None

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.settings.channels_last else x

    def __call__(self, x: torch.Tensor, targets: Targets) -> float:
        """One step on inputs ``x`` ``(N, bands, H, W)``; returns the loss."""
        self.model.train()
        targets = targets.to(self.device)
        with self.autocast:
            logits = self.network(self.inputs(x))
        loss = loss_fn(logits.float(), targets, self.settings.loss, self.class_weights)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        self.schedule.step()
        return loss.item()
