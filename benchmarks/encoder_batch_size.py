"""Image-encoder throughput (crops/s) by batch size, on the CPU or a GPU.

python benchmarks/encoder_batch_size.py --bpe ../shared/models/clip_tokenizer/bpe_simple_vocab_16e6.txt.gz
python benchmarks/encoder_batch_size.py --device cuda --batches 1,8,32,64,128,256 --crops 256
python benchmarks/encoder_batch_size.py --compile   # also torch.compile (slow to start; tried, not used)
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from zsseg.backends.conse import ConseBackend
from zsseg.bench import random_clip_backend


def throughput(encode, n: int, batch: int, size: int, device: str) -> float:
    x = torch.randn(n, 3, size, size, device=device)
    encode(x[:batch]).cpu()  # warm-up; .cpu() waits for the GPU
    t = time.perf_counter()
    for i in range(0, n, batch):
        out = encode(x[i : i + batch])
    out.cpu()
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bpe", default="../shared/models/clip_tokenizer/bpe_simple_vocab_16e6.txt.gz")
    ap.add_argument("--crops", type=int, default=32, help="crops timed per CLIP batch size (ConSE: twice as many)")
    ap.add_argument("--batches", default="1,2,4,8,16,32")
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--compile",
        action="store_true",
        help="also time torch.compile'd encoders (ConSE batch 2, CLIP batch 4), with the compile time",
    )
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    dev = torch.device(args.device)
    out = {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
    }
    conse = ConseBackend().to(dev)
    out["conse (EfficientNet-Lite0)"] = {
        b: round(throughput(conse.encode_images, 2 * args.crops, b, 224, args.device), 1) for b in batches
    }
    clip = random_clip_backend("clip-vit-b16", args.bpe, args.device)
    out["clip-vit-b16"] = {
        b: round(throughput(clip.encode_images, args.crops, b, 224, args.device), 2) for b in batches
    }
    # bf16 autocast: speed and whether the crop embeddings keep their nearest neighbours
    n = 64 if dev.type == "cuda" else 8
    x = torch.randn(n, 3, 224, 224, device=dev)
    for name, backend in (("conse (EfficientNet-Lite0)", conse), ("clip-vit-b16", clip)):
        ref = backend.encode_images(x).cpu()
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            backend.encode_images(x).cpu()  # warm-up
            t = time.perf_counter()
            low = backend.encode_images(x).float().cpu()
        out[f"{name} bf16 batch {n}"] = {
            "crops_per_s": round(n / (time.perf_counter() - t), 2),
            "min_cosine_to_fp32": round(float((ref * low).sum(1).min()), 4),
        }
    if dev.type == "cpu":  # int8 dynamic quantization of the ViT's linear layers (tried; not shipped, see the README)
        import copy
        import warnings

        q = copy.deepcopy(clip)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # eager-mode quantization is deprecated in favour of torchao
            q.model.vision_model = torch.ao.quantization.quantize_dynamic(
                q.model.vision_model, {torch.nn.Linear}, dtype=torch.qint8
            )
        out["clip-vit-b16 int8-dynamic batch 4"] = {
            "crops_per_s": round(throughput(q.encode_images, args.crops, 4, 224, args.device), 2),
            "min_cosine_to_fp32": round(float((clip.encode_images(x[:4]) * q.encode_images(x[:4])).sum(1).min()), 4),
        }
    if args.compile:
        for name, backend, module, batch in (
            ("conse (EfficientNet-Lite0)", conse, "classifier", 2),
            ("clip-vit-b16", clip, "model.vision_model", 4),
        ):
            owner, attr = (backend, module) if "." not in module else (backend.model, module.split(".")[1])
            eager = round(throughput(backend.encode_images, 2 * args.crops, batch, 224, args.device), 2)
            setattr(owner, attr, torch.compile(getattr(owner, attr)))
            t = time.perf_counter()
            backend.encode_images(x[:batch]).cpu()  # compiles
            compile_s = round(time.perf_counter() - t, 1)
            out[f"{name} torch.compile batch {batch}"] = {
                "eager_crops_per_s": eager,
                "compiled_crops_per_s": round(
                    throughput(backend.encode_images, 2 * args.crops, batch, 224, args.device), 2
                ),
                "compile_s": compile_s,
            }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
