"""`zsseg finetune` in miniature: teach a network 6 classes it never saw from 20 or 50 labelled
train images, and measure what it learns and what it forgets (docs/training.md, "Your own classes").

1. Two networks by the shipped recipe, shortened to 800 iterations on VOC train + CamVid train:
   configs/finetune_mini_base.json leaves out sheep, sofa, train (VOC) and sidewalk, fence,
   bicyclist (CamVid): their pixels ignored, their names unknown; configs/finetune_mini_reference.json
   trains on every class (the "full training" the new classes are compared with).
2. Folders in the generic layout, N = 20 and 50 train images (half VOC, half CamVid, taken in turn
   per new class by a fixed hash order): the 6 new classes labelled, every other pixel 255.
3. `zsseg finetune FOLDER --base runs/finetune-mini-base/model.pt`.
4. `zsseg eval` of base, taught and reference networks on the dev subsets (VOC val 112, CamVid val
   101) with the default pipeline: old classes' mIoU (the dataset's classes less the new ones)
   and each new class's IoU; with ``--new-class-bias B,...`` also copies of each taught network
   whose new classes' logits are lowered by B at inference (no retraining).

    zsseg train --config configs/finetune_mini_base.json        # ~30 min alone on 2 CPU cores
    zsseg train --config configs/finetune_mini_reference.json
    python benchmarks/finetune_miniature.py --out results/finetune-miniature
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from report import save

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
# dataset -> (zsseg dataset, root, {dataset class name: training class line})
NEW = {
    "voc21": ("voc2012", {"sheep": "sheep", "sofa": "sofa: sofa; couch", "train": "train"}),
    "camvid": (
        "camvid",
        {"Pavement": "sidewalk: sidewalk; pavement", "Fence": "fence", "Bicyclist": "bicyclist: bicyclist; cyclist"},
    ),
}


def _order(name: str, draw: int = 0) -> str:
    return hashlib.sha1((f"{draw}:{name}" if draw else name).encode()).hexdigest()


def pick(labels: list[Path], ids: list[int], n: int, draw: int = 0) -> list[Path]:
    """n label files holding the classes ``ids``, taken in turn per class in a fixed hash order
    (``draw`` > 0: another order, for the spread over folders)."""
    per_class: dict[int, list[Path]] = {i: [] for i in ids}
    for label in sorted(labels, key=lambda p: _order(p.stem, draw)):
        for i in set(np.unique(np.array(Image.open(label)))) & set(ids):
            per_class[i].append(label)
    chosen: list[Path] = []
    while len(chosen) < n and any(per_class.values()):
        for i in ids:
            left = [p for p in per_class[i] if p not in chosen]
            per_class[i] = left[1:]
            if left and len(chosen) < n:
                chosen.append(left[0])
    return chosen


def build_folder(dest: Path, n: int, shared: Path, draw: int = 0) -> dict:
    """DEST/train/images (links) + labels (new classes only, 255 elsewhere) + classes.txt; what it holds."""
    lines = [line for _, new in NEW.values() for line in new.values()]
    (dest / "train" / "images").mkdir(parents=True, exist_ok=True)
    (dest / "train" / "labels").mkdir(parents=True, exist_ok=True)
    (dest / "classes.txt").write_text("\n".join(lines) + "\n")
    held: dict[str, list[str]] = {}
    offset = 0
    for key, (folder, new) in NEW.items():
        root = shared / folder
        names = [x.strip() for x in (root / "classes.txt").read_text().splitlines() if x.strip()]
        ids = {names.index(c): offset + k for k, c in enumerate(new)}
        chosen = pick(list((root / "train" / "labels").glob("*.png")), list(ids), n // 2, draw)
        for label in chosen:
            raw = np.array(Image.open(label))
            out = np.full(raw.shape, 255, np.uint8)
            for i, k in ids.items():
                out[raw == i] = k
            Image.fromarray(out).save(dest / "train" / "labels" / f"{key}_{label.stem}.png")
            image = next((root / "train" / "images").glob(f"{label.stem}.*"))
            link = dest / "train" / "images" / f"{key}_{label.stem}{image.suffix}"
            if not link.exists():
                link.symlink_to(image.resolve())
        held[key] = [p.stem for p in chosen]
        offset += len(new)
    return held


def with_new_class_bias(model: Path, bias: float) -> Path:
    """A copy of a taught network whose new classes' logits are lowered by ``bias`` at inference
    (what `zsseg finetune --new-class-bias` records; the weights are the same)."""
    import torch

    state = torch.load(model, map_location="cpu", weights_only=False)
    new = json.loads((model.parent / "finetune.json").read_text())["new"]
    state["class_bias"] = {c: -bias for c in new}
    dest = model.with_name(f"model-bias{bias:g}.pt")
    torch.save(state, dest)
    return dest


def zsseg(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "zsseg", *args], check=True)
    return time.perf_counter() - start


def evaluate(model: Path, out: Path, shared: Path) -> dict:
    """Old classes' mIoU and new classes' IoU per dataset (dev subsets, default pipeline)."""
    scores = {}
    for key, (folder, new) in NEW.items():
        dest = out / key
        if not (dest / "metrics.json").is_file():
            zsseg("eval", "--dataset", key, "--root", str(shared / folder), "--split", "val",
                  "--proposals-model", str(model), "--out", str(dest), "--quiet")  # fmt: skip
        iou = {c.lower(): v for c, v in json.loads((dest / "metrics.json").read_text())["per_class_IoU"].items()}
        taught = {c.lower() for c in new}
        old = [v for c, v in iou.items() if c not in taught and v is not None]
        scores[key] = {"old_mIoU": float(np.mean(old)), "new_IoU": {c: iou[c.lower()] for c in new}}
    return scores


def table(rows: dict[str, dict]) -> str:
    """Old classes' mIoU and new classes' IoU per dataset; "new / reference": the new classes' mean
    IoU over the reference network's (one class at 0 IoU in the reference would make per-class ratios
    meaningless)."""
    ref = rows["reference (full training)"]
    ref_new = [v for key in NEW for v in ref["scores"][key]["new_IoU"].values()]
    head = (
        "| network | VOC old mIoU | VOC new IoU (sheep / sofa / train) | CamVid old mIoU "
        "| CamVid new IoU (sidewalk / fence / bicyclist) | new / reference | minutes |"
    )
    lines = [head, "|" + "---|" * 7]
    for name, r in rows.items():
        cells, new = [], []
        for key in NEW:
            s = r["scores"][key]
            new += list(s["new_IoU"].values())
            cells += [f"{s['old_mIoU']:.1f}", " / ".join(f"{v:.1f}" for v in s["new_IoU"].values())]
        minutes = f"{r['seconds'] / 60:.0f}" if r.get("seconds") else ""
        lines.append(f"| {name} | {' | '.join(cells)} | {100 * np.mean(new) / np.mean(ref_new):.0f} % | {minutes} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="runs/finetune-mini-base/model.pt")
    p.add_argument("--reference", default="runs/finetune-mini-reference/model.pt")
    p.add_argument("--sizes", default="20,50")
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument(
        "--finetune-args", default="", help="more `zsseg finetune` options, e.g. '--teacher-confidence 0.25'"
    )
    p.add_argument("--draw", type=int, default=0, help="another draw of the folder's images (0: the documented one)")
    p.add_argument("--tag", default="", help="appended to the taught networks' folder and row names")
    p.add_argument(
        "--new-class-bias",
        default="",
        help="comma-separated: also evaluate each taught network with these new-class logit biases (no retraining)",
    )
    p.add_argument("--work", default="runs/finetune-mini", help="folders and taught networks")
    p.add_argument("--shared", default=str(SHARED))
    p.add_argument("--out", default="results/finetune-miniature")
    args = p.parse_args(argv)
    work, out, shared = Path(args.work), Path(args.out), Path(args.shared)
    rows: dict[str, dict] = {"base (6 classes left out)": {"scores": evaluate(Path(args.base), out / "base", shared)}}
    folders = {}
    for n in (int(x) for x in args.sizes.split(",")):
        data = work / (f"data{n}-draw{args.draw}" if args.draw else f"data{n}")
        folders[n] = build_folder(data, n, shared, args.draw)
        name = f"taught{n}{args.tag}"
        seconds = zsseg("finetune", str(data), "--base", args.base, "--out", str(work / name),
                        "--iterations", str(args.iterations), *args.finetune_args.split(), "--quiet")  # fmt: skip
        label = f"taught with {n} images{' ' + args.finetune_args if args.finetune_args else ''}"
        rows[label] = {"scores": evaluate(work / name / "model.pt", out / name, shared), "seconds": seconds}
        for bias in (float(b) for b in args.new_class_bias.split(",") if b.strip()):
            model = with_new_class_bias(work / name / "model.pt", bias)
            rows[f"{label}, new-class bias {bias:g}"] = {
                "scores": evaluate(model, out / f"{name}-bias{bias:g}", shared)
            }
    rows["reference (full training)"] = {"scores": evaluate(Path(args.reference), out / "reference", shared)}
    text = table(rows)
    print(text)
    save(out, "finetune_miniature.py", argv, text, {"rows": rows, "folders": folders})
    return 0


if __name__ == "__main__":
    sys.exit(main())
