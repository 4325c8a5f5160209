"""Markdown tables of the zero-shot miniature (results/zs-*/metrics.json, written by
zero_shot_miniature.sh), so the README quotes the files rather than hand-copied numbers."""

import json
import sys
from pathlib import Path

ROWS = {  # row suffix -> what it is
    "graph": "training-free: graph proposals + ConSE crops",
    "graph-coop": "training-free + learned prompt (CoOp)",
    "maskformer": "two-stage: trained proposal network + ConSE crops, λ = 0.8",
    "maskformer-coop": "two-stage + learned prompt (CoOp)",
    "per-pixel": "per-pixel baseline (same backbone, trained the same way)",
}
ORACLE = ("graph", "slic", "maskformer")


def main(results: Path = Path("results")) -> None:
    for split in ("voc15", "camvid8"):
        rows = [(k, results / f"zs-{split}-{k}" / "metrics.json") for k in ROWS]
        rows = [(k, json.loads(p.read_text())) for k, p in rows if p.exists()]
        if not rows:
            continue
        print(f"\n{split}: {rows[0][1]['dataset']} {rows[0][1]['split']}, {rows[0][1]['images']} images\n")
        print(
            "| method | mIoU seen | mIoU unseen | hIoU | mIoU | s / image * | results/ |\n|---|---|---|---|---|---|---|"
        )
        for k, r in rows:
            print(
                f"| {ROWS[k]} | {r['mIoU_seen']:.1f} | {r['mIoU_unseen']:.1f} | {r['hIoU']:.1f} "
                f"| {r['mIoU']:.1f} | {r['seconds_per_image']:.2f} | `zs-{split}-{k}` |"
            )
        print(
            "\n| proposals | oracle mIoU seen | oracle mIoU unseen | recall@0.5 seen | "
            "recall@0.5 unseen | proposals / image | results/ |\n|---|---|---|---|---|---|---|"
        )
        for k in ORACLE:
            p = results / f"zs-{split}-oracle-{k}" / "metrics.json"
            if p.exists():
                r = json.loads(p.read_text())
                print(
                    f"| {k} | {r['mIoU_seen']:.1f} | {r['mIoU_unseen']:.1f} | {r['recall@0.5_seen']:.1f} | "
                    f"{r['recall@0.5_unseen']:.1f} | {r['proposals_per_image']:.0f} | `zs-{split}-oracle-{k}` |"
                )
    print(
        "\n\\* one thread, with training jobs sharing the 2 cores: compare within a table, not with the Speed section."
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results"))
