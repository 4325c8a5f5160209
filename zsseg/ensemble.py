"""Stage 3: combine class scores and turn (mask, class-probability) pairs into a label map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy import ndimage

from .proposals.base import ClassScores

# How the proposal network's class scores and the VLM's are combined (docs/design.md, "Ensemble").
ENSEMBLES = ("reference", "arbitrated")


def combine(
    p_vlm: torch.Tensor,
    valid: torch.Tensor,
    scores: ClassScores | None = None,
    seen_weight: float = 0.8,
    unseen_weight: float | None = None,
    rule: str = "reference",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-proposal class probabilities: (probs [K, C], keep [Q] bool = the proposals they belong to).

    p_vlm [Q', C]: the VLM's probabilities of the ``valid`` proposals (those with pixels above the
    crop threshold). Without the generator's own ``scores`` only the valid proposals count; with
    them every proposal does: under ``reference`` one without a crop keeps p_q alone (its VLM
    probability is 1, as zsseg.baseline), under ``arbitrated`` the VLM has no opinion on it (a
    uniform p_vlm). With λ = ``seen_weight`` and u = ``unseen_weight`` (None: 1 - λ, the paper's):

    - ``reference`` (zsseg.baseline): seen classes p_q^λ · p_vlm^(1-λ), unseen p_q^u · p_vlm^(1-u),
      p_q the network's probability with "no object" dropped after the softmax.
    - ``arbitrated``: the network names its own classes, the VLM arbitrates between them and the
      rest. Seen c: o · p_c^λ · P_vlm(seen)^(1-λ); unseen c: o · p_c^u · p_vlm(c)^(1-u), where
      o = P(object), p = p_q / o the network's class distribution given an object, and
      P_vlm(seen) the VLM's probability of the seen classes together. A query the network calls
      "no object" weighs nothing for any class (under ``reference`` an unseen class's p_q^u, u
      small, lifts every such query to a vote for whatever the VLM likes); the VLM cannot reorder
      the seen classes, which it knows worse than the network (stuff, for an ImageNet classifier),
      but it can hand a region to an unseen class; and with every class seen this is the network alone.
    A duplicate class (``zsseg.text.read_classes``: its nearest known class answers for another)
    is that class named twice: the group is scored as one seen class (the network's probability of
    the known class, the group's VLM mass), and its score is shared among the group's names as the
    VLM prefers them ("chair, armchair": the network finds chairs, the VLM says which).
    """
    if scores is None:
        return p_vlm, valid
    if rule not in ENSEMBLES:
        raise ValueError(f"unknown ensemble rule {rule!r}; choose one of {', '.join(ENSEMBLES)}")
    neutral = 1.0 if rule == "reference" else 1.0 / p_vlm.shape[1]
    full = torch.full((len(valid), p_vlm.shape[1]), neutral, dtype=p_vlm.dtype, device=p_vlm.device)
    full[valid.to(full.device)] = p_vlm
    p_q = scores.probs.to(full, copy=True)  # groups are written into it below
    u = 1 - seen_weight if unseen_weight is None else unseen_weight
    groups = _duplicate_groups(scores)
    seen = (scores.seen | scores.duplicate).to(full.device)[None, :]
    seen_mass = (full * seen).sum(1, keepdim=True)
    shares = [full[:, m] / full[:, m].sum(1, keepdim=True).clamp(min=1e-12) for m in groups]
    for members in groups:  # a group scores as its class: the network's and the VLM's probability of it
        p_q[:, members] = p_q[:, members].sum(1, keepdim=True)
        full[:, members] = full[:, members].sum(1, keepdim=True)
    if rule == "arbitrated":
        o = scores.objectness.to(full)[:, None]
        p = (p_q / o.clamp(min=1e-12)).clamp(max=1)
        out = o * torch.where(seen, p.pow(seen_weight) * seen_mass.pow(1 - seen_weight), p.pow(u) * full.pow(1 - u))
    else:
        out = torch.where(seen, p_q.pow(seen_weight) * full.pow(1 - seen_weight), p_q.pow(u) * full.pow(1 - u))
    for members, share in zip(groups, shares):  # ... shared among its names as the VLM prefers them
        out[:, members] = out[:, members] * share
    return out, torch.ones_like(valid)


