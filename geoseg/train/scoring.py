"""Scoring a model on labelled images, whole image by whole image: pixel IoU/F1 and object F1
(overall and per place) for a binary building model, mean and per-class IoU for a multiclass
one. Training validates with it every epoch; ``geoseg evaluate --model`` scores a dataset split."""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import torch
from tqdm import tqdm

from geoseg.errors import GeosegError
from geoseg.evaluate.metrics import ObjectCounts, PixelCounts
from geoseg.models import io, registry
from geoseg.models.card import ModelCard
from geoseg.models.heads import building_probability
from geoseg.read.scale import zoom
from geoseg.train.data import Sample, card_normalisation, normalise
from geoseg.train.layouts import read_dataset
from geoseg.train.separation import BUILDING
from geoseg.train.step import autocast


def evaluate_samples(model: torch.nn.Module, samples: Iterable[Sample], card: ModelCard,
                     gsd_m: float | None = None, precision: str = "fp32") -> dict[str, float]:
    """Scores of ``model`` on whole validation images: pixel and object scores for a binary
    model (threshold from the card), over all images and per place (``iou/<place>``,
    ``object_f1/<place>``, and ``place_iou``, their mean over places); mean IoU over the
    classes for a multiclass one. With ``gsd_m``, a binary model sees images of known pixel
    size resampled to it, as ``predict`` does, and is scored on each image's own grid."""
    if card.num_outputs > 1:
        return multiclass_scores(model, samples, card, precision)
    pixels, objects = defaultdict(PixelCounts), defaultdict(ObjectCounts)
    for place, probability, truth, valid in binary_probabilities(model, samples, card, gsd_m, precision):
        pred = (probability >= card.threshold) & valid
        for key in ("", place):
            pixels[key].add(pred, truth, valid)
            objects[key].add(pred, truth)
    scores = {**pixels.pop("").scores(), **objects.pop("").scores()}
    for place in sorted(pixels):
        scores[f"iou/{place}"] = pixels[place].scores()["iou"]
        scores[f"object_f1/{place}"] = objects[place].scores()["object_f1"]
    scores["place_iou"] = float(np.mean([pixels[p].scores()["iou"] for p in pixels])) if pixels else 0.0
    return scores


def choose_threshold(model: torch.nn.Module, samples: Iterable[Sample], card: ModelCard, gsd_m: float | None = None,
                     precision: str = "fp32", candidates: np.ndarray = np.arange(0.3, 0.71, 0.05)) -> float:
    """The probability cut among ``candidates`` with the best pixel IoU averaged over places."""
    counts = defaultdict(lambda: [PixelCounts() for _ in candidates])
    for place, probability, truth, valid in binary_probabilities(model, samples, card, gsd_m, precision):
        for count, cut in zip(counts[place], candidates):
            count.add((probability >= cut) & valid, truth, valid)
    mean_iou = [np.mean([counts[p][i].scores()["iou"] for p in counts]) for i in range(len(candidates))]
    return round(float(candidates[int(np.argmax(mean_iou))]), 2)


def binary_probabilities(model: torch.nn.Module, samples: Iterable[Sample], card: ModelCard, gsd_m: float | None,
                         precision: str):
    """``(place, probability, truth, valid)`` for each sample, as :func:`evaluate_samples` sees it."""
    mean, std = card_normalisation(card)
    model.eval()
    with torch.inference_mode(), autocast(model_device(model), precision):
        for s in samples:
            image, label, valid = s.data()
            probability = _at_zoom(lambda x: _probability(model, x, mean, std, card.separation), image,
                                   zoom(s.gsd_m, gsd_m))
            yield s.place, probability, (label & BUILDING).astype(bool) & valid, valid


def multiclass_scores(model: torch.nn.Module, samples: Iterable[Sample], card: ModelCard, precision: str) -> dict[str, float]:
    mean, std = card_normalisation(card)
    classes = card.num_outputs
    confusion = np.zeros((classes, classes), dtype=np.int64)
    device = model_device(model)
    model.eval()
    with torch.inference_mode(), autocast(device, precision):
        for s in samples:
            image, label, valid = s.data()
            logits = model(torch.from_numpy(normalise(image, mean, std)[None]).to(device))
            pred = logits[0].argmax(0).cpu().numpy()
            confusion += np.bincount(label[valid].astype(np.int64) * classes + pred[valid],
                                     minlength=classes * classes).reshape(classes, classes)
    return class_scores(confusion, card)


def model_device(model: torch.nn.Module) -> torch.device:
    """Where ``model``'s weights are (the CPU for a model without any)."""
    return next(model.parameters(), torch.empty(0)).device


def _probability(model: torch.nn.Module, image: np.ndarray, mean: np.ndarray, std: np.ndarray,
                 separation: bool) -> np.ndarray:
    x = torch.from_numpy(normalise(image, mean, std)[None]).to(model_device(model))
    return building_probability(model(x).float().sigmoid(), separation)[0, 0].cpu().numpy()


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


def score_dataset(model: str | None, folders: list[str], split: str = "test", device: str = "cpu",
                  precision: str = "fp32") -> dict:
    """The scores of ``model`` (as ``--model`` names it) on the ``split`` images of ``folders``
    (any training layout), as training validates: a building model sees each image at its pixel
    size, resampled to the card's, with the card's threshold."""
    net, card = registry.load(model)
    samples = [s for folder in folders for s in read_dataset(folder, split)]
    if not samples:
        raise GeosegError(f"no {split} images in {', '.join(folders)}")
    shown = tqdm(samples, desc=f"Scoring {split}", unit="image", leave=False, disable=not sys.stderr.isatty())
    scores = evaluate_samples(net.to(device), shown, card, card.gsd_m, precision)
    return {"model": card.name, "split": split, "images": len(samples), **scores}


def record_scores(path: str, scores: dict) -> None:
    """Make ``scores`` (from :func:`score_dataset`) the metrics of the card in the weights file
    ``path``, rounded, with the split they come from."""
    card = io.read_card(path)
    trained = {"epoch": card.metrics["epoch"]} if "epoch" in card.metrics else {}  # the epoch the weights are from
    card.metrics = {k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items() if k != "model"} | trained
    io.replace_card(path, card)
