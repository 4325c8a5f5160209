"""Choosing the default's VLM settings on the dev subsets (VOC-21 val 112 and CamVid val 101, together):
each candidate is evaluated on both and ranked by the mean of the two mIoUs (never VOC-20 alone,
which rewards painting one class over the whole photo).

    python benchmarks/default_selection.py --out results/default-selection
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from zsseg.evaluation import EvalConfig, run
from zsseg.segmenter import SegmenterConfig

DEV = {"voc21": "../shared/data/voc2012", "camvid": "../shared/data/camvid"}
# (measured before the arbitrated ensemble and similarity reading existed: pinned to the reference's)
OLD = dict(ensemble="reference", seen="named", concept_weight=0.0)
CANDIDATES = {
    "window-l0.8": dict(**OLD, crop="window", ensemble_weight=0.8),
    "dense-l0.8": dict(**OLD, crop="dense", ensemble_weight=0.8),
    "window-l0.9": dict(**OLD, crop="window", ensemble_weight=0.9),
    "dense-l0.9": dict(**OLD, crop="dense", ensemble_weight=0.9),
    "network-only-l1.0": dict(**OLD, crop="dense", ensemble_weight=1.0),
    "window-l0.8-mean": dict(**OLD, crop="window", ensemble_weight=0.8, synonyms="mean"),
    "dense-l0.8-mean": dict(**OLD, crop="dense", ensemble_weight=0.8, synonyms="mean"),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="results/default-selection")
    p.add_argument("--only", nargs="*", default=None, help="candidate names (default: all)")
    p.add_argument("--proposals-model", default=None, help="default: the shipped network")
    args = p.parse_args()
    summary = Path(args.out) / "summary.json"
    rows = json.loads(summary.read_text()) if summary.exists() else {}  # earlier --only runs are kept
    for name, options in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        rows[name] = {}
        for dataset, root in DEV.items():
            seg = SegmenterConfig(
                model="conse", proposals="maskformer", proposals_model=args.proposals_model, **options
            )
            out = Path(args.out) / f"{name}-{dataset}"
            result = run(
                EvalConfig(dataset=dataset, root=root, segmenter=seg, out=str(out), progress=False),
                command=f"python benchmarks/default_selection.py --only {name}",
            )
            rows[name][dataset] = result["mIoU"]
            rows[name][f"{dataset}_s_per_image"] = result["seconds_per_image"]
        rows[name]["mean"] = round((rows[name]["voc21"] + rows[name]["camvid"]) / 2, 2)
        print(json.dumps({name: rows[name]}), flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    summary.write_text(json.dumps(rows, indent=2))
    print("| candidate | VOC-21 | CamVid | mean |\n|---|---|---|---|")
    for name, r in sorted(rows.items(), key=lambda kv: -kv[1]["mean"]):
        print(f"| {name} | {r['voc21']:.1f} | {r['camvid']:.1f} | {r['mean']:.1f} |")


if __name__ == "__main__":
    main()
