"""Packed training data: samples brought to one pixel size and stored as JPEG images, PNG
labels and a JSON index, small enough to travel where the raw folders cannot (a GPU machine
with a size limit, a cluster). A packed folder is a training layout of its own: configs list
it under ``data`` (its train, val and test samples) or ``unlabelled`` (its unlabelled ones)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from geoseg.errors import GeosegError
from geoseg.read.scale import zoom
from geoseg.train.data import Loaded, Sample, read_gray, read_image, resized

INDEX = "packed.json"
UNLABELLED = "unlabelled"  # the split of imagery without labels


@dataclass(frozen=True)
class Packing:
    """How samples are packed: the pixel size finer images are shrunk to (None: as they are)
    and the JPEG quality of the images."""

    gsd_m: float | None = None
    quality: int = 95


def shrunk(sample: Sample, gsd_m: float | None) -> tuple[Loaded, float | None]:
    """A sample's ``(image, label, valid)`` at ``gsd_m`` if its pixels are finer
    (:func:`~geoseg.train.data.resized`), with its pixel size then. Coarser images stay as they
    are: enlarging them would only make the pack larger."""
    data = sample.data()  # once: a sample that is not cached reads its files on every call
    factor = zoom(sample.gsd_m, gsd_m)
    if factor is None or factor > 1:
        return data, sample.gsd_m
    h, w = data[1].shape
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return resized(data, size), sample.gsd_m * w / size[0]


def pack(samples: Iterable[tuple[str, Sample]], folder: Path, packing: Packing) -> dict:
    """Write ``(split, sample)`` pairs into ``folder`` (created; it must not exist) and its index
    last, so that a folder with an index is complete. Returns the index."""
    folder = new_folder(folder)
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    entries = []
    for number, (split, sample) in enumerate(samples):
        (image, label, valid), gsd = shrunk(sample, packing.gsd_m)
        stem = f"{number:05d}"
        entry = {"name": sample.name, "split": split, "source": sample.source, "place": sample.place,
                 "gsd_m": gsd, "image": f"images/{stem}.jpg", "label": f"labels/{stem}.png", "valid": None}
        _write(folder / entry["image"], image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, packing.quality])
        _write(folder / entry["label"], label)
        if not valid.all():
            entry["valid"] = f"labels/{stem}_valid.png"
            _write(folder / entry["valid"], valid.astype(np.uint8) * 255)
        entries.append(entry)
    index = {"gsd_m": packing.gsd_m, "samples": entries}
    (folder / INDEX).write_text(json.dumps(index, indent=1))
    return index


def new_folder(folder: str | Path) -> Path:
    """``folder`` as a path, refused if it exists (a pack is never written over another)."""
    folder = Path(folder)
    if folder.exists():
        raise GeosegError(f"{folder} already exists; pack into a new folder")
    return folder


def _write(path: Path, array: np.ndarray, params: list[int] | None = None) -> None:
    if not cv2.imwrite(str(path), np.ascontiguousarray(array), params or []):
        raise GeosegError(f"could not write {path}")


def is_packed(folder: Path) -> bool:
    return (Path(folder) / INDEX).is_file()


def packed_samples(folder: Path, split: str) -> list[Sample]:
    """The samples of ``split`` in a packed ``folder`` (``unlabelled``: its imagery without labels)."""
    folder = Path(folder)
    try:
        entries = json.loads((folder / INDEX).read_text())["samples"]
    except (OSError, ValueError, KeyError) as error:
        raise GeosegError(f"{folder / INDEX} is not a packed-data index ({error})") from None
    return [Sample(e["name"], lambda e=e: _load(folder, e), source=e["source"], place=e["place"],
                   gsd_m=e["gsd_m"], labelled=split != UNLABELLED)
            for e in entries if e["split"] == split]


def _load(folder: Path, entry: dict) -> Loaded:
    image, _ = read_image(folder / entry["image"])
    label = read_gray(folder / entry["label"])
    valid = read_gray(folder / entry["valid"]) > 127 if entry["valid"] else np.ones(label.shape, bool)
    return image, label, valid
