"""Boxes, windows and binary-mask geometry shared by the stages (as segment-anything's utils/amg.py).

Boxes are (x0, y0, x1, y1) pixel coordinates with x1/y1 exclusive unless a name says otherwise.
"""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import torch


def mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight boxes [Q, 4] as (x0, y0, x1, y1), x1/y1 exclusive, of non-empty binary masks [Q, H, W]."""
    rows = masks.any(dim=2)
    cols = masks.any(dim=1)
    h, w = masks.shape[1:]
    ar_h = torch.arange(h, device=masks.device)
    ar_w = torch.arange(w, device=masks.device)
    y0 = torch.where(rows, ar_h, h).min(1).values
    y1 = torch.where(rows, ar_h, -1).max(1).values + 1
    x0 = torch.where(cols, ar_w, w).min(1).values
    x1 = torch.where(cols, ar_w, -1).max(1).values + 1
    return torch.stack([x0, y0, x1, y1], dim=1)


def expand_box(box: tuple[int, int, int, int], ratio: float, width: int, height: int) -> tuple[int, int, int, int]:
    """Scale a box about its centre and clip it to the image (zsseg.baseline's expand_box)."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    bw, bh = (x1 - x0) * ratio, (y1 - y0) * ratio
    nx0, ny0 = max(0, int(cx - bw / 2)), max(0, int(cy - bh / 2))
    nx1, ny1 = min(width, int(cx + bw / 2)), min(height, int(cy + bh / 2))
    return nx0, ny0, max(nx1, nx0 + 1), max(ny1, ny0 + 1)


def window_boxes(h: int, w: int, scales: tuple[float, ...]) -> list[tuple[int, int, int, int]]:
    """Square windows at each scale of the short side, with half-window overlap, covering the image."""
    boxes = []
    for s in scales:
        side = max(8, int(round(min(h, w) * s)))
        stride = max(1, side // 2)
        ys = list(range(0, max(h - side, 0) + 1, stride))
        xs = list(range(0, max(w - side, 0) + 1, stride))
        if ys[-1] + side < h:
            ys.append(h - side)
        if xs[-1] + side < w:
            xs.append(w - side)
        boxes += [(x, y, min(x + side, w), min(y + side, h)) for y in ys for x in xs]
    return list(dict.fromkeys(boxes))


def box_pixel_counts(binary: torch.Tensor, boxes: list[tuple[int, int, int, int]]) -> torch.Tensor:
    """[Q, K] pixels of each binary mask [Q, H, W] inside each box (x0, y0, x1, y1): two matrix
    products with the boxes' row and column indicators (3x faster than summing every box slice)."""
    _, h, w = binary.shape
    rows = torch.zeros(len(boxes), h, device=binary.device)
    cols = torch.zeros(len(boxes), w, device=binary.device)
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        rows[k, y0:y1] = 1
        cols[k, x0:x1] = 1
    per_row = binary.float() @ cols.t()  # [Q, H, K]: each row's pixels inside box k's columns
    return torch.einsum("qhk,kh->qk", per_row, rows)


def identical_masks(binary: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Binary masks [Q, H, W] -> (indices of the distinct masks, [Q] position of each mask's
    identical twin among them), or None when no two are identical. Trained proposal networks often
    give several queries the same mask; only masks that agree on a sparse grid of pixels are
    compared in full."""
    first: dict[int, list[int]] = {}
    twin_of = []
    for i, key in enumerate(binary[:, ::7, ::7].flatten(1).sum(1).tolist()):  # 1/49 of the pixels: cheap
        same = next((j for j in first.get(key, []) if torch.equal(binary[i], binary[j])), None)
        if same is None:
            first.setdefault(key, []).append(i)
        twin_of.append(i if same is None else same)
    distinct = sorted(i for group in first.values() for i in group)
    if len(distinct) == len(twin_of):
        return None
    position = {i: k for k, i in enumerate(distinct)}
    return torch.tensor(distinct, dtype=torch.long), torch.tensor([position[j] for j in twin_of], dtype=torch.long)


def same_shape_groups(shapes: list[tuple[int, ...]]) -> list[list[int]]:
    """Indices of the items of each distinct shape, in first-seen order: what may be stacked into one
    batch (padding to a common size would change a network's outputs)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, shape in enumerate(shapes):
        groups.setdefault(tuple(shape), []).append(i)
    return list(groups.values())


def mask_boxes_inclusive(masks: torch.Tensor) -> torch.Tensor:
    """(x0, y0, x1, y1) with inclusive x1/y1 of binary masks [N, H, W]; zeros for empty masks."""
    if masks.shape[0] == 0:
        return torch.zeros(0, 4)
    box = mask_boxes(masks)
    box[:, 2:] -= 1
    box[~masks.flatten(1).any(1)] = 0
    return box


def box_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression on (x0, y0, x1, y1) boxes; indices kept, best first."""
    order = torch.argsort(scores, descending=True)
    boxes = boxes.float()
    area = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    keep: list[int] = []
    suppressed = torch.zeros(len(boxes), dtype=torch.bool)
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        lt = torch.maximum(boxes[i, :2], boxes[:, :2])
        rb = torch.minimum(boxes[i, 2:], boxes[:, 2:])
        inter = (rb - lt).clamp(min=0).prod(1)
        iou = inter / (area[i] + area - inter).clamp(min=1e-9)
        suppressed |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.long)


def point_grid(n: int) -> np.ndarray:
    """n x n points at cell centres of the unit square, row by row, as (x, y)."""
    c = (np.arange(n) + 0.5) / n
    xs, ys = np.meshgrid(c, c)
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def crop_boxes(
    height: int, width: int, n_layers: int, overlap_ratio: float
) -> list[tuple[tuple[int, int, int, int], int]]:
    """(box, layer) for the whole image and, per layer i >= 1, (2^i)^2 overlapping crops (SAM's scheme)."""
    out = [((0, 0, width, height), 0)]
    short = min(height, width)
    for layer in range(1, n_layers + 1):
        per_side = 2**layer
        overlap = int(overlap_ratio * short * (2 / per_side))
        cw = math.ceil((overlap * (per_side - 1) + width) / per_side)
        ch = math.ceil((overlap * (per_side - 1) + height) / per_side)
        for x0, y0 in product(
            [int((cw - overlap) * i) for i in range(per_side)], [int((ch - overlap) * i) for i in range(per_side)]
        ):
            out.append(((x0, y0, min(x0 + cw, width), min(y0 + ch, height)), layer))
    return out
