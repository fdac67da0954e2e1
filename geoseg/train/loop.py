"""The training loop: AdamW with a one-cycle schedule over :class:`~geoseg.train.step.TrainStep`,
validation every epoch (:mod:`geoseg.train.scoring`), the best
model kept with its card, resumable checkpoints, curves. A run starts from a fresh preset
(optionally with its encoder's ImageNet weights) or from a trained model (``init``)."""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from geoseg.errors import GeosegError
from geoseg.models import io, registry
from geoseg.models.card import ModelCard
from geoseg.models.encoders import ENCODERS, load_encoder_weights
from geoseg.train.config import TrainConfig
from geoseg.train.data import Sample, WindowSettings, card_normalisation, model_input, window_batches
from geoseg.train.distill import Teacher
from geoseg.train.layouts import read_dataset, unlabelled_images
from geoseg.train.losses import LossSettings, Targets
from geoseg.train.scoring import choose_threshold, evaluate_samples
from geoseg.train.step import StepSettings, TrainStep

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


def start_card(config: TrainConfig) -> tuple[ModelCard, dict[str, torch.Tensor] | None]:
    """The card a training run starts from and the weights to start from: a fresh preset, or
    the model ``config.init`` names (its normalisation, bands and pixel size are kept)."""
    if config.init:
        net, card = registry.load(config.init)
        if not card.trained:
            raise GeosegError(f"init: {config.init} has no trained weights to start from")
        wanted = config.model or card.name  # a preset of the same network may take over the weights
        if wanted != card.name and (wanted not in registry.PRESETS
                                    or registry.PRESETS[wanted].architecture != card.architecture):
            raise GeosegError(f"init: {config.init} is a {card.name} model, but the config asks for {config.model}")
        if config.encoder_weights:
            raise GeosegError("a config takes init or encoder_weights, not both")
        if config.separation and not card.separation:
            raise GeosegError(f"init: {config.init} has no separation output to train")
        if config.gsd_m is not None and config.gsd_m != card.gsd_m:
            raise GeosegError(f"init: {config.init} works at {card.gsd_m} m pixels; drop gsd_m from the config")
        card.initialisation = f"fine-tuned from {card.name} ({Path(config.init).name})"
        card.name = wanted
        state = net.state_dict()
    else:
        if config.model not in registry.PRESETS:
            raise GeosegError(f"unknown model {config.model!r}; use one of {', '.join(registry.PRESETS)}")
        card, state = registry.preset_card(config.model), None
        card.gsd_m = config.gsd_m
        card.initialisation = "random"
        if config.separation and card.num_outputs > 1:
            raise GeosegError("separation: only binary building models have a separation output")
        card.separation = config.separation
    card.training_data = config.training_data or card.training_data
    card.licence = config.licence or card.licence
    for key, value in config.card.items():
        setattr(card, key, value)
    return card, state


def build_model(config: TrainConfig, card: ModelCard, state: dict[str, torch.Tensor] | None) -> torch.nn.Module:
    """The network to train: with the starting weights, or its encoder from ImageNet weights."""
    model = registry.build(card, state)
    if config.encoder_weights:
        encoder = registry.architecture_of(card.architecture).encoder
        if encoder is None:
            raise GeosegError(f"encoder_weights: {card.architecture} has no ImageNet encoder; "
                              f"use one of {', '.join(n for n, a in registry.ARCHITECTURES.items() if a.encoder)}")
        load_encoder_weights(model.encoder, config.encoder_weights)
        card.initialisation = f"encoder from ImageNet weights ({ENCODERS[encoder].weights}, {Path(config.encoder_weights).name})"
    return model