def _duplicate_groups(scores: ClassScores) -> list[list[int]]:
    """The vocabulary indices of each class that duplicates are read as, the class first."""
    index = {r.name: c for c, r in enumerate(scores.readings)}
    groups: dict[int, list[int]] = {}
    for c, r in enumerate(scores.readings):
        if r.duplicate:
            k = index[r.duplicate_of]
            groups.setdefault(k, [k]).append(c)
    return list(groups.values())


def fill_uncovered(masks: torch.Tensor) -> torch.Tensor:
    """Give pixels that no mask covers the mask values of the nearest covered pixel (on the masks'
    device; only a map with uncovered pixels goes through the host, for the distance transform)."""
    covered = masks.amax(0) > 0  # masks are >= 0: as (masks > 0).any(0), without a [Q, H, W] bool array
    if bool(covered.all()) or not bool(covered.any()):
        return masks
    _, (iy, ix) = ndimage.distance_transform_edt(~covered.cpu().numpy(), return_indices=True)
    return masks[:, torch.from_numpy(iy).to(masks.device), torch.from_numpy(ix).to(masks.device)]


def semantic_map(
    probs: torch.Tensor,
    masks: torch.Tensor,
    out_size: tuple[int, int],
    max_chunk_bytes: int = 256 << 20,
    filled: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel scores S[c] = sum_q probs[q, c] * masks[q], bilinearly resized to ``out_size``, argmax.

    Exact without resizing the C score maps: bilinear resizing mixes the 4 working-resolution
    pixels around an output pixel, and where those 4 share their argmax every mixture has that
    argmax too. So the argmax is taken at working resolution (classes in chunks, running max),
    and only output pixels between working pixels that disagree are scored, over the few classes
    that can win there. ADE-847 on a 12 MP photo needs no [C, H, W] array at either size.
    Pixels no mask covers take the masks of the nearest covered pixel first (``fill_uncovered``;
    ``filled``: the caller has done so, and its check is not repeated on the hot path).
    Returns (labels [H, W] int64, confidence [H, W] = winning score / total score).
    """
    if not filled:
        masks = fill_uncovered(masks)
    _, h, w = masks.shape
    oh, ow = out_size
    masks = masks.float()
    probs = probs.float().to(masks.device)
    device = masks.device
    n_classes = probs.shape[1]
    arg, best, total = _running_argmax(probs, masks, (h, w), max_chunk_bytes)
    if (h, w) == (oh, ow):
        return arg, best / total.clamp(min=1e-12)

    # PyTorch's bilinear taps (align_corners=False): source rows y0 and y0 + 1 (clamped), weight ly on the second.
    y0, ly = _bilinear_taps(h, oh, device)
    x0, lx = _bilinear_taps(w, ow, device)
    labels = arg[y0][:, x0]
    best_out = _resize(best, (oh, ow))  # right wherever the 4 taps agree (then best = that class's score)
    confidence_total = _resize(total, (oh, ow))

    # working cells (top-left tap y, x) whose 4 taps disagree
    ry, rx = y0.unique(), x0.unique()
    ny, nx = _next_tap(ry, h), _next_tap(rx, w)
    c00, c01, c10, c11 = arg[ry][:, rx], arg[ry][:, nx], arg[ny][:, rx], arg[ny][:, nx]
    mixed = (c00 != c01) | (c00 != c10) | (c00 != c11)
    if not mixed.any():
        return labels, best_out / confidence_total.clamp(min=1e-12)
    if mixed.float().mean() > 0.25:  # no large agreeing areas (noise-like maps): resizing every map is cheaper
        labels, best_out, total_out = _running_argmax(probs, masks, out_size, max_chunk_bytes)
        return labels, best_out / total_out.clamp(min=1e-12)
    corners, py, px, cid = _mixed_cells(mixed, ry, rx, y0, x0, (h, w))
    flat_masks = masks.flatten(1)
    cells_per_chunk = max(1, max_chunk_bytes // (16 * n_classes))  # bounds the [cells, 4, C] scores
    for a in range(0, len(corners), cells_per_chunk):
        b = min(len(corners), a + cells_per_chunk)
        s = (probs.t() @ flat_masks[:, corners[a:b].flatten()]).t().reshape(b - a, 4, n_classes)  # [m, 4, C]
        # A class can only win a mixture if its best tap reaches the best worst-tap score.
        lo, hi = s.min(1).values, s.max(1).values
        can_win = hi >= lo.max(1, keepdim=True).values
        k = int(can_win.sum(1).max())
        cand = torch.where(can_win, hi, float("-inf")).topk(k, dim=1).indices  # [m, K]
        cand_ok = can_win.gather(1, cand)
        cs = s.gather(2, cand[:, None, :].expand(-1, 4, -1))  # [m, 4, K]
        first, last = int(torch.searchsorted(cid, a)), int(torch.searchsorted(cid, b))
        pixels_per_chunk = max(1, max_chunk_bytes // (16 * k))
        for i in range(first, last, pixels_per_chunk):
            j = min(last, i + pixels_per_chunk)
            c, qy, qx = cid[i:j] - a, py[i:j], px[i:j]
            wy, wx, v = ly[qy, None], lx[qx, None], cs[c]
            mix = (1 - wy) * ((1 - wx) * v[:, 0] + wx * v[:, 1]) + wy * ((1 - wx) * v[:, 2] + wx * v[:, 3])
            value, pick = torch.where(cand_ok[c], mix, float("-inf")).max(1)
            labels[qy, qx] = cand[c, pick]
            best_out[qy, qx] = value
    return labels, best_out / confidence_total.clamp(min=1e-12)


def _mixed_cells(
    mixed: torch.Tensor,
    ry: torch.Tensor,
    rx: torch.Tensor,
    y0: torch.Tensor,
    x0: torch.Tensor,
    size: tuple[int, int],
) -> tuple[torch.Tensor, ...]:
    """The working cells whose 4 taps disagree (``mixed`` over top-left taps ``ry`` x ``rx``): their
    taps' flat indices [M, 4], and the output pixels (py, px) in them with their cell's index, grouped
    by cell (``y0``, ``x0``: each output row's and column's top-left tap)."""
    h, w = size
    device = mixed.device
    cy, cx = mixed.nonzero(as_tuple=True)
    ty, tx = ry[cy], rx[cx]
    corners = torch.stack(
        [ty * w + tx, ty * w + _next_tap(tx, w), _next_tap(ty, h) * w + tx, _next_tap(ty, h) * w + _next_tap(tx, w)], 1
    )
    cell_id = torch.full((h, w), -1, dtype=torch.int32, device=device)
    cell_id[ty, tx] = torch.arange(len(ty), dtype=torch.int32, device=device)
    out_cell = cell_id[y0][:, x0]
    py, px = (out_cell >= 0).nonzero(as_tuple=True)
    cid = out_cell[py, px].long()
    order = cid.argsort(stable=True)
    return corners, py[order], px[order], cid[order]


def _running_argmax(
    probs: torch.Tensor, masks: torch.Tensor, size: tuple[int, int], max_chunk_bytes: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per pixel at ``size``: (argmax, max, sum) over classes of the scores sum_q probs[q, c] * masks[q],
    bilinearly resized when ``size`` is not the masks' own (classes in chunks, running max)."""
    h, w = masks.shape[1:]
    resize = (h, w) != tuple(size)
    n_classes = probs.shape[1]
    chunk = max(1, min(n_classes, max_chunk_bytes // (4 * max(h * w, size[0] * size[1]))))
    best = torch.full(size, float("-inf"), device=masks.device)
    arg = torch.zeros(size, dtype=torch.long, device=masks.device)
    for start in range(0, n_classes, chunk):
        scores = torch.einsum("qc,qhw->chw", probs[:, start : start + chunk], masks)
        if resize:
            scores = F.interpolate(scores[None], size=size, mode="bilinear", align_corners=False)[0]
        value, index = scores.max(0)
        del scores  # freed before the next chunk's scores exist: one chunk at a time
        better = value > best
        best = torch.where(better, value, best)
        arg = torch.where(better, index + start, arg)
    total = torch.einsum("q,qhw->hw", probs.sum(1), masks)
    return arg, best, _resize(total, size) if resize else total


def _bilinear_taps(n_in: int, n_out: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """First source index i0 and the weight of the second (``_next_tap(i0)``) for each output index,
    as F.interpolate's bilinear mode computes them with align_corners=False."""
    src = ((torch.arange(n_out, dtype=torch.float32, device=device) + 0.5) * (n_in / n_out) - 0.5).clamp(min=0)
    i0 = src.long().clamp(max=n_in - 1)
    return i0, src - i0


def _next_tap(i0: torch.Tensor, n_in: int) -> torch.Tensor:
    return (i0 + 1).clamp(max=n_in - 1)


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
