"""Image/mask folders (``images/`` + ``masks/`` with an optional ``manifest.csv`` split) and
the random, augmented training windows drawn from them."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geoseg.errors import GeosegError
from geoseg.raster import band_percentiles

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


@dataclass
class Sample:
    """One training image, stretched to 0-1 per band, with its building mask and validity."""

    name: str
    image: np.ndarray  # (h, w, 3) float32 0-1
    mask: np.ndarray  # (h, w) uint8 0/1
    valid: np.ndarray  # (h, w) bool


def read_pair_folder(root: str | Path, split: str) -> list[Sample]:
    """The samples of ``split`` ('train' or 'val') in an images/ + masks/ folder.

    Without a manifest every pair is 'train'."""
    root = Path(root)
    if not (root / "images").is_dir() or not (root / "masks").is_dir():
        raise GeosegError(f"{root} is not a training folder: it needs images/ and masks/")
    manifest = root / "manifest.csv"
    if manifest.is_file():
        with open(manifest, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("split", "train") == split]
        pairs = [(r["name"], _find(root, "images", r.get("image"), r["name"]),
                  _find(root, "masks", r.get("mask"), r["name"])) for r in rows]
    elif split == "train":
        pairs = [(p.stem, p, _find(root, "masks", None, p.stem))
                 for p in sorted((root / "images").iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    else:
        pairs = []
    return [load_sample(name, image, mask) for name, image, mask in pairs]


def _find(root: Path, folder: str, listed: str | None, name: str) -> Path:
    if listed:
        return root / listed
    for suffix in IMAGE_SUFFIXES:
        path = root / folder / f"{name}{suffix}"
        if path.is_file():
            return path
    raise GeosegError(f"no {folder[:-1]} for {name} in {root / folder}")


def load_sample(name: str, image_path: Path, mask_path: Path) -> Sample:
    """Read an image (GeoTIFF through rasterio, honouring nodata; PNG/JPEG through Pillow) and its mask."""
    image, valid = _read_image(image_path)
    mask = (_read_gray(mask_path) > 127).astype(np.uint8)
    if mask.shape != valid.shape:
        raise GeosegError(f"{mask_path} is {mask.shape} but its image is {valid.shape}")
    low, high = band_percentiles(image.transpose(2, 0, 1), valid, 2.0, 98.0)
    stretched = np.clip((image - low) / (high - low), 0, 1).astype(np.float32)
    return Sample(name, stretched, mask, valid)


def _read_image(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if path.suffix.lower() in (".tif", ".tiff"):
        import rasterio

        with rasterio.open(path) as src:
            data = src.read([1, 2, 3] if src.count >= 3 else [1, 1, 1])
            valid = src.dataset_mask() > 0
        return data.transpose(1, 2, 0).astype(np.float32), valid
    from PIL import Image

    with Image.open(path) as im:
        data = np.asarray(im.convert("RGB"), dtype=np.float32)
    return data, np.ones(data.shape[:2], dtype=bool)


def _read_gray(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


class WindowSampler:
    """Random training windows: an image chosen in proportion to its area, a crop whose side is
    ``size`` times a log-uniform scale (ground resolution differs between sources), resized to
    ``size``, then D4 flips/rotations, colour jitter and occasional greyscale (panchromatic
    scenes)."""

    def __init__(self, samples: list[Sample], size: int, scale_range: tuple[float, float], seed: int) -> None:
        import albumentations as A

        self.samples = samples
        self.size = size
        self.log_scale = np.log(scale_range)
        areas = np.array([s.mask.size for s in samples], dtype=np.float64)
        self.weights = areas / areas.sum()
        self.rng = np.random.default_rng(seed)
        self.augment = A.Compose([
            A.D4(p=1.0),
            A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.04, p=0.8),
            A.ToGray(p=0.2),
        ], seed=seed)

    def window(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One ``(image (h, w, 3), mask (h, w), valid (h, w))`` training window."""
        import cv2

        sample = self.samples[self.rng.choice(len(self.samples), p=self.weights)]
        h, w = sample.mask.shape
        side = int(round(self.size * np.exp(self.rng.uniform(*self.log_scale))))
        side = max(16, min(side, h, w))
        y = int(self.rng.integers(0, h - side + 1))
        x = int(self.rng.integers(0, w - side + 1))
        crop = (slice(y, y + side), slice(x, x + side))
        image, mask, valid = sample.image[crop], sample.mask[crop], sample.valid[crop].astype(np.uint8)
        if side != self.size:
            shape = (self.size, self.size)
            image = cv2.resize(image, shape, interpolation=cv2.INTER_LINEAR)
            mask = cv2.resize(mask, shape, interpolation=cv2.INTER_NEAREST)
            valid = cv2.resize(valid, shape, interpolation=cv2.INTER_NEAREST)
        out = self.augment(image=image, masks=[mask, valid])
        return out["image"], out["masks"][0], out["masks"][1].astype(bool)

    def batch(self, n: int, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` windows as normalised ``(n, 3, s, s)`` inputs, ``(n, 1, s, s)`` targets and validity."""
        images, masks, valids = zip(*(self.window() for _ in range(n)))
        x = (np.stack(images).transpose(0, 3, 1, 2) - mean[:, None, None]) / std[:, None, None]
        return x.astype(np.float32), np.stack(masks)[:, None].astype(np.float32), np.stack(valids)[:, None]
