"""Choose the offline backend's crop style and calibration by measurement (VOC val, VOC-20).

Proposals and ImageNet probabilities of every crop are computed once per image, then each
(style, calibration, temperature) setting is scored from them.

    python benchmarks/offline_crop_styles.py --root ../shared/data/voc2012 --limit 30
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from zsseg.backends.conse import ConseBackend
from zsseg.classification import build_crops, normalise_and_resize
from zsseg.datasets import SegmentationDataset, get_spec
from zsseg.ensemble import class_probabilities, semantic_map
from zsseg.evaluation.metrics import ConfusionMatrix
from zsseg.geometry import window_boxes
from zsseg.image_io import load_image, resize_short_side
from zsseg.prompts import get_templates
from zsseg.proposals import GraphProposals
from zsseg.text_cache import TextEmbeddingCache, default_cache_dir


def collect(backend: ConseBackend, dataset: SegmentationDataset, limit: int, short_side: int) -> list[dict]:
    records = []
    for sample in dataset.samples[:limit]:
        rgb = load_image(sample.image_path)
        work = resize_short_side(rgb, short_side)
        binary = GraphProposals()(work).masks > 0.5
        img = torch.from_numpy(work.copy()).permute(2, 0, 1)
        rec = {"gt": dataset.read_label(sample, rgb.shape[:2]), "masks": binary, "shape": rgb.shape[:2]}
        for style in ("masked", "context"):
            crops = build_crops(img, binary, 224, backend.pixel_mean, backend.pixel_std, style, 1.0, 0.1)
            rec[style] = torch.cat([backend.imagenet_probs(crops[i : i + 32]) for i in range(0, len(crops), 32)])
        boxes = window_boxes(*work.shape[:2], (0.5, 1.0))
        crops = torch.cat(
            [
                normalise_and_resize(img[:, y0:y1, x0:x1], 224, backend.pixel_mean, backend.pixel_std)
                for (x0, y0, x1, y1) in boxes
            ]
        )
        rec["window"] = backend.imagenet_probs(crops)
        rec["window_weights"] = torch.stack(
            [binary[:, y0:y1, x0:x1].flatten(1).sum(1) for (x0, y0, x1, y1) in boxes], 1
        ).float()
        records.append(rec)
    return records


def score(backend: ConseBackend, records: list[dict], vocab, style: str, text, groups) -> tuple[float, float]:
    cm = ConfusionMatrix(len(vocab))
    counts = np.zeros(len(vocab))
    for r in records:
        if style == "window":
            w = r["window_weights"] / r["window_weights"].sum(1, keepdim=True).clamp(min=1)
            emb = torch.nn.functional.normalize(w @ backend.embed_probs(r["window"]), dim=-1)
        else:
            emb = backend.embed_probs(r[style])
        p = class_probabilities(backend, emb, text, groups, len(vocab))
        labels, _ = semantic_map(p, r["masks"].float(), tuple(r["shape"]))
        cm.update(labels.numpy(), r["gt"])
        counts += np.bincount(labels.numpy()[r["gt"] >= 0], minlength=len(vocab))
    return cm.summary(vocab.names)["mIoU"], counts[vocab.index("person")] / counts.sum()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="../shared/data/voc2012")
    ap.add_argument("--limit", type=int, default=30)
    ap.add_argument("--short-side", type=int, default=384)
    args = ap.parse_args()
    cache = TextEmbeddingCache(default_cache_dir())
    backend = ConseBackend(text_cache=cache)
    dataset = SegmentationDataset(args.root, "val", get_spec("voc20"))
    vocab = dataset.vocabulary
    names = [p for ps in vocab.prompts for p in ps]
    groups = torch.tensor([i for i, ps in enumerate(vocab.prompts) for _ in ps])
    text = cache.encode(backend, names, get_templates("single"))
    records = collect(backend, dataset, args.limit, args.short_side)
    gt_counts = np.zeros(len(vocab))
    for r in records:
        gt_counts += np.bincount(r["gt"][r["gt"] >= 0], minlength=len(vocab))
    print(f"VOC val first {len(records)} images, VOC-20, graph proposals, short side {args.short_side}")
    print(f"ground-truth person share of foreground: {gt_counts[vocab.index('person')] / gt_counts.sum():.2f}")
    print("| crop style | calibration | temperature | mIoU | person share of predicted foreground |")
    print("|---|---|---|---|---|")
    for style in ("masked", "context", "window"):
        for calibration, temps in (("none", (0.01, 0.03)), ("zscore", (0.3, 1.0))):
            for temp in temps:
                backend.calibration, backend.temperature = calibration, temp
                miou, person = score(backend, records, vocab, style, text, groups)
                print(f"| {style} | {calibration} | {temp} | {miou:.1f} | {person:.2f} |", flush=True)


if __name__ == "__main__":
    main()
