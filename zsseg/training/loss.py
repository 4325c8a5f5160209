"""Hungarian matching and the MaskFormer losses (zsseg.baseline's weights), with ignored pixels.

Costs: class 1, sigmoid focal 20, dice 1. Losses: cross-entropy (no-object weight 0.1), sigmoid
focal ×20 and dice ×1 on matched masks, on every decoder layer (deep supervision). Pixels of
unseen or void classes are excluded from the mask terms, so nothing is learned about them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment


@dataclass
class Target:
    labels: torch.Tensor  # [T] class indices in the training vocabulary
    masks: torch.Tensor  # [T, H, W] bool, at the image's resolution
    valid: torch.Tensor  # [H, W] bool: pixels that count (not void, not unseen)
    # [C] bool: the classes this image's dataset labels (None: all). A VOC photo's sky is
    # "background" and a CamVid frame's is "sky": each image is scored only against its own
    # dataset's classes, so datasets with overlapping label sets train one class head.
    label_space: torch.Tensor | None = None
    # [T] bool: targets whose class is labelled wherever it occurs (None: none). Their masks count
    # every pixel, an unlabelled one as "not this class": a `zsseg finetune` folder labels every
    # pixel of its classes, so a new class must not spread over the pixels the folder leaves at 255.
    complete: torch.Tensor | None = None


@dataclass(frozen=True)
class LossWeights:
    ce: float = 1.0
    focal: float = 20.0
    dice: float = 1.0
    no_object: float = 0.1
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    # With a teacher (learning without forgetting): every query no target claims keeps the teacher's
    # class distribution (KL) and mask (binary cross-entropy against its sigmoid, less its entropy).
    distil_class: float = 4.0
    distil_mask: float = 4.0


def sigmoid_focal(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """Element-wise sigmoid focal loss (Lin et al. 2017)."""
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    return (alpha * targets + (1 - alpha) * (1 - targets)) * loss


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """1 - (2|P∩T| + 1) / (|P| + |T| + 1) per row of [N, P] (soft prediction, valid pixels only)."""
    p = logits.sigmoid() * valid
    t = targets * valid
    return 1 - (2 * (p * t).sum(-1) + 1) / (p.sum(-1) + t.sum(-1) + 1)


@torch.no_grad()
def match(
    logits: torch.Tensor, masks: torch.Tensor, target: Target, weights: LossWeights = LossWeights()
) -> tuple[torch.Tensor, torch.Tensor]:
    """Optimal (query, target) pairs for one image. logits [Q, C+1], masks [Q, h, w] (logits)."""
    if len(target.labels) == 0:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    prob = logits.softmax(-1)
    cost_class = -prob[:, target.labels]
    tgt, valid = _targets_at(masks.shape[-2:], target)
    pred = masks.flatten(1)
    n = valid.sum(-1).clamp(min=1)
    pos = sigmoid_focal(pred, torch.ones_like(pred), weights.focal_alpha, weights.focal_gamma)
    neg = sigmoid_focal(pred, torch.zeros_like(pred), weights.focal_alpha, weights.focal_gamma)
    cost_focal = (pos @ (tgt * valid).t() + neg @ ((1 - tgt) * valid).t()) / n
    sig = pred.sigmoid()
    cost_dice = 1 - (2 * sig @ (tgt * valid).t() + 1) / (sig @ valid.t() + tgt.sum(-1)[None, :] + 1)
    cost = weights.ce * cost_class + weights.focal * cost_focal + weights.dice * cost_dice
    rows, cols = linear_sum_assignment(cost.cpu().numpy())
    return torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long)


def _targets_at(size: tuple[int, int], target: Target) -> tuple[torch.Tensor, torch.Tensor]:
    """Target masks [T, h*w] and the pixels that count for each [T, h*w] (every pixel for a
    ``complete`` target), resized (nearest) to the prediction's size."""
    tgt = F.interpolate(target.masks[None].float(), size=size, mode="nearest")[0].flatten(1)
    valid = F.interpolate(target.valid[None, None].float(), size=size, mode="nearest")[0, 0].flatten()
    valid = valid.expand_as(tgt)
    if target.complete is not None:
        valid = torch.where(target.complete.to(tgt.device)[:, None], torch.ones_like(tgt), valid)
    return tgt, valid


