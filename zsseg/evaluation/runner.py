"""The evaluation loop: one image at a time into a streaming confusion matrix, sharded over
processes under torchrun and summed at the end; ``run(EvalConfig)`` is what ``zsseg eval`` does."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..baseline import PerPixelSegmenter
from ..config import SegmenterConfig, resolve_config
from ..datasets import SegmentationDataset, get_spec
from ..distributed import all_sum, local_device, rank_and_world
from ..errors import ZsegError
from ..image_io import load_image
from ..inputs import prepare_out_dir
from ..proposals import ProposalGenerator, build_proposals
from ..render import save_label_png
from ..segmenter import Segmenter, propose
from ..vocabulary import Vocabulary
from .metrics import ConfusionMatrix, unseen_mask
from .oracle import oracle_labels
from .report import write_report

SUMMARY_KEYS = (
    "mIoU",
    "mIoU_seen",
    "mIoU_unseen",
    "hIoU",
    "recall@0.5",
    "recall@0.5_seen",
    "recall@0.5_unseen",
    "absent_share",
    "proposals_per_image",
    "images",
    "seconds_per_image",
    "images_per_second",
)


@dataclass
class EvalConfig:
    """One evaluation: which data, which model (``segmenter``), what to write."""

    dataset: str  # a key of zsseg.datasets.DATASETS
    root: str
    split: str = "val"
    limit: int | None = None  # first N images only
    unseen: list[str] = field(default_factory=list)  # also report mIoU seen / unseen and hIoU
    oracle: bool = False  # score the proposals labelled by the ground truth (stage-1 upper bound)
    per_pixel_model: str | None = None  # a per_pixel model.pt instead of the two-stage segmenter
    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)
    cache_dir: str | None = None
    # the names given for the dataset's classes, in its order (None: its own), then any names of
    # things its labels never hold: mIoU stays over its classes, and those names' share of the
    # labelled pixels is reported (how a change of wording moves a benchmark: docs/evaluation.md)
    classes: Vocabulary | None = None
    out: str | None = None  # folder for metrics.json, report.md and per_class_iou.png
    save_predictions: bool = False  # also OUT/predictions/<stem>.png
    progress: bool = True
    preset: str | None = None  # the preset these settings came from (recorded in the result)


def run(config: EvalConfig, command: str | None = None) -> dict:
    """Evaluate as ``config`` says; returns the result (every process, under torchrun) and, on rank 0,
    writes the report to ``config.out``. ``command`` is recorded with the result."""
    dataset = SegmentationDataset(config.root, config.split, get_spec(config.dataset))
    vocabulary = _names_given(dataset, config)
    for u in config.unseen:
        vocabulary.index(u)  # a clear error for a misspelt class
    if config.save_predictions and config.out is None:
        raise ZsegError("saving predictions needs an output folder (--out DIR)")
    out = prepare_out_dir(config.out) if config.out else None
    rank, _ = rank_and_world()
    seg_cfg = config.segmenter
    device = local_device(seg_cfg.device)  # torchrun: one GPU per process
    options = dict(
        limit=config.limit,
        unseen=config.unseen,
        progress=config.progress,
        save_predictions=out / "predictions" if out is not None and config.save_predictions else None,
    )
    if config.oracle:
        short_side = resolve_config(seg_cfg).short_side
        generator = build_proposals(seg_cfg.proposals, model=seg_cfg.proposals_model, device=device)
        settings = {"proposals": generator.settings(), "short_side": short_side}
        result = evaluate_oracle(dataset, generator, short_side, **options)
    else:
        segmenter = _segmenter(config, device)
        settings = segmenter.settings()
        result = evaluate(dataset, segmenter, vocabulary=vocabulary, **options)
    result = {
        "dataset": dataset.spec.name,
        "root": str(config.root),
        "split": config.split,
        "layout": dataset.layout,
        "oracle": config.oracle,
        "preset": config.preset,
        "unseen": list(config.unseen),
        "classes_given": None if config.classes is None else [list(p) for p in config.classes.prompts],
        "command": command,
        "settings": settings,
        **result,
    }
    if rank == 0 and out is not None:
        write_report(result, out)
    return result


def _names_given(dataset: SegmentationDataset, config: EvalConfig) -> Vocabulary:
    """The class names the segmenter is given: the dataset's, or ``config.classes`` checked against it."""
    own, given = dataset.vocabulary, config.classes
    if given is None:
        return own
    if config.oracle:
        raise ZsegError("--oracle labels the proposals with the ground truth, not by name: drop --classes")
    if len(given) < len(own):
        raise ZsegError(
            f"{given.source} gives {len(given)} names, {dataset.spec.name} has {len(own)} classes "
            f"({', '.join(own.names[:4])}, ...): give one name for each, in its order; names after them count as absent"
        )
    return given


def _segmenter(config: EvalConfig, device: str):
    cfg = config.segmenter
    if config.per_pixel_model:
        return PerPixelSegmenter(config.per_pixel_model, cfg.short_side, device, cfg.max_pixels)
    return Segmenter.from_config(cfg if cfg.device == device else replace(cfg, device=device), config.cache_dir)


