"""Augmentations that make a model see past the look of the few places it learns from (the
recipe levers of docs/models.md): another image's colours, sensor faults, off-nadir
stretching, and windows cut from two places. Pure numpy on uint8 windows; each takes the
random generator it draws from."""

from __future__ import annotations

import cv2
import numpy as np

Window = tuple[np.ndarray, np.ndarray, np.ndarray]  # image (h, w, 3) uint8, label (h, w) uint8, valid (h, w)


def colour_stats(image: np.ndarray, valid: np.ndarray, step: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of the valid pixels (every ``step``-th row and
    column), as float32 ``(3,)`` arrays; a flat or empty image gets std 1."""
    pixels = image[::step, ::step][valid[::step, ::step].astype(bool)].astype(np.float32)
    if len(pixels) < 16:
        return np.full(3, 127.5, np.float32), np.ones(3, np.float32)
    return pixels.mean(axis=0), np.maximum(pixels.std(axis=0), 1.0)


def matched_colours(image: np.ndarray, valid: np.ndarray, target: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``image`` with each channel's mean and spread moved to ``target``'s (another image's
    :func:`colour_stats`): the scene as another sensor, season or processing would show it."""
    mean, std = colour_stats(image, valid, step=2)
    moved = (image.astype(np.float32) - mean) * (target[1] / std) + target[0]
    return np.clip(np.rint(moved), 0, 255).astype(np.uint8)


def hazed(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thin haze: the image blended with a light grey by 10-35 %."""
    amount = rng.uniform(0.10, 0.35)
    grey = rng.uniform(170, 230)
    return np.clip(image.astype(np.float32) * (1 - amount) + grey * amount, 0, 255).astype(np.uint8)


def misregistered(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One band shifted by one or two pixels against the others (pan-sharpening and band
    alignment faults); the edge it uncovers repeats the border."""
    band = int(rng.integers(0, image.shape[2]))
    dy, dx = (int(v) for v in rng.integers(-2, 3, size=2))
    shifted = image.copy()
    moved = cv2.warpAffine(np.ascontiguousarray(image[..., band]), np.float32([[1, 0, dx], [0, 1, dy]]),
                           (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    shifted[..., band] = moved
    return shifted


def sensor_transforms(probability: float) -> list:
    """Albumentations transforms of sensor faults, each applied with ``probability``: blur,
    noise, gamma, JPEG artefacts."""
    import albumentations as A

    return [
        A.GaussianBlur(blur_limit=(3, 5), sigma_limit=(0.4, 1.2), p=probability),
        A.GaussNoise(std_range=(0.01, 0.05), p=probability),
        A.RandomGamma(gamma_limit=(70, 150), p=probability),
        A.ImageCompression(quality_range=(30, 85), p=probability),
    ]


def cut_mixed(windows: list[Window], places: list[str], probability: float, rng: np.random.Generator) -> list[Window]:
    """CutMix between places: each window, with ``probability``, gets a rectangle (30-60 % of
    its side) of a window from another place pasted at the same spot, label and validity with it."""
    out = list(windows)
    for i, (image, label, valid) in enumerate(windows):
        others = [j for j, place in enumerate(places) if place != places[i]]
        if not others or rng.random() >= probability:
            continue
        donor = windows[others[int(rng.integers(len(others)))]]
        h, w = label.shape
        bh, bw = (max(1, int(side * rng.uniform(0.3, 0.6))) for side in (h, w))
        y, x = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
        box = (slice(y, y + bh), slice(x, x + bw))
        mixed = [a.copy() for a in (image, label, valid)]
        for target, source in zip(mixed, donor):
            target[box] = source[box]
        out[i] = tuple(mixed)
    return out