def layer_loss(
    logits: torch.Tensor,
    masks: torch.Tensor,
    targets: list[Target],
    weights: LossWeights,
    num_masks: float,
    teacher: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Losses of one decoder layer for a batch. logits [B, Q, C+1], masks [B, Q, h, w].

    ``teacher``: the same layer of a teacher network whose K classes are the first K here
    (``pred_logits`` [B, Q, K+1], ``pred_masks``). Queries no target claims are then not pushed to
    "no object" but kept where the teacher has them (``distillation``)."""
    n_classes = logits.shape[-1] - 1
    raw = logits
    logits = restrict_to_label_spaces(logits, targets)
    class_weight = torch.ones(n_classes + 1, device=logits.device)
    class_weight[-1] = weights.no_object
    target_classes = torch.full(logits.shape[:2], n_classes, dtype=torch.long, device=logits.device)
    focal = logits.new_zeros(())
    dice = logits.new_zeros(())
    for b, target in enumerate(targets):
        rows, cols = match(logits[b], masks[b], target, weights)
        if len(rows) == 0:
            continue
        target_classes[b, rows] = target.labels[cols].to(logits.device)
        tgt, valid = _targets_at(masks.shape[-2:], target)
        pred = masks[b, rows].flatten(1)
        tgt, valid = tgt[cols], valid[cols]
        n_valid = valid.sum(-1).clamp(min=1)
        focal = (
            focal
            + (sigmoid_focal(pred, tgt, weights.focal_alpha, weights.focal_gamma) * valid).sum(-1).div(n_valid).sum()
        )
        dice = dice + dice_loss(pred, tgt, valid).sum()
    if teacher is None:
        ce = F.cross_entropy(logits.transpose(1, 2), target_classes, weight=class_weight)
        return {"ce": ce, "focal": focal / num_masks, "dice": dice / num_masks}
    free = target_classes == n_classes  # the queries no target claimed
    claimed = torch.where(free, torch.full_like(target_classes, -100), target_classes)
    # a batch where every query is free has no class target: its cross-entropy is 0, not NaN (from the
    # unrestricted logits: a label space's -inf times 0 would be NaN too)
    ce = F.cross_entropy(logits.transpose(1, 2), claimed, weight=class_weight) if (~free).any() else raw.sum() * 0
    kl, bce = distillation(raw, masks, teacher["pred_logits"], teacher["pred_masks"], free)
    return {"ce": ce, "focal": focal / num_masks, "dice": dice / num_masks, "distil_class": kl, "distil_mask": bce}


def distillation(
    logits: torch.Tensor, masks: torch.Tensor, t_logits: torch.Tensor, t_masks: torch.Tensor, free: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Learning without forgetting, per query (student and teacher queries correspond: the student
    starts from the teacher's weights). Class: KL(teacher || student) where the teacher's K classes
    are the student's first K and "no object" is the last of both; the student's other classes get
    the teacher's 0, so a free query learns not to call anything a new class. Mask: binary
    cross-entropy of the student's mask logits against the teacher's sigmoid, less the latter's
    entropy (0 when they agree). Both averaged over the ``free`` queries [B, Q] (0 when none)."""
    if not free.any():
        zero = logits.sum() * 0
        return zero, zero
    k = t_logits.shape[-1] - 1
    p_t = t_logits.softmax(-1)
    log_s = logits.log_softmax(-1)
    log_s = torch.cat([log_s[..., :k], log_s[..., -1:]], -1)
    kl = (p_t * (p_t.clamp(min=1e-12).log() - log_s)).sum(-1)
    if t_masks.shape[-2:] != masks.shape[-2:]:
        t_masks = F.interpolate(t_masks, size=masks.shape[-2:], mode="bilinear", align_corners=False)
    target = t_masks.sigmoid()
    bce = F.binary_cross_entropy_with_logits(masks, target, reduction="none")
    bce = (bce - F.binary_cross_entropy_with_logits(t_masks, target, reduction="none")).mean((-2, -1))
    return kl[free].mean(), bce[free].mean()


def restrict_to_label_spaces(logits: torch.Tensor, targets: list[Target]) -> torch.Tensor:
    """logits [B, Q, C+1] with the classes outside each image's label space set to -inf (the
    matcher's and the cross-entropy's softmax then run over that space and "no object")."""
    if all(t.label_space is None for t in targets):
        return logits
    n_classes = logits.shape[-1] - 1
    space = torch.ones(len(targets), n_classes + 1, dtype=torch.bool, device=logits.device)
    for b, t in enumerate(targets):
        if t.label_space is not None:
            space[b, :n_classes] = t.label_space.to(logits.device)
    return logits.masked_fill(~space[:, None, :], float("-inf"))


def criterion(
    outputs: list[dict[str, torch.Tensor]],
    targets: list[Target],
    weights: LossWeights = LossWeights(),
    num_masks: float | None = None,
    teacher: list[dict[str, torch.Tensor]] | None = None,
) -> dict[str, torch.Tensor]:
    """Weighted sum over every decoder layer; returns the parts of the last layer and ``total``.
    ``teacher``: a teacher network's outputs, layer for layer (see ``layer_loss``)."""
    if num_masks is None:
        num_masks = max(1.0, float(sum(len(t.labels) for t in targets)))
    total = outputs[-1]["pred_logits"].new_zeros(())
    last: dict[str, torch.Tensor] = {}
    for i, out in enumerate(outputs):
        t = None if teacher is None else teacher[i]
        parts = layer_loss(out["pred_logits"], out["pred_masks"], targets, weights, num_masks, t)
        total = total + weights.ce * parts["ce"] + weights.focal * parts["focal"] + weights.dice * parts["dice"]
        if t is not None:
            total = total + weights.distil_class * parts["distil_class"] + weights.distil_mask * parts["distil_mask"]
        last = parts
    return {**{k: v.detach() for k, v in last.items()}, "total": total}


def semantic_targets(
    label: torch.Tensor,
    seen_ids: torch.Tensor | None = None,
    label_space: torch.Tensor | None = None,
    complete: torch.Tensor | None = None,
) -> Target:
    """One target per class present in a semantic label map [H, W] (-1 = ignore).

    With ``seen_ids`` (dataset class ids the network trains on, in training-vocabulary order),
    every other class is ignored like void pixels and target labels index ``seen_ids``.
    ``label_space``: see ``Target``; ``complete`` [C] bool: the classes labelled wherever they
    occur (``Target.complete``)."""
    valid = label >= 0
    if seen_ids is not None:
        valid &= torch.isin(label, seen_ids)
    present = torch.unique(label[valid])
    masks = label[None] == present[:, None, None]
    if seen_ids is not None:
        present = seen_lut(seen_ids, label)[present]
    present = present.long()
    whole = None if complete is None else complete.to(present.device)[present]
    return Target(present, masks, valid, label_space, whole)


def seen_lut(seen_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Dataset class id -> index in ``seen_ids`` (-1 for every other id up to ``labels.max()``)."""
    lut = torch.full((int(max(seen_ids.max(), labels.max())) + 1,), -1, dtype=torch.long, device=labels.device)
    lut[seen_ids.to(labels.device)] = torch.arange(len(seen_ids), device=labels.device)
    return lut


def per_pixel_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    seen_ids: torch.Tensor | None = None,
    label_space: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Cross-entropy of the per-pixel baseline: class logits [B, C, h, w] upsampled (bilinear) to
    the labels [B, H, W]; dataset class ``seen_ids[k]`` is target k (None: labels are already
    training indices), unseen and void pixels are ignored. ``label_space`` [B, C] bool: each
    image's softmax runs over its dataset's classes only (see ``Target``)."""
    target = (
        labels if seen_ids is None else torch.where(labels >= 0, seen_lut(seen_ids, labels)[labels.clamp(min=0)], -1)
    )
    if not (target >= 0).any():
        ce = logits.sum() * 0.0  # a crop with nothing seen: no signal, but keep the graph for DDP
    else:
        up = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
        if label_space is not None:  # after the resize: bilinear weights of 0 times -inf would be NaN
            up = up.masked_fill(~label_space.to(up.device)[:, :, None, None], float("-inf"))
        ce = F.cross_entropy(up, target, ignore_index=-1)
    return {"ce": ce.detach(), "total": ce}
