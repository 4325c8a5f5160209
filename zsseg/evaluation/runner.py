"""Run a Segmenter over a dataset and accumulate the confusion matrix."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from ..image_io import load_image
from ..segmenter import Segmenter
from .datasets import SegmentationDataset
from .metrics import ConfusionMatrix


def evaluate(segmenter: Segmenter, dataset: SegmentationDataset, limit: int | None = None, unseen: Sequence[str] | None = None, progress: bool = True) -> dict:
    vocab = dataset.vocabulary
    cm = ConfusionMatrix(len(vocab))
    samples = dataset.samples[:limit] if limit else dataset.samples
    seconds = 0.0
    pred_counts = np.zeros(len(vocab), dtype=np.int64)
    for sample in tqdm(samples, desc=f"eval {dataset.spec.name}", disable=not progress, unit="img"):
        rgb = load_image(sample.image_path)
        gt = dataset.read_label(sample, rgb.shape[:2])
        t = time.perf_counter()
        seg = segmenter(rgb, vocab, unseen=unseen)
        seconds += time.perf_counter() - t
        cm.update(seg.labels, gt)
        pred_counts += np.bincount(seg.labels[gt >= 0].ravel(), minlength=len(vocab))
    out = cm.summary(vocab.names, unseen)
    out.update(images=len(samples), seconds_per_image=round(seconds / max(1, len(samples)), 3),
               predicted_share={n: round(float(c) / max(1, pred_counts.sum()), 4) for n, c in zip(vocab.names, pred_counts)})
    return out
