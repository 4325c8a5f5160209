"""Do the results look like segmentations? From the label maps that ``zsseg eval --save-predictions``
wrote: the share of images where one class covers >= 97 % of the pixels, and per image the number of
classes covering >= 3 % of it, predicted vs ground truth (pixels that the ground truth ignores are
left out of both). Takes evaluation folders (their metrics.json names the dataset) and writes
each one's figures to DIR/shape.json.

    zsseg eval --dataset camvid --root ../shared/data/camvid --out results/camvid-default --save-predictions
    python benchmarks/segmentation_shape.py results/camvid-default
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from zsseg.datasets import SegmentationDataset, get_spec

ONE_CLASS = 0.97
PRESENT = 0.03


def shape(labels: np.ndarray, valid: np.ndarray, n_classes: int) -> tuple[bool, int]:
    """(one class on >= 97 % of the valid pixels, classes on >= 3 % of them)."""
    counts = np.bincount(labels[valid].ravel(), minlength=n_classes)
    total = max(1, int(counts.sum()))
    return bool(counts.max() / total >= ONE_CLASS), int((counts / total >= PRESENT).sum())


def measure(result_dir: Path) -> dict:
    metrics = json.loads((result_dir / "metrics.json").read_text())
    ds = SegmentationDataset(metrics["root"], metrics["split"], get_spec(metrics["dataset"]))
    n = len(ds.vocabulary)
    rows = []
    for sample in ds.samples[: metrics["images"]]:
        pred = np.array(Image.open(result_dir / "predictions" / f"{sample.stem}.png")).astype(np.int64)
        gt = ds.read_label(sample, pred.shape)
        valid = gt >= 0
        rows.append((*shape(pred, valid, n), *shape(np.where(valid, gt, 0), valid, n)))
    arr = np.array(rows, dtype=float)
    return {
        "images": len(rows),
        "one_class_share_pred": round(float(arr[:, 0].mean()), 4),
        "one_class_share_gt": round(float(arr[:, 2].mean()), 4),
        "classes_over_3pct_pred": round(float(arr[:, 1].mean()), 2),
        "classes_over_3pct_gt": round(float(arr[:, 3].mean()), 2),
        "classes_over_3pct_abs_diff": round(float(np.abs(arr[:, 1] - arr[:, 3]).mean()), 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="+", type=Path, help="folders of `zsseg eval --out DIR --save-predictions`")
    args = p.parse_args()
    for result_dir in args.results:
        figures = measure(result_dir)
        (result_dir / "shape.json").write_text(json.dumps(figures, indent=2) + "\n")
        print(json.dumps({str(result_dir): figures}))


if __name__ == "__main__":
    main()
