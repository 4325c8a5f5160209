"""metrics.json, a markdown report and a per-class IoU bar chart."""

from __future__ import annotations

import json
from pathlib import Path

from ..image_io import write_atomically


def write_report(result: dict, out: Path) -> list[Path]:
    """Write out/metrics.json, out/report.md and out/per_class_iou.png (all or none)."""
    files = {
        out / "metrics.json": lambda p: p.write_text(json.dumps(result, indent=2)),
        out / "report.md": lambda p: p.write_text(markdown(result)),
        out / "per_class_iou.png": lambda p: bar_chart(result, p),
    }
    write_atomically(files)
    return list(files)


def markdown(r: dict) -> str:
    kind = "oracle (stage 1 with ground-truth labels)" if r.get("oracle") else "model"
    lines = [
        f"# {r['dataset']} — {r['split']} ({r['images']} images, {kind})",
        "",
        f"Command: `{r['command']}`",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for key in (
        "mIoU",
        "mIoU_seen",
        "mIoU_unseen",
        "hIoU",
        "fwIoU",
        "mAcc",
        "pAcc",
        "absent_share",
        "recall@0.5",
        "proposals_per_image",
        "seconds_per_image",
        "images_per_second",
        "processes",
    ):
        if r.get(key) is not None:
            lines.append(f"| {key} | {r[key]} |")
    if r.get("stage_seconds_per_image"):
        lines += ["", "## Time per image (s)", "", "| stage | seconds |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in r["stage_seconds_per_image"].items()]
    recall = r.get("per_class_recall@0.5", {})
    lines += [
        "",
        "## Per class",
        "",
        "| class | IoU | predicted share |" + (" recall@0.5 |" if recall else ""),
        "|---|---|---|" + ("---|" if recall else ""),
    ]
    for name, iou in r["per_class_IoU"].items():
        row = f"| {name} | {'—' if iou is None else f'{iou:.1f}'} | {r['predicted_share'].get(name, 0):.3f} |"
        if recall:
            rec = recall.get(name)
            row += f" {'—' if rec is None else f'{rec:.1f}'} |"
        lines.append(row)
    lines += ["", "## Settings", "", "```json", json.dumps(r.get("settings", {}), indent=2), "```", ""]
    return "\n".join(lines)


def bar_chart(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = [(n, v) for n, v in r["per_class_IoU"].items() if v is not None]
    fig, ax = plt.subplots(figsize=(max(6, 0.28 * len(items) + 2), 4), dpi=100)
    ax.bar(range(len(items)), [v for _, v in items], color="#4c72b0")
    ax.set_xticks(range(len(items)), [n for n, _ in items], rotation=90, fontsize=7)
    ax.set_ylabel("IoU (%)")
    ax.set_ylim(0, 100)
    ax.axhline(r["mIoU"], color="#c44e52", linestyle="--", linewidth=1, label=f"mIoU {r['mIoU']:.1f}")
    ax.set_title(f"{r['dataset']} {r['split']} ({r['images']} images)")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
