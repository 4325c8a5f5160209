"""Why +ST does or does not raise the unseen classes: each network of a `zsseg self-train` run
(seen-only, control, +ST) scored three ways on the same val images.

- **default**: the run's own evaluation (the two-stage ensemble; +ST's network knows the unseen
  names, so for it they are seen classes, mostly its own scores);
- **VLM alone** (``--ensemble-weight 0 --unseen-weight 0``): every class from the vision-language
  model's crops; the networks differ only in their masks;
- **network alone** (``--ensemble-weight 1 --unseen-weight 1``): every class from the network's
  own class head; a seen-only network scores unseen names through its text embeddings only;
- **oracle** (``--oracle``): each mask labelled with its majority ground-truth class: what a perfect
  classifier would make of the masks, and recall@0.5 of the unseen segments (does stage 1 propose
  the unseen things at all?).

    python benchmarks/self_training_why.py --config configs/toy_compositional_self_training.json --seed 0
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from report import save

MODES = {
    "VLM alone": ["--ensemble-weight", "0", "--unseen-weight", "0"],
    "network alone": ["--ensemble-weight", "1", "--unseen-weight", "1"],
    "oracle": ["--oracle"],
}


def eval_args(config: dict, seen_cfg: dict) -> list[str]:
    """The evaluation `zsseg self-train` runs (dataset, root, split, segmenter settings, unseen names)."""
    ev, seg = config["evaluate"], config.get("segmenter", {})
    dataset = ev.get("dataset", seen_cfg["data"][0]["dataset"])
    args = ["--dataset", dataset, "--root", ev["root"], "--split", ev["split"]]
    for key, value in seg.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args + ["--unseen", ", ".join(seen_cfg["unseen"])]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="the self-training config of the run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="default: results/st-why-<run name>")
    args = p.parse_args(argv)
    config = json.loads(Path(args.config).read_text())
    seen_cfg = json.loads(Path(config["seen"]).read_text())
    run = Path(f"{config['output']}-seed{args.seed}")
    summary = json.loads((run / "summary.json").read_text())
    networks = {
        "seen-only": summary["seen_only"]["model"],
        "control": summary["rounds"][0]["control"]["model"],
        "+ST": summary["rounds"][0]["model"],
    }
    out = Path(args.out or f"results/st-why-{run.name}")
    rows: dict[str, dict] = {}
    for name, model in networks.items():
        rows[name] = {}
        for mode, extra in MODES.items():
            dest = out / f"{name.replace('+', 'plus-')}-{mode.replace(' ', '-')}"
            if not (dest / "metrics.json").is_file():
                cmd = [sys.executable, "-m", "zsseg", "eval", *eval_args(config, seen_cfg), "--proposals", "maskformer",
                       "--proposals-model", model, *extra, "--out", str(dest), "--quiet"]  # fmt: skip
                subprocess.run(cmd, check=True)
            m = json.loads((dest / "metrics.json").read_text())
            keep = ("mIoU_seen", "mIoU_unseen", "hIoU", "recall@0.5_seen", "recall@0.5_unseen")
            rows[name][mode] = {k: m[k] for k in keep if k in m}
    lines = ["| network | " + " | ".join(f"{m}: seen / unseen" for m in MODES) + " | oracle recall@0.5 unseen |"]
    lines.append("|" + "---|" * (len(MODES) + 2))
    for name, r in rows.items():
        cells = [f"{r[m]['mIoU_seen']:.1f} / {r[m]['mIoU_unseen']:.1f}" for m in MODES]
        recall = r["oracle"].get("recall@0.5_unseen")
        lines.append(f"| {name} | {' | '.join(cells)} | {'' if recall is None else f'{recall:.1f}'} |")
    text = "\n".join(lines)
    print(text)
    save(out, "self_training_why.py", argv, text, {"networks": networks, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
