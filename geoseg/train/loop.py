"""The training loop: BCE (+ Dice) for binary building heads, weighted cross-entropy for
multiclass heads, AdamW with a one-cycle schedule, validation every epoch (IoU/F1 and object
F1, or mean IoU), the best model kept with its card, resumable checkpoints, curves."""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from geoseg.errors import GeosegError
from geoseg.metrics import ObjectCounts, PixelCounts
from geoseg.models import io, registry
from geoseg.models.card import ModelCard
from geoseg.resample import zoom
from geoseg.train.config import TrainConfig
from geoseg.train.data import Sample, WindowSampler, normalise
from geoseg.train.layouts import read_dataset

Log = Callable[[str], None]


def one_cycle(optimizer: torch.optim.Optimizer, lr: float, steps: int) -> torch.optim.lr_scheduler.OneCycleLR:
    """Warm up over the first 10 % of ``steps`` (at least two steps), then anneal."""
    if steps < 3:
        raise GeosegError(f"a schedule of {steps} optimiser steps is too short; train for at least 3 (epochs x steps_per_epoch)")
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=min(0.5, max(0.1, 2 / steps)))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def loss_fn(logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, kind: str,
            class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Over valid pixels only: binary cross-entropy for one-channel logits ('bce', or 'bce+dice'
    adding soft Dice), weighted cross-entropy for multiclass logits."""
    weight = valid.float()
    if logits.shape[1] > 1:
        per_pixel = F.cross_entropy(logits, target.long(), weight=class_weights, reduction="none")
        return (per_pixel * weight).sum() / weight.sum().clamp(min=1)
    target = target.float()[:, None]
    weight = weight[:, None]
    loss = F.binary_cross_entropy_with_logits(logits, target, weight=weight, reduction="sum") / weight.sum().clamp(min=1)
    if kind == "bce+dice":
        prob = logits.sigmoid() * weight
        inter = (prob * target).sum()
        loss = loss + 1 - (2 * inter + 1) / (prob.sum() + (target * weight).sum() + 1)
    elif kind != "bce":
        raise GeosegError(f"unknown loss {kind!r}: use bce or bce+dice")
    return loss


def evaluate_samples(model: torch.nn.Module, samples: list[Sample], card: ModelCard,
                     gsd_m: float | None = None) -> dict[str, float]:
    """Scores of ``model`` on whole validation images: pixel and object scores for a binary
    model (threshold from the card), mean IoU over the classes for a multiclass one. With
    ``gsd_m``, a binary model sees images of known pixel size resampled to it, as ``predict``
    does, and is scored on each image's own grid."""
    mean = np.asarray(card.mean, dtype=np.float32)
    std = np.asarray(card.std, dtype=np.float32)
    classes = card.num_outputs
    pixels, objects = PixelCounts(), ObjectCounts()
    confusion = np.zeros((classes, classes), dtype=np.int64)
    model.eval()
    with torch.inference_mode():
        for s in samples:
            image, label, valid = s.data()
            if classes == 1:
                probability = _at_zoom(lambda x: _probability(model, x, mean, std), image, zoom(s.gsd_m, gsd_m))
                pred = (probability >= card.threshold) & valid
                truth = label.astype(bool) & valid
                pixels.add(pred, truth, valid)
                objects.add(pred, truth)
            else:
                pred = model(torch.from_numpy(normalise(image, mean, std)[None]))[0].argmax(0).numpy()
                confusion += np.bincount(label[valid].astype(np.int64) * classes + pred[valid],
                                         minlength=classes * classes).reshape(classes, classes)
    if classes == 1:
        return {**pixels.scores(), **objects.scores()}
    return class_scores(confusion, card)


def _probability(model: torch.nn.Module, image: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return model(torch.from_numpy(normalise(image, mean, std)[None]))[0, 0].sigmoid().numpy()


def _at_zoom(fn, image: np.ndarray, factor: float | None) -> np.ndarray:
    """``fn`` of ``image`` enlarged by ``factor`` (shrunk where < 1), brought back to its size."""
    if factor is None:
        return fn(image)
    import cv2

    h, w = image.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    zoomed = cv2.resize(image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    return cv2.resize(fn(zoomed), (w, h), interpolation=cv2.INTER_LINEAR)


def class_scores(confusion: np.ndarray, card: ModelCard) -> dict[str, float]:
    """Mean IoU over the classes that occur (the ignore class left out) and pixel accuracy."""
    tp = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - tp
    keep = union > 0
    if card.ignore_index is not None and card.ignore_index < len(keep):
        keep[card.ignore_index] = False
    iou = np.where(union > 0, tp / np.maximum(union, 1), 0.0)
    scores = {"miou": float(iou[keep].mean()) if keep.any() else 0.0,
              "pixel_accuracy": float(tp.sum() / max(confusion.sum(), 1))}
    scores.update({f"iou_{name}": float(iou[i]) for i, name in enumerate(card.classes) if keep[i]})
    return scores


def train(config: TrainConfig, output: Path, resume: Path | None = None, device: str = "cpu",
          epochs: int | None = None, log: Log = print) -> dict:
    """Train ``config.model`` and write the best model (by validation IoU) to ``output``.

    Next to it: ``<output>.ckpt`` (resumable state) and ``training_curves.png``."""
    seed_everything(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    train_set = [s for folder in config.data for s in read_dataset(folder, "train")]
    val_set = [s for folder in config.data for s in read_dataset(folder, "val")]
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
    state = torch.load(resume, map_location=device, weights_only=True) if resume is not None else None
    if state is not None:
        if epochs is not None and epochs != state["total"]:
            raise GeosegError(f"{resume} continues a {state['total']}-epoch schedule; resume without --epochs")
        total_epochs = state["total"]
    schedule = one_cycle(optimizer, config.lr, total_epochs * config.steps_per_epoch)
    history: list[dict] = []
    best = -1.0
    start_epoch = 0
    checkpoint = output.with_suffix(".ckpt")
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        history, best, start_epoch = json.loads(state["history"]), state["best"], state["epoch"]
        log(f"resumed from {resume} at epoch {start_epoch}")
    at_gsd = config.gsd_m if config.train_at_gsd else None
    sampler = WindowSampler(train_set, config.tile_size, config.scale_range, config.seed + start_epoch,
                            aerial=card.task == "buildings", hue=config.hue, grayscale=config.grayscale,
                            gsd_m=at_gsd, source_exponent=config.source_exponent)
    class_weights = torch.tensor(config.class_weights, dtype=torch.float32, device=device) if config.class_weights else None
    key = "iou" if card.num_outputs == 1 else "miou"
    mean = np.asarray(card.mean, dtype=np.float32)
    std = np.asarray(card.std, dtype=np.float32)
    for epoch in range(start_epoch, total_epochs):
        started = time.perf_counter()
        model.train()
        losses = []
        for _ in tqdm(range(config.steps_per_epoch), desc=f"epoch {epoch + 1}/{total_epochs}", unit="batch",
                      leave=False, disable=not sys.stderr.isatty()):
            x, y, valid = sampler.batch(config.batch_size, mean, std)
            logits = model(torch.from_numpy(x).to(device))
            loss = loss_fn(logits, torch.from_numpy(y).to(device), torch.from_numpy(valid).to(device), config.loss,
                           class_weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        scores = evaluate_samples(model, val_set, card, at_gsd) if val_set else {}
        record = {"epoch": epoch + 1, "loss": float(np.mean(losses)), **scores,
                  "seconds": round(time.perf_counter() - started, 1)}
        history.append(record)
        if scores.get(key, 0.0) > best or not val_set:
            best = scores.get(key, 0.0)
            card.trained = True
            card.metrics = {k: round(v, 4) for k, v in scores.items()} | {"epoch": epoch + 1, "split": "val"}
            io.save(model.cpu(), card, output)
            model.to(device)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(), "history": json.dumps(history),
                    "best": best, "epoch": epoch + 1, "total": total_epochs}, checkpoint)
        plot_curves(history, output.parent / "training_curves.png")
        log(json.dumps(record))
    return {"output": str(output), f"best_{key}": best, "epochs": len(history)}


def plot_curves(history: list[dict], path: Path) -> None:
    """Training loss and validation IoU/F1 per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [h["loss"] for h in history])
    left.set(title="training loss", xlabel="epoch")
    for name in ("iou", "f1", "object_f1", "miou", "pixel_accuracy"):
        if name in history[0]:
            right.plot(epochs, [h[name] for h in history], label=name)
    right.set(title="validation", xlabel="epoch", ylim=(0, 1))
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