def train(config: TrainConfig, output: Path, resume: Path | None = None, device: str = "cpu",
          epochs: int | None = None, log: Log = print) -> dict:
    """Train ``config.model`` and write the best model (by validation IoU) to ``output``.

    Next to it: ``<output>.ckpt`` (resumable state, written every epoch) and ``training_curves.png``."""
    seed_everything(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    card, state = start_card(config)
    train_set = [s for folder in config.data for split in config.train_splits for s in read_dataset(folder, split)]
    val_set = [] if "val" in config.train_splits else [s for folder in config.data for s in read_dataset(folder, "val")]
    if not train_set:
        raise GeosegError(f"no training pairs in {', '.join(config.data)}")
    log(f"{len(train_set)} training and {len(val_set)} validation images from {', '.join(config.data)}")
    model = build_model(config, card, state).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total_epochs = epochs or config.epochs
    saved = torch.load(resume, map_location=device, weights_only=True) if resume is not None else None
    if saved is not None:
        if epochs is not None and epochs != saved["total"]:
            raise GeosegError(f"{resume} continues a {saved['total']}-epoch schedule; resume without --epochs")
        total_epochs = saved["total"]
    schedule = one_cycle(optimizer, config.lr, total_epochs * config.steps_per_epoch)
    history: list[dict] = []
    best = -1.0
    start_epoch = 0
    checkpoint = output.with_suffix(".ckpt")
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        history, best, start_epoch = json.loads(saved["history"]), saved["best"], saved["epoch"]
        log(f"resumed from {resume} at epoch {start_epoch}")
    at_gsd = card.gsd_m if config.train_at_gsd else None
    unlabelled = [s for folder in config.unlabelled for s in unlabelled_images(folder)]
    windows = WindowSettings(config.tile_size, config.scale_range, card.task == "buildings", config.hue,
                             config.grayscale, config.degrade, at_gsd, config.source_exponent, config.unlabelled_share,
                             style=config.style_transfer, sensor=config.sensor_faults, cutmix=config.cutmix)
    batches = window_batches(train_set + unlabelled, windows, config.seed + start_epoch, config.batch_size,
                             config.workers)
    class_weights = torch.tensor(config.class_weights, dtype=torch.float32, device=device) if config.class_weights else None
    loss = LossSettings(config.loss, config.distill, card.num_outputs > 1, config.gap_weight, config.separation_weight)
    settings = StepSettings(config.precision, compile=config.compile, loss=loss)
    step = TrainStep(model, optimizer, schedule, settings, device, class_weights)
    teacher = Teacher(config.teacher, card, device, step.precision) if config.teacher else None
    if teacher is not None:
        card.training_data += f"; distilled from {teacher.card.name} ({Path(config.teacher).name})"
    key = config.select if card.num_outputs == 1 else "miou"
    mean, std = card_normalisation(card)
    for epoch in range(start_epoch, total_epochs):
        started = time.perf_counter()
        losses = []
        for _ in tqdm(range(config.steps_per_epoch), desc=f"epoch {epoch + 1}/{total_epochs}", unit="batch",
                      leave=False, disable=not sys.stderr.isatty()):
            images, y, valid, labelled = next(batches)
            soft = teacher(images) if teacher is not None else None
            targets = Targets(torch.as_tensor(y), torch.as_tensor(valid), soft, torch.as_tensor(labelled))
            losses.append(step(model_input(images, mean, std, device), targets))
        trained = time.perf_counter() - started
        scores = evaluate_samples(model, val_set, card, at_gsd, step.precision) if val_set else {}
        record = {"epoch": epoch + 1, "loss": float(np.mean(losses)), **scores,
                  "samples_per_s": round(config.steps_per_epoch * config.batch_size / trained, 2),
                  "seconds": round(time.perf_counter() - started, 1)}
        history.append(record)
        if scores.get(key, 0.0) > best or not val_set:
            best = scores.get(key, 0.0)
            card.trained = True
            card.metrics = {k: round(v, 4) for k, v in scores.items()} | {"epoch": epoch + 1} | (
                {"split": "val"} if val_set else {})
            io.save(model, card, output)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(), "history": json.dumps(history),
                    "best": best, "epoch": epoch + 1, "total": total_epochs}, checkpoint)
        plot_curves(history, output.parent / "training_curves.png")
        log(json.dumps(record))
    if config.tune_threshold and card.num_outputs == 1 and val_set and start_epoch < total_epochs:
        log(json.dumps({"threshold": tune_threshold(output, val_set, at_gsd, step.precision)}))
    return {"output": str(output), f"best_{key}": best, "epochs": len(history)}


def tune_threshold(path: Path, val_set: list[Sample], gsd_m: float | None, precision: str) -> float:
    """Set the card threshold of the model saved at ``path`` to the one that scores best on
    ``val_set`` (:func:`choose_threshold`), with the validation scores at that threshold."""
    model, card = registry.load(path)
    card.threshold = choose_threshold(model, val_set, card, gsd_m, precision)
    scores = evaluate_samples(model, val_set, card, gsd_m, precision)
    card.metrics = {k: round(v, 4) for k, v in scores.items()} | {"epoch": card.metrics["epoch"], "split": "val",
                                                                "threshold_chosen_on": "val"}
    io.save(model, card, path)
    return card.threshold


def plot_curves(history: list[dict], path: Path) -> None:
    """Training loss and validation IoU/F1 per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [h["loss"] for h in history])
    left.set(title="training loss", xlabel="epoch")
    scores = [name for name in ("iou", "place_iou", "f1", "object_f1", "miou", "pixel_accuracy") if name in history[0]]
    for name in scores:
        right.plot(epochs, [h[name] for h in history], label=name)
    right.set(title="validation" if scores else "no validation split", xlabel="epoch", ylim=(0, 1))
    if scores:
        right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