class _Accumulator:
    """What an evaluation counts, image by image, on this process's share of a dataset; ``result``
    sums it over all processes (every process returns the same, complete result)."""

    def __init__(
        self,
        dataset: SegmentationDataset,
        limit: int | None,
        save_predictions: str | Path | None,
        vocabulary: Vocabulary | None = None,
    ) -> None:
        self.rank, self.world = rank_and_world()
        self.names = (dataset.vocabulary if vocabulary is None else vocabulary).names
        self.own = len(dataset.vocabulary)  # the classes the labels hold; any names after them are absent
        n = len(self.names)
        self.samples = (dataset.samples[:limit] if limit else dataset.samples)[self.rank :: self.world]
        self.cm = ConfusionMatrix(n)
        self.predicted = np.zeros(n, np.int64)
        self.scalars = np.zeros(3)  # seconds in the model, proposals, images
        self.stage_seconds: dict[str, float] = {}
        self.out_dir = Path(save_predictions) if save_predictions else None
        self.wall = time.perf_counter()

    def add(self, sample, labels: np.ndarray, gt: np.ndarray, seconds: float, proposals: int) -> None:
        self.scalars += (seconds, proposals, 1)
        self.cm.update(labels, gt)
        self.predicted += np.bincount(labels[gt >= 0].ravel(), minlength=len(self.names))
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            save_label_png(labels, self.out_dir / f"{sample.stem}.png", len(self.names))

    def add_timings(self, timings: dict[str, float]) -> None:
        for k, v in timings.items():
            self.stage_seconds[k] = self.stage_seconds.get(k, 0.0) + v

    def result(self, unseen: Sequence[str] | None) -> dict:
        self.cm.matrix = all_sum(self.cm.matrix)
        predicted, scalars = all_sum(self.predicted), all_sum(self.scalars)
        wall = time.perf_counter() - self.wall
        images = int(scalars[2])
        result = self.cm.summary(self.names, unseen, own=self.own)
        result.update(
            images=images,
            processes=self.world,
            seconds_per_image=round(scalars[0] / max(1, images), 3),
            images_per_second=round(images / wall, 3) if self.rank == 0 or self.world == 1 else None,
            proposals_per_image=round(scalars[1] / max(1, images), 1),
            predicted_share={nm: round(float(c) / max(1, predicted.sum()), 4) for nm, c in zip(self.names, predicted)},
            confusion_matrix=self.cm.matrix.tolist(),
        )
        if self.stage_seconds:
            result["stage_seconds_per_image"] = {
                k: round(v / max(1, len(self.samples)), 4) for k, v in self.stage_seconds.items()
            }
        return result


def _images(dataset: SegmentationDataset, acc: _Accumulator, progress: bool):
    """(sample, image, ground truth) of this process's share, with a progress bar on rank 0."""
    bar = tqdm(acc.samples, desc=f"eval {dataset.spec.name}", disable=not progress or acc.rank != 0, unit="img")
    for sample in bar:
        rgb = load_image(sample.image_path)
        yield sample, rgb, dataset.read_label(sample, rgb.shape[:2])


def evaluate(
    dataset: SegmentationDataset,
    segmenter: Segmenter,
    *,
    limit: int | None = None,
    unseen: Sequence[str] | None = None,
    progress: bool = True,
    save_predictions: str | Path | None = None,
    vocabulary: Vocabulary | None = None,
) -> dict:
    """mIoU and friends of ``segmenter`` on ``dataset``, given its class names or ``vocabulary``
    (``EvalConfig.classes``). Under ``torchrun --nproc_per_node K`` (in ``distributed.process_group``)
    each process takes every K-th image and the counts are summed."""
    vocabulary = dataset.vocabulary if vocabulary is None else vocabulary
    acc = _Accumulator(dataset, limit, save_predictions, vocabulary)
    for sample, rgb, gt in _images(dataset, acc, progress):
        t = time.perf_counter()
        seg = segmenter(rgb, vocabulary, unseen=unseen)
        acc.add(sample, seg.labels, gt, time.perf_counter() - t, len(seg.masks))
        acc.add_timings(seg.timings)
    return acc.result(unseen)


def evaluate_oracle(
    dataset: SegmentationDataset,
    generator: ProposalGenerator,
    short_side: int,
    *,
    limit: int | None = None,
    unseen: Sequence[str] | None = None,
    progress: bool = True,
    save_predictions: str | Path | None = None,
) -> dict:
    """The stage-1 upper bound: ``generator``'s proposals at ``short_side``, each labelled with its
    majority ground-truth class; plus the recall@0.5 of the ground-truth segments (per class, and
    seen / unseen with ``unseen``)."""
    acc = _Accumulator(dataset, limit, save_predictions)
    n = len(dataset.vocabulary)
    total, matched = np.zeros(n, np.int64), np.zeros(n, np.int64)
    for sample, rgb, gt in _images(dataset, acc, progress):
        t = time.perf_counter()
        work, props = propose(generator, rgb, short_side)
        labels, seg_total, seg_matched = oracle_labels(props, gt, work.shape[:2], n)
        total += seg_total
        matched += seg_matched
        acc.add(sample, labels, gt, time.perf_counter() - t, len(props))
    result = acc.result(unseen)
    total, matched = all_sum(total), all_sum(matched)
    result["recall@0.5"] = round(100.0 * matched.sum() / max(1, total.sum()), 2)
    if unseen:  # do the proposals generalise? recall over segments of seen vs unseen classes
        is_unseen = unseen_mask(acc.names, unseen)
        for part, sel in (("seen", ~is_unseen), ("unseen", is_unseen)):
            result[f"recall@0.5_{part}"] = round(100.0 * matched[sel].sum() / max(1, total[sel].sum()), 2)
    result["per_class_recall@0.5"] = {
        nm: (round(100.0 * m / t, 2) if t else None) for nm, m, t in zip(acc.names, matched, total)
    }
    return result
