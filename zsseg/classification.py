"""Stage 2: classify each proposal with the vision-language backend.

Crop styles:
- ``masked`` (zsseg.baseline, the CLIP default): binarise the mask at ``mask_threshold``, take its
  tight box (scaled by ``expand_ratio``), fill pixels outside the mask with the backend's pixel
  mean, normalise, bicubic-resize to the backend's input size (aspect not kept).
- ``context``: the box enlarged by ``context`` on each side, pixels outside the mask kept.
- ``window``: classify overlapping square windows of the whole image once, and give each mask the
  mean of the window embeddings weighted by how many of its pixels each window holds.
- ``dense``: one encoder pass over the whole image gives a grid of embeddings (MaskCLIP-style for
  CLIP, class-activation ConSE for the offline backend); each mask averages the grid cells it covers.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from .backends.base import Backend
from .errors import ZsegError

CROP_STYLES = ("masked", "context", "window", "dense")


@dataclass(frozen=True)
class CropConfig:
    style: str = "masked"
    mask_threshold: float = 0.5
    expand_ratio: float = 1.0
    context: float = 0.1
    window_scales: tuple[float, ...] = (0.5, 1.0)  # window side as a fraction of the short side
    batch_size: int = 8
    reuse_identical: bool = True  # masks that binarise identically share one crop (same crop, same embedding)

    def __post_init__(self) -> None:
        if self.style not in CROP_STYLES:
            raise ZsegError(f"unknown crop style {self.style!r}; choose one of {', '.join(CROP_STYLES)}")

    def as_dict(self) -> dict:
        return asdict(self)


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


def build_crops(
    image: torch.Tensor,
    masks: torch.Tensor,
    size: int,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    style: str = "masked",
    expand_ratio: float = 1.0,
    context: float = 0.1,
) -> torch.Tensor:
    """Normalised crops [Q, 3, size, size] from an image [3, H, W] (0..255) and binary masks [Q, H, W].

    Only each box region is copied, never the full image.
    """
    _, h, w = image.shape
    mean_t = torch.tensor(mean, dtype=torch.float32, device=image.device).view(3, 1, 1) * 255
    std_t = torch.tensor(std, dtype=torch.float32, device=image.device).view(3, 1, 1) * 255
    crops = []
    ratio = expand_ratio if style == "masked" else 1.0 + 2 * context
    for mask, box in zip(masks, mask_boxes(masks).tolist()):
        x0, y0, x1, y1 = expand_box(tuple(box), ratio, w, h)
        region = image[:, y0:y1, x0:x1].float()
        if style == "masked":
            m = mask[y0:y1, x0:x1].to(region.dtype)
            region = region * m + (1 - m) * mean_t
        crops.append(_normalise_resize(region, size, mean_t, std_t))
    if not crops:
        return image.new_zeros((0, 3, size, size), dtype=torch.float32)
    return torch.cat(crops)


def normalise_and_resize(region: torch.Tensor, size: int, mean: tuple[float, float, float], std: tuple[float, float, float]) -> torch.Tensor:
    """One image region [3, h, w] (0..255) -> normalised [1, 3, size, size] (size 0: keep h x w)."""
    mean_t = torch.tensor(mean, dtype=torch.float32, device=region.device).view(3, 1, 1) * 255
    std_t = torch.tensor(std, dtype=torch.float32, device=region.device).view(3, 1, 1) * 255
    return _normalise_resize(region.float(), size, mean_t, std_t)


def _normalise_resize(region: torch.Tensor, size: int, mean_t: torch.Tensor, std_t: torch.Tensor) -> torch.Tensor:
    # zsseg.baseline normalises before resizing, so the mean fill becomes exactly 0
    region = (region - mean_t) / std_t
    if size == 0:
        return region[None]
    return F.interpolate(region[None], size=(size, size), mode="bicubic", align_corners=False)


def clock(device: torch.device) -> float:
    """perf_counter once the device's queued work is done (CUDA kernels run asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def encode_batched(backend: Backend, crops: torch.Tensor, batch_size: int) -> torch.Tensor:
    """[N, D] embeddings on the backend's device, ``batch_size`` crops per encoder call.

    On a GPU a short batch is padded to a power of two, so that input shapes repeat across images
    (convolution libraries plan each new shape; see the README for what this did and did not save).
    """
    out = []
    for i in range(0, len(crops), batch_size):
        batch = crops[i : i + batch_size]
        n = len(batch)
        if backend.device.type == "cuda" and n & (n - 1):
            batch = torch.cat([batch, batch.new_zeros(min(batch_size, 1 << n.bit_length()) - n, *batch.shape[1:])])
        out.append(backend.encode_images(batch)[:n])
    return torch.cat(out)


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


class RegionClassifier:
    """Embeds every proposal of an image with the backend (in batches)."""

    def __init__(self, backend: Backend, crop: CropConfig) -> None:
        self.backend = backend
        self.crop = crop

    def embed(self, image: torch.Tensor, masks: torch.Tensor, timings: dict[str, float] | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
        """image [3, H, W] 0..255, masks [Q, H, W] -> (embeddings [Q', D] and valid [Q] bool, both on
        the backend's device, and the number of encoder inputs). Seconds spent building crops and
        in the encoder are added to ``timings``."""
        timings = timings if timings is not None else {}
        dev = self.backend.device
        t = clock(dev)
        binary = masks > self.crop.mask_threshold
        valid = binary.flatten(1).any(1)
        binary = binary[valid]
        if binary.shape[0] == 0:
            return masks.new_zeros(0, 1, dtype=torch.float32), valid, 0
        b = self.backend
        style = self.crop.style
        if style == "dense":
            pixels = normalise_and_resize(image, 0, b.pixel_mean, b.pixel_std)
            timings["crops"] = clock(dev) - t
            t = clock(dev)
            grid = b.encode_dense(pixels)  # [h, w, D]
            timings["encoder"] = clock(dev) - t
            # share of each mask inside each grid cell (area pooling of the binary mask)
            cover = F.adaptive_avg_pool2d(binary[None].float(), grid.shape[:2])[0].flatten(1)
            pooled = cover @ grid.flatten(0, 1)
            return F.normalize(pooled, dim=-1), valid, 1
        if style == "window":
            _, h, w = image.shape
            boxes = window_boxes(h, w, self.crop.window_scales)
            crops = torch.cat([normalise_and_resize(image[:, y0:y1, x0:x1], b.input_size, b.pixel_mean, b.pixel_std) for (x0, y0, x1, y1) in boxes])
            # weight of window k for mask q = number of the mask's pixels inside the window
            weights = box_pixel_counts(binary, boxes)
            weights = weights / weights.sum(1, keepdim=True).clamp(min=1)
            timings["crops"] = clock(dev) - t
            t = clock(dev)
            win_emb = encode_batched(b, crops, self.crop.batch_size)
            timings["encoder"] = clock(dev) - t
            return F.normalize(weights @ win_emb, dim=-1), valid, len(boxes)
        shared = identical_masks(binary) if self.crop.reuse_identical else None
        if shared is not None:
            binary = binary[shared[0].to(binary.device)]
        crops = build_crops(image, binary, b.input_size, b.pixel_mean, b.pixel_std, style, self.crop.expand_ratio, self.crop.context)
        timings["crops"] = clock(dev) - t
        t = clock(dev)
        emb = encode_batched(b, crops, self.crop.batch_size)
        timings["encoder"] = clock(dev) - t
        if shared is not None:
            emb = emb[shared[1].to(emb.device)]
        return emb, valid, len(crops)
