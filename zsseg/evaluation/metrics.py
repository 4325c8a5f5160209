"""Semantic-segmentation metrics from a streaming confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class ConfusionMatrix:
    """``matrix[g, p]`` counts pixels with ground truth g predicted as p (int64).

    Pixels whose ground truth is ``ignore_index`` (or outside 0..C-1) are not counted at all.
    """

    num_classes: int
    ignore_index: int = -1  # dataset readers map void pixels to -1; negative ids are never counted

    def __post_init__(self) -> None:
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        if pred.shape != gt.shape:
            raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
        gt = gt.astype(np.int64).ravel()
        pred = pred.astype(np.int64).ravel()
        keep = (gt != self.ignore_index) & (gt >= 0) & (gt < self.num_classes)
        gt, pred = gt[keep], pred[keep]
        if pred.size and (pred.min() < 0 or pred.max() >= self.num_classes):
            raise ValueError(f"prediction has labels outside 0..{self.num_classes - 1}")
        self.matrix += np.bincount(gt * self.num_classes + pred, minlength=self.num_classes**2).reshape(
            self.num_classes, self.num_classes
        )

    def iou(self) -> np.ndarray:
        """Per-class IoU = TP / (TP + FP + FN); NaN for classes absent from both GT and prediction."""
        tp = np.diag(self.matrix).astype(np.float64)
        denom = self.matrix.sum(0) + self.matrix.sum(1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, tp / denom, np.nan)

    def summary(
        self, class_names: Sequence[str] | None = None, unseen: Sequence[str] | None = None, own: int | None = None
    ) -> dict:
        """mIoU, fwIoU, mean accuracy, pixel accuracy, per-class IoU; with ``unseen``, also the
        zero-shot numbers mIoU(seen), mIoU(unseen) and their harmonic mean hIoU. With ``own``, only
        the first ``own`` classes are the labels' (every metric is theirs) and the rest names of
        things they never hold: ``absent_share`` is the % of the labelled pixels those take."""
        own = self.num_classes if own is None else own
        iou = self.iou()[:own]
        tp = np.diag(self.matrix)[:own].astype(np.float64)
        gt_count = self.matrix.sum(1)[:own].astype(np.float64)
        total = gt_count.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.where(gt_count > 0, tp / gt_count, np.nan)
        freq = gt_count / total if total else gt_count
        valid = ~np.isnan(iou)
        out = {
            "mIoU": _pct(np.nanmean(iou)) if valid.any() else float("nan"),
            "fwIoU": _pct((freq[valid] * iou[valid]).sum()) if valid.any() else float("nan"),
            "mAcc": _pct(np.nanmean(acc)) if (~np.isnan(acc)).any() else float("nan"),
            "pAcc": _pct(tp.sum() / total) if total else float("nan"),
            "pixels": int(total),
        }
        if own < self.num_classes:
            out["absent_share"] = _pct(self.matrix[:, own:].sum() / total) if total else 0.0  # % as the benchmark
        names = list(class_names)[:own] if class_names is not None else [str(i) for i in range(own)]
        out["per_class_IoU"] = {n: (None if np.isnan(v) else _pct(v)) for n, v in zip(names, iou)}
        if unseen:
            is_unseen = unseen_mask(names, unseen)
            seen_iou, unseen_iou = iou[~is_unseen], iou[is_unseen]
            s = float(np.nanmean(seen_iou)) if (~np.isnan(seen_iou)).any() else float("nan")
            u = float(np.nanmean(unseen_iou)) if (~np.isnan(unseen_iou)).any() else float("nan")
            out["mIoU_seen"] = _pct(s)
            out["mIoU_unseen"] = _pct(u)
            out["hIoU"] = _pct(2 * s * u / (s + u)) if (s + u) > 0 else 0.0
        return out


def unseen_mask(class_names: Sequence[str], unseen: Sequence[str]) -> np.ndarray:
    """Bool [C]: which classes are unseen (case-insensitive); every unseen name must be a class."""
    lower = [n.lower() for n in class_names]
    missing = [u for u in unseen if u.lower() not in lower]
    if missing:
        raise ValueError(f"unseen classes not in the class list: {missing}")
    unseen_lower = {u.lower() for u in unseen}
    return np.array([n in unseen_lower for n in lower])


def _pct(x: float) -> float:
    return round(100.0 * float(x), 4)
