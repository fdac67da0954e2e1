"""Training configuration files (YAML): which model, which data, how long."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from geoseg.errors import GeosegError


@dataclass
class TrainConfig:
    model: str | None  # a preset name (architecture + head); with ``init``, that model's
    data: list[str]  # folders, relative to the config file
    tile_size: int = 256
    batch_size: int = 8
    epochs: int = 30
    steps_per_epoch: int = 150
    lr: float = 2e-3
    weight_decay: float = 1e-4
    loss: str = "bce"  # "bce" or "bce+dice" (binary); multiclass heads use cross-entropy
    class_weights: list[float] | None = None  # multiclass: one weight per class
    scale_range: tuple[float, float] = (0.6, 1.7)
    hue: float = 0.04  # colour jitter: hue shift (fraction of the circle)
    grayscale: float = 0.2  # probability of a greyscale window (aerial data only)
    degrade: float = 0.0  # probability of a window seen at a coarser resolution (up to 2.5 times)
    seed: int = 0
    threads: int = 0  # 0: torch's default
    workers: int = 0  # processes cutting training windows beside the training one (0: none)
    gsd_m: float | None = None  # the model's pixel size (the card's): predict resamples scenes to it
    train_at_gsd: bool = False  # also draw windows and validate at gsd_m (images of known pixel size)
    source_exponent: float = 1.0  # sources drawn by pixel count to this power (1: by area, 0: equally)
    encoder_weights: str | None = None  # ImageNet weights (safetensors) for the encoder, relative to the config
    init: str | None = None  # start from this model (a preset with shipped weights, or a weights file)
    precision: str = "fp32"  # arithmetic of the training passes: fp32, bf16, fp16 (CUDA) or auto
    compile: bool = False  # torch.compile the network for training
    separation: bool = False  # binary models: also learn where buildings touch (a second output)
    # recipe levers (docs/models.md): probabilities per window, loss weights; the defaults are off
    style_transfer: float = 0.0  # a window takes another training image's colour statistics
    sensor_faults: float = 0.0  # each of blur, noise, gamma, JPEG, haze, a shifted band, off-nadir stretching
    cutmix: float = 0.0  # a window gets a rectangle of a window from another place pasted in
    gap_weight: float = 0.0  # extra weight of the building term on the pixels between two buildings
    separation_weight: float = 1.0  # the separation output's term, times this
    teacher: str | None = None  # distillation: a trained model whose probabilities are soft targets
    distill: float = 0.5  # weight of the teacher's term in the loss of labelled windows
    unlabelled: list[str] = field(default_factory=list)  # folders of imagery without labels (teacher only)
    unlabelled_share: float = 0.25  # fraction of windows drawn from the unlabelled folders
    tune_threshold: bool = False  # after training, set the card's threshold to the best on validation
    select: str = "iou"  # the validation score that picks the best epoch: "iou" (all pixels) or "place_iou"
    train_splits: list[str] = field(default_factory=lambda: ["train"])  # with "val": no validation, last epoch kept
    training_data: str = ""
    licence: str = ""
    card: dict = field(default_factory=dict)  # overrides for the model card (tile_size, overlap, ...)


def load_config(path: str | Path, data: list[str] | None = None, overrides: dict | None = None) -> TrainConfig:
    """Read a YAML config, with ``overrides`` (key: value) replacing its keys; data folders are
    resolved against the config's folder unless given."""
    path = Path(path)
    if not path.is_file():
        raise GeosegError(f"config {path} does not exist")
    raw = (yaml.safe_load(path.read_text()) or {}) | (overrides or {})
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(raw) - known
    if unknown:
        raise GeosegError(f"{path}: unknown keys {', '.join(sorted(unknown))}")
    if not (raw.get("model") or raw.get("init")) or not (raw.get("data") or data):
        raise GeosegError(f"{path}: 'data' and one of 'model' or 'init' are required")
    config = TrainConfig(**{"model": None, **raw})
    config.data = data or [str((path.parent / d).resolve()) for d in config.data]
    config.scale_range = tuple(config.scale_range)
    if config.encoder_weights:
        config.encoder_weights = str((path.parent / config.encoder_weights).resolve())
    for key in ("init", "teacher"):
        value = getattr(config, key)
        if value and (path.parent / value).is_file():
            setattr(config, key, str((path.parent / value).resolve()))
    config.unlabelled = [str((path.parent / d).resolve()) for d in config.unlabelled]
    if config.unlabelled and not config.teacher:
        raise GeosegError(f"{path}: unlabelled imagery needs a teacher")
    if not set(config.train_splits) <= {"train", "val"} or "train" not in config.train_splits:
        raise GeosegError(f"{path}: train_splits is [train] or [train, val], not {config.train_splits}")
    if config.select not in ("iou", "place_iou"):
        raise GeosegError(f"{path}: select must be iou or place_iou, not {config.select!r}")
    return config


def fine_tune_config(init: str, data: list[str]) -> TrainConfig:
    """Settings for fine-tuning the trained model ``init`` on a user's own ``data`` folders
    (scenes with footprints, or images + masks): a short schedule at a low learning rate,
    windows at the model's pixel size, the fastest precision the machine has."""
    return TrainConfig(model=None, data=[str(Path(d).resolve()) for d in data], init=init, epochs=10,
                       steps_per_epoch=100, lr=3e-4, loss="bce+dice", precision="auto", scale_range=(0.8, 1.25),
                       train_at_gsd=True, hue=0.05, grayscale=0.0)


def parse_overrides(items: list[str]) -> dict:
    """``KEY=VALUE`` items (the value read as YAML: 0.5, true, [0.7, 1.5]) as a dict."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GeosegError(f"--set {item!r} is not KEY=VALUE")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides
