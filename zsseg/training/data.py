"""Training samples: an image and its evaluation-id label map, augmented."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..datasets import Sample, SegmentationDataset
from ..errors import ZsegError
from ..image_io import load_image, remove_stale_temporaries, write_atomically
from ..vocabulary import Vocabulary


@dataclass(frozen=True)
class Augment:
    crop: int = 320  # square training crops
    base_short_side: int = 320
    scale: tuple[float, float] = (0.5, 1.5)  # scale jitter of the short side
    flip: bool = True
    colour: float = 0.2  # brightness / contrast / saturation jitter amplitude


def augment(
    rgb: np.ndarray, label: np.ndarray, aug: Augment, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
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


@dataclass(frozen=True)
class Source:
    """One labelled dataset split in a training mix: its evaluation ids map to training classes."""

    dataset: SegmentationDataset
    lut: np.ndarray  # [dataset classes] -> training class index, -1 = not trained on (unseen)
    label_space: np.ndarray  # [training classes] bool: the classes this dataset labels

    def training_label(self, ids: np.ndarray) -> np.ndarray:
        """Evaluation ids (-1 = void) -> training class indices (-1 = ignored)."""
        return np.where(ids >= 0, self.lut[ids.clip(min=0)], -1)


def build_sources(
    datasets: list[tuple[SegmentationDataset, dict[str, str]]], classes: Vocabulary | None, unseen: list[str]
) -> tuple[Vocabulary, list[Source]]:
    """The training vocabulary and each dataset's mapping into it.

    ``datasets``: (dataset, renames {dataset class -> training class}); ``classes``: the training
    classes with their prompt names, or None for the union of the datasets' classes (first
    dataset's prompt names win). Classes named in ``unseen`` are left out: their pixels are ignored.
    """
    if classes is None:
        lines: dict[str, str] = {}
        for ds, rename in datasets:
            renames = {k.lower(): v for k, v in rename.items()}
            for name, prompts in zip(ds.vocabulary.names, ds.vocabulary.prompts):
                target = renames.get(name.lower(), name)
                lines.setdefault(target.lower(), f"{target}: {'; '.join(prompts)}" if target == name else target)
        classes = Vocabulary.from_lines(lines.values(), source="the training datasets")
    for u in unseen:
        classes.index(u)  # a clear error for a misspelt class
    dropped = {u.lower() for u in unseen}
    keep = [i for i, n in enumerate(classes.names) if n.lower() not in dropped]
    vocab = Vocabulary(tuple(classes.names[i] for i in keep), tuple(classes.prompts[i] for i in keep), classes.source)
    index = {n.lower(): i for i, n in enumerate(vocab.names)}
    sources = []
    for ds, rename in datasets:
        renames = {k.lower(): v.lower() for k, v in rename.items()}
        for key in renames:
            ds.vocabulary.index(key)  # a rename of a class the dataset does not have is a typo
        lut = np.full(len(ds.vocabulary), -1, np.int64)
        for i, name in enumerate(ds.vocabulary.names):
            target = renames.get(name.lower(), name.lower())
            if target in dropped:
                continue
            if target not in index:
                raise ZsegError(
                    f"class {name!r} of {ds.spec.name} is not a training "
                    'class; add it to "classes" or map it with "rename"'
                )
            lut[i] = index[target]
        space = np.zeros(len(vocab), bool)
        space[lut[lut >= 0]] = True
        sources.append(Source(ds, lut, space))
    return vocab, sources


class TrainingSamples:
    """Random augmented batches from one or more dataset splits (every image equally likely);
    each process draws its own stream."""

    def __init__(self, sources: list[Source], aug: Augment, seed: int) -> None:
        self.sources, self.aug = sources, aug
        self.index = [(k, i) for k, src in enumerate(sources) for i in range(len(src.dataset))]
        self.rng = np.random.default_rng(seed)
        self._cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def _load(self, key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        if key not in self._cache:  # the small training sets fit in memory; decode each image once
            src = self.sources[key[0]]
            s = src.dataset.samples[key[1]]
            rgb = load_image(s.image_path)
            self._cache[key] = (rgb, src.training_label(src.dataset.read_label(s, rgb.shape[:2])))
        return self._cache[key]

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(images [B, 3, S, S] on 0..255, training labels [B, S, S] (-1 ignored), label spaces [B, C])."""
        images, labels, spaces = [], [], []
        for j in self.rng.integers(0, len(self.index), size):
            key = self.index[int(j)]
            rgb, label = augment(*self._load(key), self.aug, self.rng)
            images.append(torch.from_numpy(rgb).permute(2, 0, 1))
            labels.append(torch.from_numpy(label))
            spaces.append(torch.from_numpy(self.sources[key[0]].label_space))
        return torch.stack(images).float(), torch.stack(labels), torch.stack(spaces)


def write_pair(sample: Sample, label: np.ndarray, out: Path) -> None:
    """A labelled pair in the generic layout: OUT/images/NAME linked to the image (copied on a
    filesystem without links), then OUT/labels/STEM.png (8-bit, 16-bit above 255; atomic, so an
    interrupted run leaves none half-written, and a label there means its pair is complete).
    Pseudo-labelled sets (self-training, ``zsseg finetune``) are written so."""
    image = out / "images" / sample.image_path.name
    if not image.exists():
        try:
            os.symlink(sample.image_path.resolve(), image)
        except OSError:  # a filesystem without links: copy
            image.write_bytes(sample.image_path.read_bytes())
    dest = out / "labels" / f"{sample.stem}.png"
    remove_stale_temporaries(dest)
    wide = label.max(initial=0) > 255
    write_atomically(
        {dest: lambda p: Image.fromarray(label.astype(np.uint16 if wide else np.uint8)).save(p, format="PNG")}
    )
