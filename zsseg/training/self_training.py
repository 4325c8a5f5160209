"""Self-training (the paper's "+ST"): pseudo-labels for the unseen classes, then training again.

In the transductive zero-shot setting the unseen classes' *names* are known while training. The
two-stage model trained on the seen classes labels the training images; pixels it gives an unseen
class become that class's pseudo-labels, seen-class ground truth stays as it is, and the proposal
network is trained again from the seen-only weights on both (``init_from``).

Rules for which pixels become pseudo-labels:
- ``prior`` (zsseg.baseline's ``PSEUDO_WITH_PRIOR``, reject threshold 0): every pixel without
  seen-class ground truth takes the best *unseen* class of the model's per-pixel scores.
- ``quantile``: a pixel whose best class over *all* classes is unseen is kept when its confidence
  (winning share of the pixel's score) is at least that class's ``quantile`` over the training
  set; the other pixels are ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..datasets import IGNORE, SegmentationDataset, get_spec
from ..ensemble import semantic_map
from ..errors import ZsegError
from ..image_io import load_image, write_atomically
from ..inputs import read_config
from ..modeling import load_trained
from ..segmenter import Segmenter, SegmenterConfig
from ..vocabulary import Vocabulary
from . import RULES
from .data import write_pair
from .train import TrainConfig, train, trained_model


@dataclass
class PseudoLabelConfig:
    dataset: str  # a key of zsseg.datasets.DATASETS
    root: str
    unseen: list[str]  # names known, labels not: the classes to pseudo-label
    model: str  # the model.pt trained on the seen classes
    out: str  # the pseudo-labelled set, in the generic layout (OUT/SPLIT/images|labels)
    split: str = "train"
    rule: str = RULES[0]
    quantile: float = 0.5
    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)  # the VLM side (proposals: the model)
    limit: int | None = None
    progress: bool = True


def check_model(dataset: SegmentationDataset, model: str, unseen: list[str]) -> None:
    """The model must have been trained on this dataset's classes minus ``unseen``."""
    _, meta = load_trained(model)
    expected = [n for n in dataset.vocabulary.names if n.lower() not in {u.lower() for u in unseen}]
    if [c.lower() for c in meta["classes"]] != [c.lower() for c in expected]:
        raise ZsegError(
            f"{model}: trained on {len(meta['classes'])} classes ({', '.join(meta['classes'][:4])}, ...), not on the "
            f"{len(expected)} seen classes of {dataset.spec.name} "
            f"({', '.join(expected[:4])}, ...); pass the model trained on them"
        )


