"""Stage 3: combine class scores and turn (mask, class-probability) pairs into a label map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy import ndimage

from .backends.base import Backend


def class_probabilities(backend: Backend, image_emb: torch.Tensor, text_emb: torch.Tensor, groups: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Softmax over classes of the backend's logits; a class's logit is the max over its synonyms.

    image_emb [Q, D], text_emb [S, D] (one row per prompt name), groups [S] -> class index.
    """
    logits = backend.class_logits(image_emb.to(text_emb.device), text_emb)  # [Q, S]
    per_class = logits.new_full((logits.shape[0], n_classes), float("-inf"))
    per_class = per_class.scatter_reduce(1, groups.expand(logits.shape[0], -1), logits, reduce="amax")
    return per_class.softmax(dim=-1)


def ensemble(p_clip: torch.Tensor, p_q: torch.Tensor | None, seen: torch.Tensor | None, weight: float) -> torch.Tensor:
    """zsseg.baseline's geometric ensemble of the proposal network's and the VLM's probabilities.

    seen classes: p_q^w * p_clip^(1-w); unseen classes: p_q^(1-w) * p_clip^w. Without p_q: p_clip.
    ``seen`` is a bool [C]; None means every class is unseen (the cross-dataset setting).
    """
    if p_q is None:
        return p_clip
    if seen is None:
        seen = torch.zeros(p_clip.shape[1], dtype=torch.bool, device=p_clip.device)
    s = seen.to(p_clip.device)[None, :].to(p_clip.dtype)
    seen_part = p_q.pow(weight) * p_clip.pow(1 - weight)
    unseen_part = p_q.pow(1 - weight) * p_clip.pow(weight)
    return s * seen_part + (1 - s) * unseen_part


def fill_uncovered(masks: torch.Tensor) -> torch.Tensor:
    """Give pixels that no mask covers the mask values of the nearest covered pixel."""
    covered = (masks > 0).any(0).numpy()
    if covered.all() or not covered.any():
        return masks
    _, (iy, ix) = ndimage.distance_transform_edt(~covered, return_indices=True)
    return masks[:, torch.from_numpy(iy), torch.from_numpy(ix)]


def semantic_map(
    probs: torch.Tensor,
    masks: torch.Tensor,
    out_size: tuple[int, int],
    max_chunk_bytes: int = 256 << 20,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel scores S[c] = sum_q probs[q, c] * masks[q], bilinearly resized to ``out_size``, argmax.

    Classes are processed in chunks with a running max, so no [C, H, W] array at the output size
    is ever held (ADE-847 on a 12 MP photo stays within a few hundred MB).
    Returns (labels [H, W] int64, confidence [H, W] = winning score / total score).
    """
    q, h, w = masks.shape
    oh, ow = out_size
    masks = masks.float()
    probs = probs.float()
    n_classes = probs.shape[1]
    chunk = max(1, min(n_classes, max_chunk_bytes // max(1, 4 * max(oh * ow, h * w))))
    best = torch.full((oh, ow), float("-inf"))
    labels = torch.zeros((oh, ow), dtype=torch.long)
    for start in range(0, n_classes, chunk):
        scores = torch.einsum("qc,qhw->chw", probs[:, start : start + chunk], masks)
        if (h, w) != (oh, ow):
            scores = F.interpolate(scores[None], size=(oh, ow), mode="bilinear", align_corners=False)[0]
        value, index = scores.max(0)
        better = value > best
        best = torch.where(better, value, best)
        labels = torch.where(better, index + start, labels)
        del scores
    total = torch.einsum("q,qhw->hw", probs.sum(1), masks)
    if (h, w) != (oh, ow):
        total = F.interpolate(total[None, None], size=(oh, ow), mode="bilinear", align_corners=False)[0, 0]
    confidence = best / total.clamp(min=1e-12)
    return labels, confidence
