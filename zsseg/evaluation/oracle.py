"""Oracle analysis of stage 1: how good could the result be if stage 2 were perfect?

Each proposal is labelled with the ground-truth class covering most of it, and the semantic map
is built exactly as the pipeline builds it. Proposal recall is the share of ground-truth segments
(one per class present in an image) matched by a proposal with IoU >= 0.5.
"""

from __future__ import annotations

import numpy as np
import torch

from ..ensemble import semantic_map
from ..proposals import Proposals


def oracle_probs(masks: torch.Tensor, gt_small: np.ndarray, n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One-hot probabilities [Q', C] of each proposal's majority class, and which proposals had any
    labelled pixel (masks entirely on ignored pixels carry no label and are dropped)."""
    binary = (masks > 0.5).flatten(1).float()  # [Q, N]
    gt = torch.from_numpy(gt_small.ravel())
    valid_px = gt >= 0
    onehot = torch.zeros(n_classes, gt.numel())
    onehot[gt[valid_px], torch.nonzero(valid_px).flatten()] = 1
    hist = binary @ onehot.t()  # [Q, C] labelled pixels per class
    keep = hist.sum(1) > 0
    probs = torch.zeros(int(keep.sum()), n_classes)
    probs[torch.arange(probs.shape[0]), hist[keep].argmax(1)] = 1
    return probs, keep


def segment_recall(
    masks: torch.Tensor, gt_small: np.ndarray, n_classes: int, iou: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """(segments per class, segments matched per class) for one image."""
    binary = (masks > 0.5).flatten(1).float()
    gt = torch.from_numpy(gt_small.ravel())
    total = np.zeros(n_classes, np.int64)
    matched = np.zeros(n_classes, np.int64)
    area = binary.sum(1)
    for c in torch.unique(gt[gt >= 0]).tolist():
        seg = (gt == c).float()
        inter = binary @ seg
        ious = inter / (area + seg.sum() - inter).clamp(min=1)
        total[c] += 1
        matched[c] += int(bool((ious >= iou).any())) if len(ious) else 0
    return total, matched


def oracle_labels(
    props: Proposals, gt: np.ndarray, work_shape: tuple[int, int], n_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(oracle label map at gt's size, segments per class, matched segments per class)."""
    gt_small = _resize_nearest(gt, work_shape)
    masks = props.masks.cpu()  # a network's masks come on its device; the ground truth is on the host
    probs, keep = oracle_probs(masks, gt_small, n_classes)
    total, matched = segment_recall(masks, gt_small, n_classes)
    if probs.shape[0] == 0:  # nothing labelled in this image: every pixel is ignored anyway
        return np.zeros(gt.shape, np.int64), total, matched
    labels, _ = semantic_map(probs, masks[keep].float(), gt.shape)
    return labels.numpy(), total, matched


def _resize_nearest(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if labels.shape == tuple(shape):
        return labels
    ys = (np.arange(shape[0]) + 0.5) * labels.shape[0] / shape[0]
    xs = (np.arange(shape[1]) + 0.5) * labels.shape[1] / shape[1]
    return labels[ys.astype(np.int64).clip(0, labels.shape[0] - 1)][:, xs.astype(np.int64).clip(0, labels.shape[1] - 1)]