def pseudo_label(config: PseudoLabelConfig, segmenter: Segmenter | None = None) -> dict:
    """Write the pseudo-labelled set and OUT/pseudo_labels.json (per unseen class: pixels kept,
    precision and recall against the real labels); returns that report. ``segmenter``: an already
    built two-stage segmenter whose proposals are ``config.model`` (else built from the config)."""
    if config.rule not in RULES:
        raise ZsegError(f"unknown pseudo-label rule {config.rule!r}; choose one of {', '.join(RULES)}")
    if not 0 <= config.quantile < 1:
        raise ZsegError(f"quantile must be in [0, 1), got {config.quantile}")
    dataset = SegmentationDataset(config.root, config.split, get_spec(config.dataset))
    vocab = dataset.vocabulary
    if not config.unseen:
        raise ZsegError("self-training needs the unseen class names (--unseen a,b,c)")
    unseen_ids = [vocab.index(u) for u in config.unseen]  # a clear error for a class the dataset lacks
    check_model(dataset, config.model, config.unseen)
    samples = dataset.samples[: config.limit] if config.limit else dataset.samples
    if segmenter is None:
        segmenter = Segmenter.from_config(
            replace(config.segmenter, proposals="maskformer", proposals_model=config.model)
        )
    predictions = []  # per image: (best unseen class, best class overall, its confidence), as small arrays
    for sample in tqdm(samples, desc="pseudo-labels", unit="img", disable=not config.progress):
        predictions.append(_predict(segmenter, sample.image_path, vocab, unseen_ids, config.unseen))
    thresholds = _thresholds(predictions, unseen_ids, config.quantile) if config.rule == "quantile" else None
    out = Path(config.out) / config.split
    for sub in ("images", "labels"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    inverse = _file_values(dataset)
    # per unseen class: pixels kept, kept where a real label exists, correct, real pixels of the class
    counts = {u: np.zeros(4, np.int64) for u in unseen_ids}
    kept_void = 0
    for sample, pred in zip(samples, predictions):
        gt = dataset.read_label(sample, pred[0].shape)
        label = _pseudo(gt, pred, unseen_ids, thresholds)
        for u in unseen_ids:
            mine = label == u
            counts[u] += (
                int(mine.sum()),
                int((mine & (gt >= 0)).sum()),
                int((mine & (gt == u)).sum()),
                int((gt == u).sum()),
            )
        kept_void += int((np.isin(label, unseen_ids) & (gt == IGNORE)).sum())
        write_pair(sample, inverse[label + 1], out)
    report = {
        "dataset": f"{config.dataset}:{config.split}",
        "model": config.model,
        "rule": config.rule,
        "quantile": config.quantile if config.rule == "quantile" else None,
        "images": len(samples),
        "pseudo_pixels_on_void": kept_void,
        "classes": {
            vocab.names[u]: {
                "pixels": int(c[0]),
                "precision": round(100.0 * c[2] / c[1], 2) if c[1] else None,
                "recall": round(100.0 * c[2] / c[3], 2) if c[3] else None,
                "threshold": None if thresholds is None else round(float(thresholds[u]), 4),
            }
            for u, c in counts.items()
        },
    }
    if (Path(config.root) / "classes.txt").is_file():
        (Path(config.out) / "classes.txt").write_text((Path(config.root) / "classes.txt").read_text())
    write_atomically({Path(config.out) / "pseudo_labels.json": lambda p: p.write_text(json.dumps(report, indent=2))})
    return report


def _predict(segmenter: Segmenter, path: Path, vocab: Vocabulary, unseen_ids: list[int], unseen: list[str]):
    """(best unseen class [H, W], best class overall [H, W], its confidence [H, W] float16)."""
    state = segmenter.encode_image(load_image(path))
    seg = segmenter.predict(vocab, unseen=unseen, image=state)
    best_unseen, _ = semantic_map(seg.mask_probs[:, unseen_ids], seg.masks.float(), state.size, filled=True)
    return (
        np.asarray(unseen_ids)[best_unseen.cpu().numpy()].astype(np.int16),
        seg.labels.astype(np.int16),
        seg.confidence.astype(np.float16),
    )


def _thresholds(predictions, unseen_ids: list[int], quantile: float) -> dict[int, float]:
    """Per unseen class, the ``quantile`` of the confidences of the pixels it wins."""
    out = {}
    for u in unseen_ids:
        values = np.concatenate([conf[best == u].astype(np.float32) for _, best, conf in predictions])
        out[u] = float(np.quantile(values, quantile)) if values.size else float("inf")
    return out


def _pseudo(gt: np.ndarray, pred, unseen_ids: list[int], thresholds: dict[int, float] | None) -> np.ndarray:
    """Training ids [H, W]: seen ground truth, pseudo-labels for unseen classes, IGNORE elsewhere."""
    best_unseen, best, conf = pred
    seen_gt = (gt >= 0) & ~np.isin(gt, unseen_ids)
    label = np.full(gt.shape, IGNORE, np.int64)
    if thresholds is None:  # prior: every pixel without seen ground truth
        label[~seen_gt] = best_unseen[~seen_gt]
    else:
        limit = np.full(int(best.max(initial=0)) + 1, np.inf, np.float32)
        for u, t in thresholds.items():
            if u < len(limit):
                limit[u] = t
        keep = ~seen_gt & (conf.astype(np.float32) >= limit[best])  # seen classes have no threshold: never kept
        label[keep] = best[keep]
    label[seen_gt] = gt[seen_gt]
    return label


def _file_values(dataset: SegmentationDataset) -> np.ndarray:
    """Evaluation id + 1 -> a label-file value of the dataset that reads back as that id (index 0: ignore)."""
    lut = dataset.spec.lut
    inverse = np.zeros(len(dataset.vocabulary) + 1, np.int64)
    for value in range(len(lut) - 1, -1, -1):  # the smallest file value wins
        if IGNORE <= lut[value] < len(dataset.vocabulary):  # (the generic layout's table covers 0-254)
            inverse[lut[value] + 1] = value
    return inverse


@dataclass
class SelfTrainConfig:
    """``zsseg self-train``: train on the seen classes, pseudo-label, train again, evaluate."""

    seen: str  # the training config of the seen-only network (trained first if its model.pt is missing)
    output: str
    rounds: int = 1
    rule: str = RULES[0]
    quantile: float = 0.5
    retrain: dict = field(default_factory=dict)  # TrainConfig fields for the retraining (e.g. iterations)
    segmenter: dict = field(default_factory=dict)  # SegmenterConfig fields for pseudo-labelling and evaluation
    # the zero-shot evaluation: {"root": ..., "split": "val", "limit": ...}
    evaluate: dict = field(default_factory=dict)
    # Also train the control: the same extra iterations from the same weights on the seen labels
    # alone (same images, schedule and seed), so that +ST is compared with more training, not with less.
    control: bool = True
    seed: int | None = None  # the seen config's seed for every training here; outputs get "-seed{N}"

    @classmethod
    def from_file(cls, path: str | Path) -> "SelfTrainConfig":
        return cls(**read_config(path, cls, "self-training"))


def self_train(config: SelfTrainConfig, progress: bool = True, command: str = "zsseg self-train") -> dict:
    """Every round's model, pseudo-label report and evaluation, in OUTPUT/summary.json; ``command``
    is recorded in each evaluation's metrics.json."""
    from ..evaluation import EvalConfig, run

    seen_cfg = TrainConfig.from_file(config.seen)
    if len(seen_cfg.data) != 1:
        raise ZsegError(f"{config.seen}: self-training takes a single-dataset seen-class config")
    source = seen_cfg.sources()[0]
    out = Path(config.output)
    if config.seed is not None:
        seen_cfg = replace(seen_cfg, seed=config.seed, output=f"{seen_cfg.output}-seed{config.seed}")
        out = Path(f"{config.output}-seed{config.seed}")
    model = trained_model(seen_cfg, progress)
    segmenter = SegmenterConfig(**config.segmenter)

    def evaluate(model_path: Path, name: str) -> dict:
        ev = EvalConfig(
            dataset=source.dataset,
            root=config.evaluate.get("root", source.root),
            split=config.evaluate.get("split", "val"),
            limit=config.evaluate.get("limit"),
            unseen=list(seen_cfg.unseen),
            progress=progress,
            out=str(out / name),
            segmenter=replace(segmenter, proposals="maskformer", proposals_model=str(model_path)),
        )
        result = run(ev, command=f"{command} ({name})")
        return {k: result[k] for k in ("mIoU", "mIoU_seen", "mIoU_unseen", "hIoU")}

    summary = {"rounds": [], "seen_only": {"model": str(model), **evaluate(model, "eval-seen-only")}}
    control = model
    for r in range(1, config.rounds + 1):
        pseudo = out / f"round{r}" / "pseudo"
        report = pseudo_label(
            PseudoLabelConfig(
                dataset=source.dataset,
                root=source.root,
                split=source.split,
                unseen=list(seen_cfg.unseen),
                model=str(model),
                out=str(pseudo),
                rule=config.rule,
                quantile=config.quantile,
                segmenter=segmenter,
                progress=progress,
            )
        )
        retrain = replace(
            seen_cfg,
            data=[{"dataset": source.dataset, "root": str(pseudo), "split": source.split}],
            unseen=[],
            init_from=str(model),
            output=str(out / f"round{r}" / "train"),
            **config.retrain,
        )
        model = train(retrain, resume=True, progress=progress) / "model.pt"
        summary["rounds"].append(
            {"model": str(model), "pseudo_labels": report["classes"], **evaluate(model, f"eval-round{r}")}
        )
        if config.control:  # round r's control continues round r-1's on the seen labels
            where = str(out / f"round{r}" / "control")
            again = replace(seen_cfg, init_from=str(control), output=where, **config.retrain)
            control = train(again, resume=True, progress=progress) / "model.pt"
            summary["rounds"][-1]["control"] = {"model": str(control), **evaluate(control, f"eval-round{r}-control")}
    write_atomically({out / "summary.json": lambda p: p.write_text(json.dumps(summary, indent=2))})
    return summary
