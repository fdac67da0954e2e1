"""Accuracy of building masks: pixel IoU/F1/precision/recall and object F1 at IoU >= 0.5
(the SpaceNet rule: one-to-one matches between predicted and true buildings).

Objects come as a boolean mask (each 4-connected component is one building) or as an
integer array of building IDs (0 for none), as polygons burnt one ID each give them: two
polygons that share an edge are two buildings, as they are in the vector file."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass
class PixelCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> "PixelCounts":
        """Count a pair of boolean masks (only where ``valid``)."""
        if valid is not None:
            pred, truth = pred[valid], truth[valid]
        self.tp += int(np.count_nonzero(pred & truth))
        self.fp += int(np.count_nonzero(pred & ~truth))
        self.fn += int(np.count_nonzero(~pred & truth))
        return self

    def scores(self) -> dict[str, float]:
        return {
            "iou": _ratio(self.tp, self.tp + self.fp + self.fn),
            "f1": _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn),
            "precision": _ratio(self.tp, self.tp + self.fp),
            "recall": _ratio(self.tp, self.tp + self.fn),
        }


@dataclass
class ObjectCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, pred: np.ndarray, truth: np.ndarray, min_iou: float = 0.5) -> "ObjectCounts":
        """Match the objects of two masks or ID arrays (see above) one to one at IoU >= ``min_iou``."""
        p_labels, n_pred = objects(pred)
        t_labels, n_true = objects(truth)
        matched = match_objects(p_labels, n_pred, t_labels, n_true, min_iou)
        self.tp += matched
        self.fp += n_pred - matched
        self.fn += n_true - matched
        return self

    def scores(self) -> dict[str, float]:
        return {
            "object_f1": _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn),
            "object_precision": _ratio(self.tp, self.tp + self.fp),
            "object_recall": _ratio(self.tp, self.tp + self.fn),
        }


def objects(mask_or_ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Objects numbered 1..n: the 4-connected components of a boolean mask, or the IDs present
    in an integer array (0 is none); and n."""
    if mask_or_ids.dtype == bool:
        return ndimage.label(mask_or_ids)
    present = np.bincount(mask_or_ids.ravel()) > 0
    present[0] = False
    number = np.cumsum(present) * present  # 1..n for the IDs present, 0 for the rest
    return number[mask_or_ids], int(np.count_nonzero(present))


def match_objects(p_labels: np.ndarray, n_pred: int, t_labels: np.ndarray, n_true: int, min_iou: float) -> int:
    """Number of one-to-one matches, taken greedily by decreasing IoU (IoU >= 0.5 pairs are
    unique anyway, so greedy equals optimal at the SpaceNet threshold)."""
    if n_pred == 0 or n_true == 0:
        return 0
    both = (p_labels > 0) & (t_labels > 0)
    pairs, overlap = np.unique(
        p_labels[both].astype(np.int64) * (n_true + 1) + t_labels[both], return_counts=True
    )
    p_ids, t_ids = pairs // (n_true + 1), pairs % (n_true + 1)
    p_area = np.bincount(p_labels.ravel(), minlength=n_pred + 1)
    t_area = np.bincount(t_labels.ravel(), minlength=n_true + 1)
    iou = overlap / (p_area[p_ids] + t_area[t_ids] - overlap)
    used_p: set[int] = set()
    used_t: set[int] = set()
    for k in np.argsort(-iou):
        if iou[k] < min_iou:
            break
        if p_ids[k] not in used_p and t_ids[k] not in used_t:
            used_p.add(int(p_ids[k]))
            used_t.add(int(t_ids[k]))
    return len(used_p)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0
