"""Training samples: an image and its evaluation-id label map, augmented."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ..evaluation.datasets import SegmentationDataset
from ..image_io import load_image


@dataclass(frozen=True)
class Augment:
    crop: int = 320  # square training crops
    base_short_side: int = 320
    scale: tuple[float, float] = (0.5, 1.5)  # scale jitter of the short side
    flip: bool = True
    colour: float = 0.2  # brightness / contrast / saturation jitter amplitude


def augment(rgb: np.ndarray, label: np.ndarray, aug: Augment, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Scale jitter, random crop (padded with ignore), horizontal flip, colour jitter."""
    h, w = label.shape
    s = aug.base_short_side * rng.uniform(*aug.scale) / min(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    rgb = np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.BILINEAR))
    label = np.asarray(Image.fromarray(label.astype(np.int32)).resize((nw, nh), Image.NEAREST)).astype(np.int64)
    c = aug.crop
    ph, pw = max(0, c - nh), max(0, c - nw)
    if ph or pw:
        rgb = np.pad(rgb, ((0, ph), (0, pw), (0, 0)))
        label = np.pad(label, ((0, ph), (0, pw)), constant_values=-1)
    y = rng.integers(0, rgb.shape[0] - c + 1)
    x = rng.integers(0, rgb.shape[1] - c + 1)
    rgb, label = rgb[y : y + c, x : x + c], label[y : y + c, x : x + c]
    if aug.flip and rng.random() < 0.5:
        rgb, label = rgb[:, ::-1], label[:, ::-1]
    if aug.colour > 0:
        img = rgb.astype(np.float32)
        img = img * rng.uniform(1 - aug.colour, 1 + aug.colour)  # brightness
        mean = img.mean()
        img = (img - mean) * rng.uniform(1 - aug.colour, 1 + aug.colour) + mean  # contrast
        grey = img.mean(-1, keepdims=True)
        img = (img - grey) * rng.uniform(1 - aug.colour, 1 + aug.colour) + grey  # saturation
        rgb = img.clip(0, 255).astype(np.uint8)
    return np.ascontiguousarray(rgb), np.ascontiguousarray(label)


class TrainingSamples:
    """Random augmented batches from a dataset split; each process draws its own stream."""

    def __init__(self, dataset: SegmentationDataset, aug: Augment, seed: int) -> None:
        self.dataset, self.aug = dataset, aug
        self.rng = np.random.default_rng(seed)
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if i not in self._cache:  # the small training sets fit in memory; decode each image once
            s = self.dataset.samples[i]
            rgb = load_image(s.image_path)
            self._cache[i] = (rgb, self.dataset.read_label(s, rgb.shape[:2]))
        return self._cache[i]

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = [], []
        for i in self.rng.integers(0, len(self.dataset), size):
            rgb, label = augment(*self._load(int(i)), self.aug, self.rng)
            images.append(torch.from_numpy(rgb).permute(2, 0, 1))
            labels.append(torch.from_numpy(label))
        return torch.stack(images).float(), torch.stack(labels)
