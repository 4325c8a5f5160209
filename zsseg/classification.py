"""Stage 2: classify each proposal with the vision-language backend.

Crop styles:
- ``masked`` (zsseg.baseline, the CLIP default): binarise the mask at ``mask_threshold``, take its
  tight box (scaled by ``expand_ratio``), fill pixels outside the mask with the backend's pixel
  mean, normalise, bicubic-resize to the backend's input size (aspect not kept).
- ``context``: the box enlarged by ``context`` on each side, pixels outside the mask kept.
- ``window``: classify overlapping square windows of the whole image once, and give each mask the
  mean of the window embeddings weighted by how many of its pixels each window holds.
- ``dense``: one encoder pass over the whole image gives a grid of embeddings (for CLIP the last
  block's value path alone, for the offline backend class-activation ConSE); each mask averages
  the grid cells it covers. ``maskclip``: the same with MaskCLIP's exact last block (CLIP only).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from .backends.base import Backend
from .errors import ZsegError
from .geometry import (
    box_pixel_counts,
    expand_box,
    identical_masks,
    mask_boxes,
    same_shape_groups,
    window_boxes,
)
from .timing import Stopwatch

CROP_STYLES = ("masked", "context", "window", "dense", "maskclip")
DENSE_STYLES = ("dense", "maskclip")  # one encoder pass over the whole image


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


def normalise_and_resize(
    region: torch.Tensor, size: int, mean: tuple[float, float, float], std: tuple[float, float, float]
) -> torch.Tensor:
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


class RegionClassifier:
    """Embeds every proposal of one or several images with the backend (in batches)."""

    def __init__(self, backend: Backend, crop: CropConfig) -> None:
        self.backend = backend
        self.crop = crop

    def embed(
        self, image: torch.Tensor, masks: torch.Tensor, watch: Stopwatch | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """image [3, H, W] 0..255, masks [Q, H, W] -> (embeddings [Q', D] and valid [Q] bool, both on
        the backend's device, and the number of encoder inputs). Masks with no pixel above the
        threshold are not valid and get no embedding. Seconds spent building crops and in the
        encoder go to ``watch``'s "crops" and "encoder"."""
        return self.embed_batch([image], [masks], watch)[0]

    def embed_batch(
        self, images: list[torch.Tensor], masks: list[torch.Tensor], watch: Stopwatch | None = None
    ) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
        """``embed`` for several images, whose encoder inputs share batches (dense mode: one encoder
        pass per group of images of one size)."""
        watch = watch or Stopwatch(self.backend.device)
        with watch("crops"):
            binaries = [m.to(self.backend.device) > self.crop.mask_threshold for m in masks]
            valid = [b.flatten(1).any(1) for b in binaries]
            binaries = [b[v] for b, v in zip(binaries, valid)]
        todo = [i for i, b in enumerate(binaries) if b.shape[0] > 0]
        embedded: dict[int, tuple[torch.Tensor, int]] = {}
        if todo:
            imgs, bins = [images[i] for i in todo], [binaries[i] for i in todo]
            if self.crop.style in DENSE_STYLES:
                found = self._dense(imgs, bins, watch)
            elif self.crop.style == "window":
                found = self._windows(imgs, bins, watch)
            else:
                found = self._crops(imgs, bins, watch)
            embedded = dict(zip(todo, found))
        out = []
        for i, v in enumerate(valid):
            emb, n = embedded.get(i, (masks[i].new_zeros(0, 1), 0))
            out.append((emb.float(), v, n))  # fp32 whatever autocast computed them in
        return out

    def _encode(self, inputs: list[torch.Tensor], watch: Stopwatch) -> list[torch.Tensor]:
        """All images' encoder inputs through shared batches; each image's embeddings back."""
        with watch("encoder"):
            emb = encode_batched(self.backend, torch.cat(inputs), self.crop.batch_size)
        return list(emb.split([len(x) for x in inputs]))

    def _dense(
        self, images: list[torch.Tensor], binaries: list[torch.Tensor], watch: Stopwatch
    ) -> list[tuple[torch.Tensor, int]]:
        b = self.backend
        with watch("crops"):
            pixels = [normalise_and_resize(im, 0, b.pixel_mean, b.pixel_std) for im in images]
        grids: list[torch.Tensor | None] = [None] * len(images)
        with watch("encoder"):
            for members in same_shape_groups([p.shape for p in pixels]):
                for i, grid in zip(members, b.encode_dense(torch.cat([pixels[i] for i in members]), self.crop.style)):
                    grids[i] = grid  # [h, w, D]
        out = []
        for grid, binary in zip(grids, binaries):
            # share of each mask inside each grid cell (area pooling of the binary mask)
            cover = F.adaptive_avg_pool2d(binary[None].float(), grid.shape[:2])[0].flatten(1)
            out.append((F.normalize(cover @ grid.flatten(0, 1).float(), dim=-1), 1))
        return out

    def _windows(
        self, images: list[torch.Tensor], binaries: list[torch.Tensor], watch: Stopwatch
    ) -> list[tuple[torch.Tensor, int]]:
        b = self.backend
        crops, weights = [], []
        with watch("crops"):
            for image, binary in zip(images, binaries):
                _, h, w = image.shape
                boxes = window_boxes(h, w, self.crop.window_scales)
                crops.append(
                    torch.cat(
                        [
                            normalise_and_resize(image[:, y0:y1, x0:x1], b.input_size, b.pixel_mean, b.pixel_std)
                            for (x0, y0, x1, y1) in boxes
                        ]
                    )
                )
                # weight of window k for mask q = number of the mask's pixels inside the window
                counts = box_pixel_counts(binary, boxes)
                weights.append(counts / counts.sum(1, keepdim=True).clamp(min=1))
        return [
            (F.normalize(wt @ emb, dim=-1), len(c)) for wt, emb, c in zip(weights, self._encode(crops, watch), crops)
        ]

    def _crops(
        self, images: list[torch.Tensor], binaries: list[torch.Tensor], watch: Stopwatch
    ) -> list[tuple[torch.Tensor, int]]:
        b = self.backend
        crops, twins = [], []
        with watch("crops"):
            for image, binary in zip(images, binaries):
                shared = identical_masks(binary) if self.crop.reuse_identical else None
                if shared is not None:
                    binary = binary[shared[0].to(binary.device)]
                twins.append(None if shared is None else shared[1].to(binary.device))
                crops.append(
                    build_crops(
                        image,
                        binary,
                        b.input_size,
                        b.pixel_mean,
                        b.pixel_std,
                        self.crop.style,
                        self.crop.expand_ratio,
                        self.crop.context,
                    )
                )
        return [
            (emb if twin is None else emb[twin], len(c))
            for emb, twin, c in zip(self._encode(crops, watch), twins, crops)
        ]
