"""A first call vs a changed class list on the same image (``set_image`` once, ``predict`` per
vocabulary): seconds for each, and whether the relabelled result equals a fresh call.

    python benchmarks/vocabulary_change.py ../shared/data/voc2012/val/images --limit 10
    python benchmarks/vocabulary_change.py IMAGES --model conse --proposals graph   # any segmenter option
"""

from __future__ import annotations

import argparse
import json
import statistics

import numpy as np

from zsseg import Segmenter
from zsseg.inputs import expand_inputs

FIRST = "person, dog, cat, car, sofa, chair, background"
CHANGED = ("person, horse, bicycle, tree, sky, grass, road", "kitten, couch, window, floor, wall, television")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--model", default=None)
    parser.add_argument("--proposals", default=None)
    args = parser.parse_args()
    segmenter = Segmenter.from_pretrained(args.model, args.proposals)
    images = expand_inputs(args.inputs)[: args.limit]
    segmenter(images[0], FIRST)  # warm-up: text cache, allocator, thread pool
    for classes in CHANGED:
        segmenter(images[0], classes)
    first, changed, equal, stages = [], [], [], {}
    for path in images:
        seg = segmenter(path, FIRST)  # what a first call costs: the image pass and the classes
        first.append(seg.timings["total"])
        state = segmenter.set_image(path)
        for classes in CHANGED:
            relabelled = segmenter.predict(classes)
            changed.append(relabelled.timings["total"])
            for k, v in relabelled.timings.items():
                stages[k] = stages.get(k, 0.0) + v / (len(images) * len(CHANGED))
            equal.append(bool(np.array_equal(relabelled.labels, segmenter(path, classes).labels)))
    report = {
        "settings": {k: segmenter.settings()[k] for k in ("model", "proposals", "crop", "short_side")},
        "images": len(images),
        "first_call_s": round(statistics.mean(first), 4),
        "changed_vocabulary_s": round(statistics.mean(changed), 4),
        "changed_vocabulary_stages_s": {k: round(v, 4) for k, v in stages.items()},
        "speedup": round(statistics.mean(first) / statistics.mean(changed), 1),
        "labels_equal_to_a_fresh_call": f"{sum(equal)} of {len(equal)}",
        "image_stages_s": {k: round(v, 4) for k, v in state.timings.items()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
