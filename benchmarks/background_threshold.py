"""Tune the "low confidence -> background" threshold for VOC-21 on the *train* split.

Each image is segmented once; every threshold is then applied to the stored confidence map.

    python benchmarks/background_threshold.py --root ../shared/data/voc2012 --split train --limit 40
"""

from __future__ import annotations

import argparse

import numpy as np

from zsseg import Segmenter
from zsseg.datasets import SegmentationDataset, get_spec
from zsseg.evaluation.metrics import ConfusionMatrix
from zsseg.image_io import load_image


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="../shared/data/voc2012")
    ap.add_argument("--split", default="train")
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--model", default="conse")
    args = ap.parse_args()
    thresholds = [0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    dataset = SegmentationDataset(args.root, args.split, get_spec("voc21"))
    vocab = dataset.vocabulary
    segmenter = Segmenter.from_pretrained(args.model)
    matrices = {t: ConfusionMatrix(len(vocab)) for t in thresholds}
    for sample in dataset.samples[: args.limit]:
        rgb = load_image(sample.image_path)
        gt = dataset.read_label(sample, rgb.shape[:2])
        seg = segmenter(rgb, vocab)
        for t, cm in matrices.items():
            labels = np.where(seg.confidence < t, vocab.background_index, seg.labels)
            cm.update(labels, gt)
    print(f"VOC {args.split}, first {args.limit} images, VOC-21, model {args.model}")
    print("| background threshold | mIoU | background IoU |")
    print("|---|---|---|")
    for t, cm in matrices.items():
        s = cm.summary(vocab.names)
        print(f"| {t} | {s['mIoU']:.1f} | {s['per_class_IoU']['background']:.1f} |")


if __name__ == "__main__":
    main()
