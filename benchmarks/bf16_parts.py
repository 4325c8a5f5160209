"""Which part may run in bf16: label agreement with the fp32 path when autocast covers the proposal
network alone, or the image encoder alone (what ``--dtype bf16`` covers: the encoder).

    python benchmarks/bf16_parts.py ../shared/data/voc2012/val/images ../shared/data/camvid/val/images \\
        --vocab voc21 --limit 20 --out results/speed/bf16-parts-default.json
    python benchmarks/bf16_parts.py runs/toyworld/val/images --vocab runs/toyworld/classes.txt --limit 100 \\
        --model toyworld/tiny-clip --proposals-model runs/toy-compositional/model.pt --short-side 96 \\
        --out results/speed/bf16-parts-tiny-clip.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from zsseg.config import SegmenterConfig
from zsseg.inputs import expand_inputs
from zsseg.segmenter import Segmenter
from zsseg.vocabulary import resolve_vocabulary


def in_bf16(method):
    def wrapped(*args):
        with torch.autocast(device_type="cuda" if torch.cuda.is_available() else "cpu", dtype=torch.bfloat16):
            return method(*args)

    return wrapped


def config_of(device: str = "cpu", **given) -> SegmenterConfig:
    """A SegmenterConfig of the options given (None: the default)."""
    return SegmenterConfig(**{k: v for k, v in given.items() if v is not None}, device=device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="+")
    p.add_argument("--vocab", default="voc21", help="a shipped vocabulary's name, a class file or 'a, b, c'")
    p.add_argument("--limit", type=int, default=20, help="the first N images of each input")
    p.add_argument("--model", default=None)
    p.add_argument("--proposals-model", default=None)
    p.add_argument("--short-side", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    images = [path for given in args.inputs for path in expand_inputs([given])[: args.limit]]
    if Path(args.vocab).is_file():
        vocab = resolve_vocabulary(file=args.vocab)
    else:
        vocab = resolve_vocabulary(args.vocab) if "," in args.vocab else resolve_vocabulary(vocab=args.vocab)
    seg = Segmenter.from_config(
        config_of(args.device, model=args.model, proposals_model=args.proposals_model, short_side=args.short_side)
    )
    reference = [seg(path, vocab).labels for path in images]
    rows = {}
    for part, owner, name in (
        ("proposal network", seg.proposals, "propose_batch"),
        ("encoder", seg.classifier, "embed_batch"),
    ):
        original = getattr(owner, name)
        setattr(owner, name, in_bf16(original))
        agree = [float((seg(path, vocab).labels == ref).mean()) for path, ref in zip(images, reference)]
        setattr(owner, name, original)
        rows[part] = {"agreement_mean": round(float(np.mean(agree)), 5), "agreement_worst_image": round(min(agree), 5)}
        print(part, rows[part], flush=True)
    result = {
        "images": len(images),
        "inputs": args.inputs,
        "settings": seg.settings(),
        "bf16": rows,
        "command": " ".join(sys.argv),
    }
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
