"""Train a tiny CLIP on the world's images, contrastively, from image-level captions only.

transformers' ``CLIPModel`` (a ViT image tower and a text transformer), the stock
``CLIPImageProcessor`` for the pixels and a ``CLIPTokenizer`` built from the real CLIP BPE
vocabulary (``bpe_simple_vocab_16e6.txt.gz``); saved with ``save_pretrained`` so that any tool —
zsseg included — loads it as it would a downloaded CLIP checkpoint. No pixel label is ever used:
each training image is one object (or bare background) with a caption, as CLIP's web pairs are.

    python -m toyworld.tiny_clip --out toyworld/tiny-clip \
        --bpe ../shared/models/clip_tokenizer/bpe_simple_vocab_16e6.txt.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .world import CLASSES, COLOURS, background, paint, shape_mask

# Captions: a class name in one of these sentences (CLIP's web captions vary the same way).
CAPTIONS = (
    "a photo of a {}.",
    "a {}.",
    "a picture of the {}.",
    "a bad photo of a {}.",
    "a close-up photo of the {}.",
    "a rendering of a {}.",
    "there is a {} in the scene.",
    "a photo of the small {}.",
    "a photo of a large {}.",
    "a cropped photo of a {}.",
    "this is a {}.",
    "a blurry photo of the {}.",
)
CONFIG = {
    "text_config": {
        "hidden_size": 40,
        "intermediate_size": 160,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "max_position_embeddings": 77,
    },
    "vision_config": {
        "hidden_size": 96,
        "intermediate_size": 384,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "image_size": 64,
        "patch_size": 8,
    },
    "projection_dim": 64,
}
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]  # OpenAI CLIP's pixel statistics, as its processor config says
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def clip_tokenizer(bpe_path: str | Path):
    """A transformers CLIPTokenizer from OpenAI's BPE file: 256 byte symbols, the same with the
    end-of-word mark, one token per merge, then the start and end tokens (OpenAI's vocabulary)."""
    from transformers import CLIPTokenizer

    merges = gzip.open(bpe_path, "rt", encoding="utf-8").read().split("\n")[1 : 49152 - 256 - 2 + 1]
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]  # GPT-2's byte-to-symbol table
    symbols = [chr(b) for b in printable] + [chr(256 + k) for k in range(256 - len(printable))]
    vocab = (
        symbols
        + [s + "</w>" for s in symbols]
        + ["".join(m.split()) for m in merges]
        + ["<|startoftext|>", "<|endoftext|>"]
    )
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=[tuple(m.split()) for m in merges])


def image_processor():
    from transformers import CLIPImageProcessor

    size = CONFIG["vision_config"]["image_size"]
    return CLIPImageProcessor(
        size={"shortest_edge": size},
        crop_size={"height": size, "width": size},
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
    )


def example(name: str, rng: np.random.Generator, size: int = 64) -> Image.Image:
    """One object of class ``name`` (or bare background), framed as photos are: from a small object
    with room around it to one that fills and overflows the frame, or cropped tight around the
    object (half the time), sometimes beside part of another object; then squashed or stretched
    to a square (CLIP's random-resized-crop aspect jitter)."""
    h, w = 2 * size, 2 * size
    image = background(h, w, rng)
    if name == "background":
        return Image.fromarray(image).crop(_aspect_box(h, w, rng)).resize((size, size), Image.BICUBIC)
    others = [c for c in CLASSES[1:] if c != name]
    if rng.random() < 0.3:  # a distractor, smaller and mostly out of view
        _place(image, others[rng.integers(len(others))], int(size * rng.uniform(0.3, 0.6)), rng, edge=True)
    mask = _place(image, name, int(size * rng.uniform(0.6, 1.6)), rng, edge=False)
    if rng.random() < 0.5:  # tight around the object, with a little margin
        ys, xs = np.nonzero(mask)
        margin = rng.uniform(0, 0.15) * max(np.ptp(ys), np.ptp(xs))
        box = (
            max(0, xs.min() - margin),
            max(0, ys.min() - margin),
            min(w, xs.max() + 1 + margin),
            min(h, ys.max() + 1 + margin),
        )
    else:
        box = _aspect_box(h, w, rng)
    return Image.fromarray(image).crop(tuple(int(round(v)) for v in box)).resize((size, size), Image.BICUBIC)


