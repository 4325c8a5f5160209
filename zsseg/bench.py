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

from .classification import RegionClassifier
from .ensemble import fill_uncovered
from .errors import ZsegError
from .image_io import load_image
from .prompts import TemplatePrompts
from .proposals import build_proposals
from .segmenter import Segmenter, SegmenterConfig, propose
from .text_cache import TextEmbeddingCache
from .timing import Stopwatch
from .vocabulary import Vocabulary

# The image towers' and text towers' shapes of OpenAI's CLIP ViT-B/16 and ViT-L/14 (the cost is
# the architecture's, so randomly initialised weights measure it exactly).
CLIP_ARCHITECTURES = {
    "clip-vit-b16": dict(
        text_config=dict(
            hidden_size=512,
            intermediate_size=2048,
            num_hidden_layers=12,
            num_attention_heads=8,
            max_position_embeddings=77,
        ),
        vision_config=dict(
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            image_size=224,
            patch_size=16,
        ),
        projection_dim=512,
    ),
    "clip-vit-l14": dict(
        text_config=dict(
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            max_position_embeddings=77,
        ),
        vision_config=dict(
            hidden_size=1024,
            intermediate_size=4096,
            num_hidden_layers=24,
            num_attention_heads=16,
            image_size=224,
            patch_size=14,
        ),
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


def bench_segmenter(config: SegmenterConfig, bpe: str | Path | None = None, cache_dir: str | None = None) -> Segmenter:
    """The segmenter of ``config``; a model named in CLIP_ARCHITECTURES is that architecture with
    random weights and the real tokenizer read from ``bpe``."""
    if config.model not in CLIP_ARCHITECTURES:
        return Segmenter.from_config(config, cache_dir)
    if bpe is None or not Path(bpe).is_file():
        raise ZsegError(
            f"{config.model} needs the CLIP tokenizer vocabulary: pass --bpe "
            f"PATH/bpe_simple_vocab_16e6.txt.gz (not found: {bpe})"
        )
    backend = random_clip_backend(config.model, bpe, config.device)
    generator = build_proposals(config.proposals, model=config.proposals_model, device=config.device)
    return Segmenter(backend, generator, config, TextEmbeddingCache(None))


def naive_segment(segmenter: Segmenter, rgb: np.ndarray, vocab: Vocabulary) -> tuple[np.ndarray, dict[str, float]]:
    """The reference algorithm, slowly: see the module docstring."""
    b = segmenter.backend
    watch = Stopwatch(b.device)
    with watch("proposals"):
        work, props = propose(segmenter.proposals, rgb, segmenter.config.short_side)
    with watch("text"):
        texts = segmenter.texts(vocab, fresh=True)
    image = torch.from_numpy(np.ascontiguousarray(work)).permute(2, 0, 1).to(b.device)
    one_at_a_time = RegionClassifier(b, dataclasses.replace(segmenter.crop, batch_size=1, reuse_identical=False))
    emb, valid, _ = one_at_a_time.embed(image, props.masks.to(b.device), watch)
    with watch("ensemble_and_map"):
        p_vlm = texts.probabilities(b, emb).cpu()
        # + the proposal network's own scores, if any
        probs, keep = segmenter.ensemble(p_vlm, valid.cpu(), segmenter.class_scores(props, vocab))
        masks = fill_uncovered(props.select(keep.to(props.masks.device)).masks.cpu().float())
        scores_map = torch.einsum("qc,qhw->chw", probs, masks)
        scores_map = F.interpolate(scores_map[None], size=rgb.shape[:2], mode="bilinear", align_corners=False)[0]
        labels = scores_map.argmax(0).numpy()
    return labels, watch.total()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def benchmark(segmenter: Segmenter, images: list[Path], vocab: Vocabulary, naive: bool = False) -> dict:
    """Per-stage mean seconds per image, images/s and crops/s of the default path; with ``naive``,
    the naive path on the same images, the speed ratio and the share of pixels labelled alike."""
    b = segmenter.backend
    names, _ = vocab.flat_prompts()
    prompts = segmenter.prompts
    with tempfile.TemporaryDirectory() as cache_dir:
        text = _text_encoder_seconds(prompts, names, cache_dir)
        if isinstance(prompts, TemplatePrompts):  # the timed runs read the text from the warm cache just filled
            segmenter.prompts = TemplatePrompts(b, prompts.name, TextEmbeddingCache(cache_dir))
        try:
            segmenter(load_image(images[0]), vocab)  # warm-up (caches, allocator, thread pool)
            stages: dict[str, float] = {}
            crops = 0
            start = time.perf_counter()
            results = []
            for path in images:
                seg = segmenter(path, vocab)
                results.append(seg.labels)
                crops += seg.settings["num_crops"]
                for k, v in seg.timings.items():
                    stages[k] = stages.get(k, 0.0) + v
            wall = time.perf_counter() - start
        finally:
            segmenter.prompts = prompts
    agreement = []
    naive_stages: dict[str, float] = {}
    if naive:  # the reference runs in fp32 whatever the dtype is, so the agreement includes bf16's effect
        for path, labels in zip(images, results):
            rgb = load_image(path)
            naive_labels, timings = naive_segment(segmenter, rgb, vocab)
            agreement.append(float((naive_labels == labels).mean()))
            for k, v in timings.items():
                naive_stages[k] = naive_stages.get(k, 0.0) + v
    n = len(images)
    out = {
        "settings": {
            "model": segmenter.config.model,
            "proposals": segmenter.config.proposals,
            "crop": segmenter.crop.style,
            "templates": segmenter.prompts.name,
            "short_side": segmenter.config.short_side,
            "batch_size": segmenter.crop.batch_size,
            "dtype": segmenter.config.dtype,
            "device": torch.cuda.get_device_name(b.device) if b.device.type == "cuda" else "cpu",
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "classes": len(vocab),
            "images": n,
        },
        "seconds_per_image": {k: round(v / n, 4) for k, v in stages.items()},
        "text_encoder_s": text,
        "images_per_s": round(n / wall, 3),
        "crops_per_s": round(crops / max(1e-9, stages.get("encoder", 0.0)), 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    if naive:
        out["naive_seconds_per_image"] = {k: round(v / n, 4) for k, v in naive_stages.items()}
        out["speedup_vs_naive"] = round(naive_stages["total"] / stages["total"], 2)
        out["pixel_agreement_vs_naive"] = round(float(np.mean(agreement)), 4)
    return out


def _text_encoder_seconds(prompts, names: list[str], cache_dir: str) -> dict:
    """Seconds to embed ``names`` cold (encoding, writing the disk cache), warm from disk in a new
    process's view, and warm in memory; learned prompts have no disk cache (cold only)."""
    if not isinstance(prompts, TemplatePrompts):
        t = time.perf_counter()
        prompts.encode(names)
        return {"cold": round(time.perf_counter() - t, 4), "prompts": len(names)}
    t = time.perf_counter()
    # encodes, writes the disk cache
    TemplatePrompts(prompts.backend, prompts.name, TextEmbeddingCache(cache_dir)).embed(names)
    cold = time.perf_counter() - t
    warm = TemplatePrompts(prompts.backend, prompts.name, TextEmbeddingCache(cache_dir))  # reads the file
    t = time.perf_counter()
    warm.embed(names)
    disk = time.perf_counter() - t
    t = time.perf_counter()
    warm.embed(names)
    memory = time.perf_counter() - t
    return {
        "cold": round(cold, 4),
        "warm_from_disk": round(disk, 4),
        "warm_in_memory": round(memory, 6),
        "prompts": len(names) * len(prompts.templates),
    }
