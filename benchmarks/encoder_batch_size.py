"""Image-encoder throughput (crops/s) by batch size, on this machine's CPU.

    python benchmarks/encoder_batch_size.py --bpe ../shared/models/clip_tokenizer/bpe_simple_vocab_16e6.txt.gz
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from zsseg.backends.conse import ConseBackend
from zsseg.bench import random_clip_backend


def throughput(encode, n: int, batch: int, size: int) -> float:
    x = torch.randn(n, 3, size, size)
    encode(x[:batch])  # warm-up
    t = time.perf_counter()
    for i in range(0, n, batch):
        encode(x[i : i + batch])
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bpe", default="../shared/models/clip_tokenizer/bpe_simple_vocab_16e6.txt.gz")
    ap.add_argument("--crops", type=int, default=32)
    args = ap.parse_args()
    out = {"threads": torch.get_num_threads()}
    conse = ConseBackend()
    out["conse (EfficientNet-Lite0)"] = {b: round(throughput(conse.encode_images, 64, b, 224), 1) for b in (1, 2, 4, 8, 16, 32)}
    clip = random_clip_backend("clip-vit-b16", args.bpe)
    out["clip-vit-b16"] = {b: round(throughput(clip.encode_images, args.crops, b, 224), 2) for b in (1, 2, 4, 8, 16, 32)}
    # bf16 autocast: speed and whether the crop embeddings keep their nearest neighbours
    x = torch.randn(16, 3, 224, 224)
    for name, backend in (("conse (EfficientNet-Lite0)", conse), ("clip-vit-b16", clip)):
        ref = backend.encode_images(x[:8])
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = backend.encode_images(x[:8]).float()
        out[f"{name} bf16 batch 8"] = {"crops_per_s": round(8 / (time.perf_counter() - t), 2), "min_cosine_to_fp32": round(float((ref * low).sum(1).min()), 4)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
