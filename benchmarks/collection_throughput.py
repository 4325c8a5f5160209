"""Collection throughput and label agreement by image batch and number format: `zsseg segment`'s
collection path (``segment_collection``: loader workers, size-grouped image batches, shared encoder
batches) over the same images once per setting, timed after a warm-up, and every setting's label
maps compared with the one-image fp32 path's (image batch 1).

    python benchmarks/collection_throughput.py ../shared/data/voc2012/val/images \\
        ../shared/data/camvid/val/images --vocab voc21 --limit 112 --image-batch 1,4 --workers 1 \\
        --out results/speed/collection-batching-cpu.json
    # on a GPU: the trained network + CLIP ViT-B/16 (random weights) masked crops at 512 px
    python benchmarks/collection_throughput.py IMAGES --vocab voc21 --limit 128 --device cuda \\
        --model clip-vit-b16 --bpe ../shared/models/clip_tokenizer/bpe_simple_vocab_16e6.txt.gz \\
        --image-batch 1,8,16,32 --dtype fp32,bf16 --workers 8 --out results/speed-cuda/collection.json

The reference (image batch 1, fp32) is always run first. Agreement is the share of pixels labelled
as the reference labels them (mean and worst image). Random CLIP weights give near-uniform class
probabilities, so their bf16 agreement says nothing about real weights (docs/speed.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from zsseg.bench import bench_segmenter
from zsseg.collection import segment_collection
from zsseg.inputs import expand_inputs
from zsseg.segmenter import SegmenterConfig
from zsseg.vocabulary import Vocabulary, resolve_vocabulary


def images_of(inputs: list[str], limit: int) -> list[Path]:
    """The first ``limit`` images of each input (a file, folder or glob)."""
    return [path for given in inputs for path in expand_inputs([given])[:limit]]


def vocabulary_of(spec: str) -> Vocabulary:
    """A class file, "a, b, c", or a shipped vocabulary's name."""
    if Path(spec).is_file():
        return resolve_vocabulary(file=spec)
    return resolve_vocabulary(spec) if "," in spec else resolve_vocabulary(vocab=spec)


def config_of(device: str = "cpu", **given) -> SegmenterConfig:
    """A SegmenterConfig of the options given (None: the default)."""
    return SegmenterConfig(**{k: v for k, v in given.items() if v is not None}, device=device)


def run(segmenter, images, vocab, out: Path, image_batch: int, workers: int) -> float:
    """Seconds for one collection run into the empty folder ``out`` (no overlay)."""
    start = time.perf_counter()
    result = segment_collection(
        segmenter, images, vocab, out, overlay=False, workers=workers, image_batch=image_batch, progress=False
    )
    seconds = time.perf_counter() - start
    if result.written != len(images):
        raise SystemExit(f"{out}: wrote {result.written} of {len(images)} (see its manifest)")
    return seconds


def labels(out: Path, images: list[Path]) -> list[np.ndarray]:
    return [np.array(Image.open(out / f"{p.stem}.png")) for p in images]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="+")
    p.add_argument(
        "--vocab", default="voc21", help="class list: a shipped vocabulary's name, a class file or 'a, b, c'"
    )
    p.add_argument("--limit", type=int, default=48, help="the first N images of each input")
    p.add_argument("--image-batch", default="1,4,8", help="comma-separated image batches to time")
    p.add_argument("--dtype", default="fp32", help="comma-separated: fp32, bf16")
    p.add_argument("--workers", type=int, default=2, help="loader processes decoding and resizing")
    p.add_argument("--device", default="cpu")
    p.add_argument("--model", default=None, help="as zsseg --model, or clip-vit-b16 (random weights, needs --bpe)")
    p.add_argument("--bpe", default=None)
    p.add_argument("--proposals", default=None)
    p.add_argument("--proposals-model", default=None)
    p.add_argument("--short-side", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None, help="crops per encoder call")
    p.add_argument("--out", default=None)
    args = p.parse_args()

    images = images_of(args.inputs, args.limit)
    vocab = vocabulary_of(args.vocab)
    base = config_of(
        args.device,
        model=args.model,
        proposals=args.proposals,
        proposals_model=args.proposals_model,
        short_side=args.short_side,
        batch_size=args.batch_size,
    )
    dtypes = args.dtype.split(",")
    batches = [int(b) for b in args.image_batch.split(",")]
    settings = [("fp32", 1)] + [(d, b) for d in dtypes for b in batches if (d, b) != ("fp32", 1)]
    segmenters: dict = {}
    rows, reference = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for dtype, image_batch in settings:
            if dtype not in segmenters:
                segmenters.clear()  # one model in memory at a time
                segmenters[dtype] = bench_segmenter(replace(base, dtype=dtype), args.bpe)
                segmenters[dtype](images[0], vocab)  # warm-up: text embeddings, allocator, kernels
            segmenter = segmenters[dtype]
            out = Path(tmp) / f"{dtype}-{image_batch}"
            seconds = run(segmenter, images, vocab, out, image_batch, args.workers)
            maps = labels(out, images)
            reference = reference or maps
            agree = [float((a == b).mean()) for a, b in zip(maps, reference)]
            row = {
                "dtype": dtype,
                "image_batch": image_batch,
                "images_per_s": round(len(images) / seconds, 3),
                "seconds": round(seconds, 2),
                "agreement_mean": round(float(np.mean(agree)), 5),
                "agreement_worst_image": round(min(agree), 5),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    s = segmenter.config
    result = {
        "settings": {
            "model": s.model,
            "proposals": s.proposals,
            "crop": segmenter.crop.style,
            "short_side": segmenter.config.short_side,
            "crops_per_encoder_call": segmenter.crop.batch_size,
            "workers": args.workers,
            "images": len(images),
            "inputs": args.inputs,
            "classes": len(vocab),
            "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu",
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "command": " ".join(sys.argv),
        },
        "rows": rows,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
