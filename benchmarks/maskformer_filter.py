"""What the trained network's proposal filter costs: ranking only (what MaskFilter does when it
keeps every mask) against the general filter path (dense IoU matrix), on real VOC photos.

    python benchmarks/maskformer_filter.py runs/voc15-small/model.pt
"""

from __future__ import annotations

import glob
import json
import sys
import time

from zsseg.image_io import load_image, resize_short_side
from zsseg.proposals import MaskFormerProposals
from zsseg.vocabulary import resolve_vocabulary


def main(
    model: str, images: str = "../shared/data/voc2012/val/images/*.jpg", n: int = 4, short_side: int = 512
) -> None:
    gen = MaskFormerProposals(model)
    vocab = resolve_vocabulary("vocab:voc21")
    outs = [gen(resize_short_side(load_image(p), short_side), vocab) for p in sorted(glob.glob(images))[:n]]
    f = gen.filter
    t = time.perf_counter()
    ranked = [f(o.masks, o.class_probs.max(1).values) for o in outs]
    rank_s = (time.perf_counter() - t) / n
    t = time.perf_counter()
    general = []
    for o in outs:
        binary = (o.masks > 0.5).flatten(1).float()
        general.append(
            f.select(
                binary.sum(1), lambda idx, b=binary: b[idx] @ b[idx].t(), binary.shape[1], o.class_probs.max(1).values
            )
        )
    general_s = (time.perf_counter() - t) / n
    same = all(a.tolist() == b.tolist() for a, b in zip(ranked, general))
    print(
        json.dumps(
            {
                "images": n,
                "short_side": short_side,
                "rank_only_s": round(rank_s, 4),
                "general_path_s": round(general_s, 4),
                "same_indices": same,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
