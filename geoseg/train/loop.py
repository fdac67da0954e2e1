"""The training loop for binary building models: BCE (+ Dice), AdamW with a one-cycle
schedule, validation IoU/F1 every epoch, the best model kept, resumable checkpoints."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from geoseg.errors import GeosegError
from geoseg.metrics import ObjectCounts, PixelCounts
from geoseg.models import io, registry
from geoseg.models.card import ModelCard
from geoseg.train.config import TrainConfig
from geoseg.train.data import Sample, WindowSampler, read_pair_folder

Log = Callable[[str], None]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def loss_fn(logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, kind: str) -> torch.Tensor:
    """Binary cross-entropy over valid pixels, plus soft Dice when ``kind`` is 'bce+dice'."""
    weight = valid.float()
    loss = F.binary_cross_entropy_with_logits(logits, target, weight=weight, reduction="sum") / weight.sum().clamp(min=1)
    if kind == "bce+dice":
        prob = logits.sigmoid() * weight
        inter = (prob * target).sum()
        loss = loss + 1 - (2 * inter + 1) / (prob.sum() + (target * weight).sum() + 1)
    elif kind != "bce":
        raise GeosegError(f"unknown loss {kind!r}: use bce or bce+dice")
    return loss


def evaluate_samples(model: torch.nn.Module, samples: list[Sample], card: ModelCard) -> dict[str, float]:
    """Pixel and object scores of ``model`` on whole validation images (threshold from the card)."""
    mean = np.asarray(card.mean, dtype=np.float32)
    std = np.asarray(card.std, dtype=np.float32)
    pixels, objects = PixelCounts(), ObjectCounts()
    model.eval()
    with torch.inference_mode():
        for s in samples:
            x = (s.image.transpose(2, 0, 1) - mean[:, None, None]) / std[:, None, None]
            prob = model(torch.from_numpy(x[None].astype(np.float32))).sigmoid()[0, 0].numpy()
            pred = (prob >= card.threshold) & s.valid
            truth = s.mask.astype(bool) & s.valid
            pixels.add(pred, truth, s.valid)
            objects.add(pred, truth)
    return {**pixels.scores(), **objects.scores()}


def train(config: TrainConfig, output: Path, resume: Path | None = None, device: str = "cpu",
          epochs: int | None = None, log: Log = print) -> dict:
    """Train ``config.model`` and write the best model (by validation IoU) to ``output``.

    Next to it: ``<output>.ckpt`` (resumable state) and ``training_curves.png``."""
    seed_everything(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    train_set = [s for folder in config.data for s in read_pair_folder(folder, "train")]
    val_set = [s for folder in config.data for s in read_pair_folder(folder, "val")]
    if not train_set:
        raise GeosegError(f"no training pairs in {', '.join(config.data)}")
    log(f"{len(train_set)} training and {len(val_set)} validation images from {', '.join(config.data)}")
    card = registry.preset_card(config.model)
    card.training_data = config.training_data
    card.licence = config.licence
    card.gsd_m = config.gsd_m
    for key, value in config.card.items():
        setattr(card, key, value)
    model = registry.build(card).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total_epochs = epochs or config.epochs
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=total_epochs * config.steps_per_epoch, pct_start=0.1
    )
    history: list[dict] = []
    best = -1.0
    start_epoch = 0
    checkpoint = output.with_suffix(".ckpt")
    if resume is not None:
        state = torch.load(resume, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        history, best, start_epoch = json.loads(state["history"]), state["best"], state["epoch"]
        log(f"resumed from {resume} at epoch {start_epoch}")
    sampler = WindowSampler(train_set, config.tile_size, config.scale_range, config.seed + start_epoch)
    mean = np.asarray(card.mean, dtype=np.float32)
    std = np.asarray(card.std, dtype=np.float32)
    for epoch in range(start_epoch, total_epochs):
        started = time.perf_counter()
        model.train()
        losses = []
        for _ in range(config.steps_per_epoch):
            x, y, valid = sampler.batch(config.batch_size, mean, std)
            logits = model(torch.from_numpy(x).to(device))
            loss = loss_fn(logits, torch.from_numpy(y).to(device), torch.from_numpy(valid).to(device), config.loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        scores = evaluate_samples(model, val_set, card) if val_set else {}
        record = {"epoch": epoch + 1, "loss": float(np.mean(losses)), **scores,
                  "seconds": round(time.perf_counter() - started, 1)}
        history.append(record)
        log(json.dumps(record))
        if scores.get("iou", 0.0) > best or not val_set:
            best = scores.get("iou", 0.0)
            card.trained = True
            card.metrics = {k: round(v, 4) for k, v in scores.items()} | {"epoch": epoch + 1, "split": "val"}
            io.save(model.cpu(), card, output)
            model.to(device)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(), "history": json.dumps(history),
                    "best": best, "epoch": epoch + 1}, checkpoint)
        plot_curves(history, output.parent / "training_curves.png")
    return {"output": str(output), "best_iou": best, "epochs": len(history)}


def plot_curves(history: list[dict], path: Path) -> None:
    """Training loss and validation IoU/F1 per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [h["loss"] for h in history])
    left.set(title="training loss", xlabel="epoch")
    for key in ("iou", "f1", "object_f1"):
        if key in history[0]:
            right.plot(epochs, [h[key] for h in history], label=key)
    right.set(title="validation", xlabel="epoch", ylim=(0, 1))
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
