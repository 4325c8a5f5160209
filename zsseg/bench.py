"""``zsseg bench``: per-stage timings, throughput and memory, against a naive reference path.

The naive path is what zsseg.baseline does per image, on the same proposals and crop style: every
crop encoded alone (batch 1), masks that binarise identically each encoded again, the vocabulary's
prompts encoded again for every image (no cache), and the per-pixel scores held as a [C, H, W]
array at the image's size. It exists only as this benchmark's baseline.
"""

from __future__ import annotations

import dataclasses
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .classification import RegionClassifier, clock
from .ensemble import fill_uncovered
from .image_io import load_image
from .prompts import TextEmbeddingCache, encode_with_templates
from .segmenter import Segmenter, propose
from .vocabulary import Vocabulary

# The image towers' and text towers' shapes of OpenAI's CLIP ViT-B/16 and ViT-L/14 (the cost is
# the architecture's, so randomly initialised weights measure it exactly).
CLIP_ARCHITECTURES = {
    "clip-vit-b16": dict(
        text_config=dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8, max_position_embeddings=77),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, image_size=224, patch_size=16),
        projection_dim=512,
    ),
    "clip-vit-l14": dict(
        text_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77),
        vision_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16, image_size=224, patch_size=14),
        projection_dim=768,
    ),
}


def random_clip_backend(name: str, bpe_path: str | Path, device: str = "cpu"):
    """A ClipBackend of a real CLIP architecture with random weights and the real tokenizer."""
    from transformers import CLIPConfig, CLIPModel

    from .backends.clip import ClipBackend, build_clip_tokenizer

    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig(**CLIP_ARCHITECTURES[name]))
    return ClipBackend(model, build_clip_tokenizer(bpe_path), identifier=f"random-{name}").to(device)


def naive_segment(segmenter: Segmenter, rgb: np.ndarray, vocab: Vocabulary) -> tuple[np.ndarray, dict[str, float]]:
    """The reference algorithm, slowly: see the module docstring."""
    b = segmenter.backend
    timings: dict[str, float] = {}
    t = clock(b.device)
    work, props = propose(segmenter.proposals, rgb, segmenter.short_side, vocab)
    timings["proposals"] = clock(b.device) - t
    t = clock(b.device)
    names = [p for ps in vocab.prompts for p in ps]
    groups = torch.tensor([i for i, ps in enumerate(vocab.prompts) for _ in ps])
    text = encode_with_templates(b, names, segmenter.templates).to(b.device)
    timings["text"] = clock(b.device) - t
    image = torch.from_numpy(np.ascontiguousarray(work)).permute(2, 0, 1).to(b.device)
    one_at_a_time = RegionClassifier(b, dataclasses.replace(segmenter.crop, batch_size=1, reuse_identical=False))
    emb, valid, _ = one_at_a_time.embed(image, props.masks.to(b.device), timings)
    t = clock(b.device)
    probs, masks = segmenter._combine(props, emb, valid, text, groups.to(text.device), vocab, None)  # + the proposal network's scores, if any
    probs, masks = probs.cpu(), fill_uncovered(masks.cpu().float())
    scores = torch.einsum("qc,qhw->chw", probs, masks)
    scores = F.interpolate(scores[None], size=rgb.shape[:2], mode="bilinear", align_corners=False)[0]
    labels = scores.argmax(0).numpy()
    timings["ensemble_and_map"] = clock(b.device) - t
    timings["total"] = sum(timings.values())
    return labels, timings


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def benchmark(segmenter: Segmenter, images: list[Path], vocab: Vocabulary, naive: bool = False, dtype: str = "fp32") -> dict:
    """Per-stage mean seconds per image, images/s and crops/s of the default path; with ``naive``,
    the naive path on the same images, the speed ratio and the share of pixels labelled alike."""
    b = segmenter.backend
    autocast = torch.autocast(device_type=str(b.device).split(":")[0], dtype=torch.bfloat16) if dtype == "bf16" else _null()
    names = [p for ps in vocab.prompts for p in ps]
    with autocast, tempfile.TemporaryDirectory() as cache_dir:
        t = time.perf_counter()
        TextEmbeddingCache(cache_dir).encode(b, names, segmenter.templates)  # encodes, writes the disk cache
        text_cold = time.perf_counter() - t
        t = time.perf_counter()
        cache = TextEmbeddingCache(cache_dir)  # a new process's view: reads the file
        cache.encode(b, names, segmenter.templates)
        text_disk = time.perf_counter() - t
        t = time.perf_counter()
        cache.encode(b, names, segmenter.templates)
        text_memory = time.perf_counter() - t
        segmenter.text_cache = cache
        segmenter(load_image(images[0]), vocab)  # warm-up (caches, allocator, thread pool)
        stages: dict[str, float] = {}
        crops = 0
        agreement = []
        naive_stages: dict[str, float] = {}
        start = time.perf_counter()
        results = []
        for path in images:
            seg = segmenter(path, vocab)
            results.append(seg.labels)
            crops += seg.settings["num_crops"]
            for k, v in seg.timings.items():
                stages[k] = stages.get(k, 0.0) + v
        wall = time.perf_counter() - start
    if naive:  # the reference runs in fp32 whatever --dtype is, so the agreement includes bf16's effect
        for path, labels in zip(images, results):
            rgb = load_image(path)
            naive_labels, timings = naive_segment(segmenter, rgb, vocab)
            agreement.append(float((naive_labels == labels).mean()))
            for k, v in timings.items():
                naive_stages[k] = naive_stages.get(k, 0.0) + v
    n = len(images)
    out = {
        "settings": {
            "model": segmenter.config.model, "proposals": segmenter.config.proposals, "crop": segmenter.crop.style,
            "templates": segmenter.templates_name, "short_side": segmenter.short_side, "batch_size": segmenter.crop.batch_size,
            "dtype": dtype, "device": torch.cuda.get_device_name(b.device) if b.device.type == "cuda" else "cpu", "torch": torch.__version__, "threads": torch.get_num_threads(), "classes": len(vocab), "images": n,
        },
        "seconds_per_image": {k: round(v / n, 4) for k, v in stages.items()},
        "text_encoder_s": {"cold": round(text_cold, 4), "warm_from_disk": round(text_disk, 4), "warm_in_memory": round(text_memory, 6),
                           "prompts": len(names) * len(segmenter.templates)},
        "images_per_s": round(n / wall, 3),
        "crops_per_s": round(crops / max(1e-9, stages.get("encoder", 0.0)), 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    if naive:
        out["naive_seconds_per_image"] = {k: round(v / n, 4) for k, v in naive_stages.items()}
        out["speedup_vs_naive"] = round(naive_stages["total"] / stages["total"], 2)
        out["pixel_agreement_vs_naive"] = round(float(np.mean(agreement)), 4)
    return out


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
