"""Would the training-free graph segments help the shipped network's masks on classes it never saw?
Oracle analysis (every mask labelled with its majority ground-truth class) of the network's masks,
the graph segments and their union, on datasets whose classes are mostly not its 30: recall@0.5
(share of ground-truth segments some mask matches with IoU >= 0.5), oracle mIoU and seconds.

    python benchmarks/union_recall.py --out results/union-recall.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from zsseg.datasets import SegmentationDataset, get_spec
from zsseg.evaluation.metrics import ConfusionMatrix
from zsseg.evaluation.oracle import oracle_labels
from zsseg.image_io import load_image
from zsseg.proposals import GraphProposals, MaskFormerProposals, Proposals
from zsseg.segmenter import propose

DATA = {
    "ade150": "../shared/data/ade20k",
    "coco_stuff171": "../shared/data/coco_stuff",
    "voc21": "../shared/data/voc2012",
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="default: the shipped network")
    p.add_argument("--short-side", type=int, default=384)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    network = MaskFormerProposals(args.model) if args.model else MaskFormerProposals()
    graph = GraphProposals()
    report = {}
    for name, root in DATA.items():
        ds = SegmentationDataset(root, "val", get_spec(name))
        n = len(ds.vocabulary)
        rows = {
            k: {"cm": ConfusionMatrix(n), "total": np.zeros(n), "matched": np.zeros(n), "seconds": 0.0}
            for k in ("network", "graph", "union")
        }
        for sample in ds.samples[: args.limit]:
            rgb = load_image(sample.image_path)
            gt = ds.read_label(sample, rgb.shape[:2])
            t = time.perf_counter()
            work, net = propose(network, rgb, args.short_side)
            t_net = time.perf_counter() - t
            t = time.perf_counter()
            _, seg = propose(graph, rgb, args.short_side)
            t_graph = time.perf_counter() - t
            both = Proposals.cat([Proposals(net.masks), seg])
            for key, props, sec in (("network", net, t_net), ("graph", seg, t_graph), ("union", both, t_net + t_graph)):
                labels, total, matched = oracle_labels(props, gt, work.shape[:2], n)
                rows[key]["cm"].update(labels, gt)
                rows[key]["total"] += total
                rows[key]["matched"] += matched
                rows[key]["seconds"] += sec
        images = min(args.limit, len(ds.samples))
        report[name] = {
            key: {
                "oracle_mIoU": round(r["cm"].summary()["mIoU"], 1),
                "recall@0.5": round(100 * r["matched"].sum() / max(1, r["total"].sum()), 1),
                "seconds_per_image": round(r["seconds"] / images, 3),
            }
            for key, r in rows.items()
        }
        report[name]["images"] = images
        print(json.dumps({name: report[name]}), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
