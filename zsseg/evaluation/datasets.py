"""Benchmark readers. Label remapping is data (a lookup table per dataset), not metric code."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ZsegError
from ..vocabulary import Vocabulary, load_vocabulary

IGNORE = 255
INVALID = -1
from ..image_io import IMAGE_SUFFIXES


def _lut(pairs: dict[int, int], void: tuple[int, ...] = (255,), size: int = 256) -> np.ndarray:
    """Lookup table file value -> evaluation id; void values -> 255; anything else -> invalid."""
    lut = np.full(size, INVALID, dtype=np.int64)
    for v in void:
        lut[v] = IGNORE
    for k, v in pairs.items():
        lut[k] = v
    return lut


def identity(n: int, void: tuple[int, ...] = (255,)) -> np.ndarray:
    return _lut({i: i for i in range(n)}, void)


def reduce_zero(n: int) -> np.ndarray:
    """File value 0 (other/background) -> ignore, k -> k - 1 (ADE-150, PC-59, VOC-20)."""
    return _lut({k: k - 1 for k in range(1, n + 1)}, void=(0, 255))


# COCO-Stuff: file value = category id - 1; these 11 ids are never used, leaving 171 classes.
COCO_STUFF_UNUSED = (11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)  # file values (id - 1)


def coco_stuff_171() -> np.ndarray:
    kept = [v for v in range(182) if v not in COCO_STUFF_UNUSED]
    return _lut({v: i for i, v in enumerate(kept)}, void=(255,) + COCO_STUFF_UNUSED)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    vocabulary: str  # shipped vocabulary whose order is the evaluation ids
    lut: np.ndarray
    description: str

    def load_vocabulary(self) -> Vocabulary:
        return load_vocabulary(self.vocabulary)


DATASETS: dict[str, DatasetSpec] = {
    "voc21": DatasetSpec("voc21", "voc21", identity(21), "PASCAL VOC 2012, 21 classes incl. background; 255 ignored"),
    "voc20": DatasetSpec("voc20", "voc20", reduce_zero(20), "PASCAL VOC 2012, 20 classes, background ignored (PAS-20)"),
    "camvid": DatasetSpec("camvid", "camvid11", identity(11, void=(11, 255)), "CamVid 11 classes (SegNet), 11 = unlabelled ignored"),
    "ade150": DatasetSpec("ade150", "ade150", reduce_zero(150), "ADE20K-150, 0 = other ignored, k -> k-1"),
    "coco_stuff171": DatasetSpec("coco_stuff171", "coco_stuff171", coco_stuff_171(), "COCO-Stuff-171, value = id-1, 255 ignored"),
}


def get_spec(name: str) -> DatasetSpec:
    key = name.lower().replace("-", "_")
    if key not in DATASETS:
        raise ZsegError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[key]


@dataclass(frozen=True)
class Sample:
    stem: str
    image_path: Path
    label_path: Path


class GenericDataset:
    """``ROOT/SPLIT/images/<stem>.<ext>`` with ``ROOT/SPLIT/labels/<stem>.png`` (the layout of ../shared/data)."""

    def __init__(self, root: str | Path, split: str, spec: DatasetSpec) -> None:
        self.root, self.split, self.spec = Path(root), split, spec
        image_dir, label_dir = self.root / split / "images", self.root / split / "labels"
        for d in (image_dir, label_dir):
            if not d.is_dir():
                raise ZsegError(f"{d}: folder not found; expected ROOT/{split}/images and ROOT/{split}/labels")
        images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise ZsegError(f"{image_dir}: no images found")
        self.samples = []
        for p in images:
            label = label_dir / (p.stem + ".png")
            if not label.is_file():
                raise ZsegError(f"{label}: missing label for image {p.name}")
            self.samples.append(Sample(p.stem, p, label))

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def read_label(self, sample: Sample, expected_size: tuple[int, int] | None = None) -> np.ndarray:
        """Evaluation ids [H, W] (int64), ignore = 255."""
        try:
            with Image.open(sample.label_path) as im:
                raw = np.array(im)
        except Exception as exc:
            raise ZsegError(f"{sample.label_path}: unreadable label ({type(exc).__name__})") from None
        if raw.ndim != 2:
            raise ZsegError(f"{sample.label_path}: label must be a single-channel (index or grayscale) PNG, got shape {raw.shape}")
        if expected_size is not None and raw.shape != expected_size:
            raise ZsegError(f"{sample.label_path}: label is {raw.shape[1]}x{raw.shape[0]} but its image is {expected_size[1]}x{expected_size[0]}")
        if raw.max(initial=0) >= len(self.spec.lut):
            raise ZsegError(f"{sample.label_path}: label value {int(raw.max())} out of range for {self.spec.name}")
        ids = self.spec.lut[raw]
        if (ids == INVALID).any():
            bad = sorted(set(np.unique(raw[ids == INVALID]).tolist()))[:5]
            raise ZsegError(f"{sample.label_path}: label values {bad} are not classes of {self.spec.name}")
        return ids