def _aspect_box(h: int, w: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A crop of the canvas's centre, its aspect ratio jittered."""
    aspect = float(np.exp(rng.uniform(-0.5, 0.5)))
    ch, cw = int(h * min(1.0, 1 / aspect) * 0.8), int(w * min(1.0, aspect) * 0.8)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return x0, y0, x0 + cw, y0 + ch


def _place(image: np.ndarray, name: str, side: int, rng: np.random.Generator, edge: bool) -> np.ndarray:
    """Paint an object of class ``name`` (``side`` pixels across) and return its mask: centred in
    the middle of the canvas, or (``edge``) near the border, mostly out of view."""
    colour, shape = name.split(" ")
    h, w = image.shape[:2]
    if edge:
        y, x = int(rng.integers(-side // 2, h - side // 2)), int(rng.integers(-side // 2, w - side // 2))
    else:
        y, x = (
            int(h / 2 + rng.uniform(-0.15, 0.15) * h) - side // 2,
            int(w / 2 + rng.uniform(-0.15, 0.15) * w) - side // 2,
        )
    mask = np.zeros((h, w), bool)
    m = shape_mask(shape, side, rng)
    ys, xs = slice(max(0, y), min(h, y + side)), slice(max(0, x), min(w, x + side))
    mask[ys, xs] = m[ys.start - y : ys.stop - y, xs.start - x : xs.stop - x]
    paint(image, mask, COLOURS[colour], rng)
    return mask


def train(bpe: str, out: str, steps: int = 6000, lr: float = 1e-3, seed: int = 0, log_every: int = 100) -> dict:
    """Contrastive training, one image per class per step (no two captions of a batch name the same
    class); writes the checkpoint, tokenizer and processor to ``out`` and returns the training log."""
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tokenizer, processor = clip_tokenizer(bpe), image_processor()
    model = CLIPModel(CLIPConfig(**CONFIG))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    warmup = steps // 20
    log, start = [], time.perf_counter()
    model.train()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / steps))
        images = [example(c, rng) for c in CLASSES]
        captions = [CAPTIONS[rng.integers(len(CAPTIONS))].format(c) for c in CLASSES]
        pixels = processor(images=images, return_tensors="pt")["pixel_values"]
        text = tokenizer(captions, padding=True, return_tensors="pt")
        out_ = model(input_ids=text["input_ids"], attention_mask=text["attention_mask"], pixel_values=pixels)
        target = torch.arange(len(CLASSES))
        loss = (F.cross_entropy(out_.logits_per_image, target) + F.cross_entropy(out_.logits_per_text, target)) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % log_every == 0:
            log.append(
                {"step": step + 1, "loss": round(float(loss), 4), "seconds": round(time.perf_counter() - start, 1)}
            )
            print(json.dumps(log[-1]), flush=True)
    model.eval()
    accuracy = zero_shot_accuracy(model, tokenizer, processor, np.random.default_rng(seed + 1))
    Path(out).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    processor.save_pretrained(out)
    record = {
        "steps": steps,
        "lr": lr,
        "seed": seed,
        "config": CONFIG,
        "seconds": round(time.perf_counter() - start, 1),
        "held_out_zero_shot_accuracy": accuracy,
        "log": log,
    }
    (Path(out) / "training.json").write_text(json.dumps(record, indent=2))
    return record


@torch.no_grad()
def zero_shot_accuracy(model, tokenizer, processor, rng: np.random.Generator, per_class: int = 20) -> float:
    """Top-1 accuracy on fresh single-object images against "a photo of a {class}." for every class."""
    text = tokenizer([f"a photo of a {c}." for c in CLASSES], padding=True, return_tensors="pt")
    t = F.normalize(_pooled(model.get_text_features(**text)), dim=-1)
    correct = 0
    for k, name in enumerate(CLASSES):
        pixels = processor(images=[example(name, rng) for _ in range(per_class)], return_tensors="pt")["pixel_values"]
        v = F.normalize(_pooled(model.get_image_features(pixel_values=pixels)), dim=-1)
        correct += int(((v @ t.T).argmax(1) == k).sum())
    return round(correct / (per_class * len(CLASSES)), 4)


def _pooled(out) -> torch.Tensor:
    return out if torch.is_tensor(out) else out.pooler_output  # transformers 5 returns an output object


def main() -> None:
    p = argparse.ArgumentParser(description="Train the tiny CLIP of the toy world.")
    p.add_argument("--bpe", required=True, help="bpe_simple_vocab_16e6.txt.gz, the real CLIP BPE vocabulary")
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    train(args.bpe, args.out, args.steps, args.lr, args.seed)


if __name__ == "__main__":
    main()
