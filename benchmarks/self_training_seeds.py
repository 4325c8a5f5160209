"""Seen-only, control and +ST of a `zsseg self-train` config over several seeds: mean ± standard
deviation over seeds, each seed's values, and whether +ST's difference from the control is larger
than the spread (|mean difference| > the larger of the two rows' standard deviations), with the
per-seed differences (+ST and control of a seed start from the same seen-only network).

    python benchmarks/self_training_seeds.py --config configs/toy_compositional_self_training.json --seeds 0,1,2
    # a run of another rule without its own control (--no-control) borrows the control of a run with it:
    python benchmarks/self_training_seeds.py --config configs/toy_compositional_self_training_prior.json \
        --seeds 0,1,2 --control-from configs/toy_compositional_self_training.json
    # or from saved results, one folder per seed (its summary.json, or seen-only/, control/ and
    # plus-ST/ evaluations, each with metrics.json):
    python benchmarks/self_training_seeds.py --dirs results/st-voc15-quick-quantile-seed0/u0.2,...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from report import save

METRICS = ("mIoU_seen", "mIoU_unseen", "hIoU")


def summary(config: Path, seed: int) -> dict:
    output = json.loads(config.read_text())["output"]
    path = Path(f"{output}-seed{seed}") / "summary.json"
    if not path.is_file():
        raise SystemExit(f"{path}: not found; run `zsseg self-train --config {config} --seed {seed}` first")
    return json.loads(path.read_text())


def from_dir(folder: Path) -> dict:
    """A seed's rows from a results folder: its summary.json, or else its seen-only/, control/ and
    plus-ST/ evaluations (a re-evaluation with other settings), in summary.json's shape."""
    if (folder / "summary.json").is_file():
        return json.loads((folder / "summary.json").read_text())
    read = {}
    for name in ("seen-only", "control", "plus-ST"):
        path = folder / name / "metrics.json"
        if not path.is_file():
            raise SystemExit(f"{folder}: neither summary.json nor {name}/metrics.json")
        read[name] = {m: json.loads(path.read_text())[m] for m in METRICS}
    return {"seen_only": read["seen-only"], "rounds": [{**read["plus-ST"], "control": read["control"]}]}


def rows(summaries: list[dict], seeds: list[int], control_from: list[dict] | None = None) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {"seen-only": [], "control": [], "+ST": []}
    for i, s in enumerate(summaries):
        last = s["rounds"][-1]
        control = last.get("control")
        if control is None and control_from is not None:
            control = control_from[i]["rounds"][-1]["control"]
        if control is None:
            raise SystemExit(f"seed {seeds[i]}: no control; pass --control-from a config whose run has one")
        out["seen-only"].append(s["seen_only"])
        out["control"].append(control)
        out["+ST"].append(last)
    return out


def table(data: dict[str, list[dict]], seeds: list[int]) -> tuple[str, list[str]]:
    head = "| model | " + " | ".join(f"{m} (mean ± sd)" for m in METRICS) + " | per seed (" + ", ".join(map(str, seeds))
    lines = [head + ": hIoU) |", "|" + "---|" * (len(METRICS) + 2)]
    for name, runs in data.items():
        cells = []
        for m in METRICS:
            v = np.array([r[m] for r in runs])
            cells.append(f"{v.mean():.1f} ± {v.std(ddof=1) if len(v) > 1 else 0:.1f}")
        per_seed = " / ".join(f"{r['hIoU']:.1f}" for r in runs)
        lines.append(f"| {name} | {' | '.join(cells)} | {per_seed} |")
    verdicts = []
    for m in METRICS:
        st, ctl = (np.array([r[m] for r in data[k]]) for k in ("+ST", "control"))
        diff = st.mean() - ctl.mean()
        spread = max(st.std(ddof=1), ctl.std(ddof=1)) if len(st) > 1 else float("nan")
        verdict = "larger than the spread" if abs(diff) > spread else "within the spread"
        # each seed's +ST and control continue the same seen-only network: their per-seed difference
        # removes what the seed does to both
        paired = st - ctl
        sd = paired.std(ddof=1) if len(st) > 1 else float("nan")
        verdicts.append(
            f"{m}: +ST - control = {diff:+.1f} (spread {spread:.1f}): {verdict}; per seed "
            f"{' / '.join(f'{d:+.1f}' for d in paired)} (paired sd {sd:.1f})"
        )
    return "\n".join(lines), verdicts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--dirs", default=None, help="comma-separated results folders, one per seed, instead of --config")
    p.add_argument("--seeds", default="0,1,2", help="the seeds (with --dirs: the folders' seeds, in order)")
    p.add_argument("--control-from", type=Path, default=None, help="a config whose run has the control")
    p.add_argument("--out", type=Path, default=None, help="also write table.md and results.json here")
    args = p.parse_args(argv)
    if (args.config is None) == (args.dirs is None):
        p.error("pass either --config (with --seeds) or --dirs")
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.dirs:
        folders = [Path(d) for d in args.dirs.split(",")]
        if len(seeds) != len(folders):
            p.error(f"--seeds names {len(seeds)} seeds, --dirs {len(folders)} folders")
        data = rows([from_dir(d) for d in folders], seeds)
    else:
        control = [summary(args.control_from, s) for s in seeds] if args.control_from else None
        data = rows([summary(args.config, s) for s in seeds], seeds, control)
    text, verdicts = table(data, seeds)
    print(text + "\n\n" + "\n".join(verdicts))
    if args.out:
        keep = {k: [{m: r[m] for m in METRICS} for r in v] for k, v in data.items()}
        report = text + "\n\n" + "\n".join(verdicts)
        save(args.out, "self_training_seeds.py", argv, report, {"seeds": seeds, "rows": keep})
    return 0


if __name__ == "__main__":
    sys.exit(main())
