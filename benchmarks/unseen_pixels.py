"""Where the ground-truth pixels of unseen classes go: the share labelled as their own class, as
another unseen class, as a seen class, or as background, over a generic-layout split.

    python benchmarks/unseen_pixels.py runs/toyworld --limit 40 --model toyworld/tiny-clip \\
        --proposals-model runs/toy-heldout/model.pt --short-side 96 \\
        --classes "red star, green star, blue star, yellow star" \\
        --unseen "purple circle, purple square, purple triangle, purple star, purple cross, \\
                  red star, green star, blue star, yellow star"
"""

from __future__ import annotations

import argparse
import collections
import json

import numpy as np

from zsseg.config import SegmenterConfig
from zsseg.datasets import SegmentationDataset, get_spec
from zsseg.segmenter import Segmenter


def config_of(device: str = "cpu", **given) -> SegmenterConfig:
    """A SegmenterConfig of the options given (None: the default)."""
    return SegmenterConfig(**{k: v for k, v in given.items() if v is not None}, device=device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", help="a generic-layout dataset (ROOT/classes.txt, ROOT/SPLIT/images|labels)")
    p.add_argument("--split", default="val")
    p.add_argument("--limit", type=int, default=40)
    p.add_argument("--unseen", required=True, help="comma-separated unseen classes (the ensemble's)")
    p.add_argument("--classes", default=None, help="comma-separated: count these unseen classes only (default: all)")
    p.add_argument("--model", default=None)
    p.add_argument("--proposals-model", default=None)
    p.add_argument("--short-side", type=int, default=None)
    args = p.parse_args()
    data = SegmentationDataset(args.root, args.split, get_spec("generic"))
    names = data.vocabulary.names
    unseen = [u.strip() for u in args.unseen.split(",")]
    counted = [c.strip() for c in args.classes.split(",")] if args.classes else unseen
    seg = Segmenter.from_config(
        config_of(model=args.model, proposals_model=args.proposals_model, short_side=args.short_side)
    )
    shares: collections.Counter = collections.Counter()
    for sample in data.samples[: args.limit]:
        out = seg(sample.image_path, data.vocabulary, unseen=unseen).labels
        gt = data.read_label(sample, out.shape)
        for name in counted:
            predicted = out[gt == names.index(name)]
            for c, n in zip(*np.unique(predicted, return_counts=True)):
                guess = names[c]
                kind = (
                    "own class"
                    if guess == name
                    else "background"
                    if guess == "background"
                    else ("another unseen class" if guess in unseen else "a seen class")
                )
                shares[kind] += int(n)
    total = sum(shares.values())
    print(json.dumps({"pixels": total, **{k: round(100 * v / max(1, total), 1) for k, v in shares.most_common()}}))


if __name__ == "__main__":
    main()
