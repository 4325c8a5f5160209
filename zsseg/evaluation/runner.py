"""The evaluation loop: one image at a time into a streaming confusion matrix, sharded over
processes under torchrun and summed at the end; ``run(EvalConfig)`` is what ``zsseg eval`` does."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..backends import backend_class
from ..baseline import PerPixelSegmenter
from ..datasets import SegmentationDataset, get_spec
from ..distributed import all_sum, init_from_env, local_device, shutdown
from ..errors import ZsegError
from ..image_io import load_image
from ..inputs import prepare_out_dir
from ..proposals import ProposalGenerator, build_proposals
from ..render import save_label_png
from ..segmenter import Segmenter, SegmenterConfig, propose
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
    out: str | None = None  # folder for metrics.json, report.md and per_class_iou.png
    save_predictions: bool = False  # also OUT/predictions/<stem>.png
    progress: bool = True
    preset: str | None = None  # the preset these settings came from (recorded in the result)


def run(config: EvalConfig, command: str | None = None) -> dict:
    """Evaluate as ``config`` says; returns the result (every process, under torchrun) and, on rank 0,
    writes the report to ``config.out``. ``command`` is recorded with the result."""
    dataset = SegmentationDataset(config.root, config.split, get_spec(config.dataset))
    for u in config.unseen:
        dataset.vocabulary.index(u)  # a clear error for a misspelt class
    if config.save_predictions and config.out is None:
        raise ZsegError("saving predictions needs an output folder (--out DIR)")
    out = prepare_out_dir(config.out) if config.out else None
    rank, _ = init_from_env()
    seg_cfg = config.segmenter
    device = local_device(seg_cfg.device)  # torchrun: one GPU per process
    predictions = out / "predictions" if out is not None and config.save_predictions else None
    try:
        if config.oracle:
            short_side = seg_cfg.short_side or backend_class(seg_cfg.model).default_short_side
            generator = build_proposals(seg_cfg.proposals, model=seg_cfg.proposals_model, device=device)
            settings = {"proposals": generator.settings(), "short_side": short_side}
            result = evaluate(
                dataset,
                oracle=generator,
                short_side=short_side,
                limit=config.limit,
                unseen=config.unseen,
                progress=config.progress,
                save_predictions=predictions,
            )
        else:
            segmenter = _segmenter(config, device)
            settings = segmenter.settings()
            result = evaluate(
                dataset,
                segmenter,
                limit=config.limit,
                unseen=config.unseen,
                progress=config.progress,
                save_predictions=predictions,
            )
    finally:
        shutdown()
    result = {
        "dataset": dataset.spec.name,
        "root": str(config.root),
        "split": config.split,
        "layout": dataset.layout,
        "oracle": config.oracle,
        "preset": config.preset,
        "unseen": list(config.unseen),
        "command": command,
        "settings": settings,
        **result,
    }
    if rank == 0 and out is not None:
        write_report(result, out)
    return result


def _segmenter(config: EvalConfig, device: str):
    if config.per_pixel_model:
        cfg = config.segmenter
        return PerPixelSegmenter(config.per_pixel_model, cfg.short_side, device, cfg.max_pixels)
    return Segmenter.from_config(replace(config.segmenter, device=device), config.cache_dir)


def evaluate(
    dataset: SegmentationDataset,
    segmenter: Segmenter | None = None,
    *,
    oracle: ProposalGenerator | None = None,
    short_side: int | None = None,
    limit: int | None = None,
    unseen: Sequence[str] | None = None,
    progress: bool = True,
    save_predictions: str | Path | None = None,
) -> dict:
    """mIoU and friends of ``segmenter`` on ``dataset``; or, with ``oracle=generator``, of that
    generator's proposals labelled by the ground truth (plus proposal recall).

    Under ``torchrun --nproc_per_node K`` each process takes every K-th image and the counts are
    all-reduced, so every process returns the same, complete result.
    """
    if (segmenter is None) == (oracle is None):
        raise ValueError("give a segmenter or an oracle proposal generator")
    if oracle is not None and short_side is None:
        raise ValueError("the oracle needs the working resolution (short_side)")
    rank, world = init_from_env()
    vocab = dataset.vocabulary
    n = len(vocab)
    samples = dataset.samples[:limit] if limit else dataset.samples
    cm = ConfusionMatrix(n)
    counts = {"pred": np.zeros(n, np.int64), "seg_total": np.zeros(n, np.int64), "seg_matched": np.zeros(n, np.int64)}
    scalars = np.zeros(3)  # seconds in the model, proposals, images
    stage_seconds: dict[str, float] = {}
    out_dir = Path(save_predictions) if save_predictions else None
    wall = time.perf_counter()
    for sample in tqdm(
        samples[rank::world], desc=f"eval {dataset.spec.name}", disable=not progress or rank != 0, unit="img"
    ):
        rgb = load_image(sample.image_path)
        gt = dataset.read_label(sample, rgb.shape[:2])
        t = time.perf_counter()
        if oracle is not None:
            work, props = propose(oracle, rgb, short_side)
            labels, total, matched = oracle_labels(props, gt, work.shape[:2], n)
            counts["seg_total"] += total
            counts["seg_matched"] += matched
            n_props = len(props)
        else:
            seg = segmenter(rgb, vocab, unseen=unseen)
            labels, n_props = seg.labels, len(seg.masks)
            for k, v in seg.timings.items():
                stage_seconds[k] = stage_seconds.get(k, 0.0) + v
        scalars += (time.perf_counter() - t, n_props, 1)
        cm.update(labels, gt)
        counts["pred"] += np.bincount(labels[gt >= 0].ravel(), minlength=n)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            save_label_png(labels, out_dir / f"{sample.stem}.png", n)
    cm.matrix = all_sum(cm.matrix)
    counts = {k: all_sum(v) for k, v in counts.items()}
    scalars = all_sum(scalars)
    wall = time.perf_counter() - wall
    images = int(scalars[2])
    result = cm.summary(vocab.names, unseen)
    result.update(
        images=images,
        processes=world,
        seconds_per_image=round(scalars[0] / max(1, images), 3),
        images_per_second=round(images / wall, 3) if rank == 0 or world == 1 else None,
        proposals_per_image=round(scalars[1] / max(1, images), 1),
        predicted_share={
            nm: round(float(c) / max(1, counts["pred"].sum()), 4) for nm, c in zip(vocab.names, counts["pred"])
        },
        confusion_matrix=cm.matrix.tolist(),
    )
    if stage_seconds:
        result["stage_seconds_per_image"] = {
            k: round(v / max(1, len(samples[rank::world])), 4) for k, v in stage_seconds.items()
        }
    if oracle is not None:
        tot, mat = counts["seg_total"], counts["seg_matched"]
        result["recall@0.5"] = round(100.0 * mat.sum() / max(1, tot.sum()), 2)
        if unseen:  # do the proposals generalise? recall over segments of seen vs unseen classes
            is_unseen = unseen_mask(vocab.names, unseen)
            for part, sel in (("seen", ~is_unseen), ("unseen", is_unseen)):
                result[f"recall@0.5_{part}"] = round(100.0 * mat[sel].sum() / max(1, tot[sel].sum()), 2)
        result["per_class_recall@0.5"] = {
            nm: (round(100.0 * m / t, 2) if t else None) for nm, m, t in zip(vocab.names, mat, tot)
        }
    return result
