"""Colours, overlays with a legend, and label-map PNGs."""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def palette(n: int) -> np.ndarray:
    """n distinct RGB colours [n, 3] uint8 (golden-angle hues, alternating saturation/value)."""
    cols = []
    for i in range(n):
        h = (i * 0.618033988749895) % 1.0
        s = (0.85, 0.6, 0.95)[i % 3]
        v = (0.95, 0.8, 0.65)[(i // 3) % 3]
        cols.append([round(c * 255) for c in colorsys.hsv_to_rgb(h, s, v)])
    return np.array(cols, dtype=np.uint8).reshape(-1, 3)


def save_label_png(labels: np.ndarray, path: str | Path, n_classes: int) -> None:
    """Class indices as a palette PNG (<= 256 classes) or a 16-bit grayscale PNG (more)."""
    if n_classes <= 256:
        img = Image.fromarray(labels.astype(np.uint8), mode="P")
        img.putpalette(palette(n_classes).flatten().tolist() + [0] * 3 * (256 - n_classes))
    else:
        img = Image.fromarray(labels.astype(np.uint16))
    img.save(path, format="PNG")


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType
        return ImageFont.load_default()


def overlay(
    image: np.ndarray,
    labels: np.ndarray,
    names: list[str],
    alpha: float = 0.55,
    legend: bool = True,
) -> Image.Image:
    """The image blended with class colours, class boundaries darkened, and a legend on the right
    listing the classes present (colour, name, pixel share), largest first."""
    colours = palette(len(names))
    blend = image.astype(np.float32) * (1 - alpha) + colours[labels].astype(np.float32) * alpha
    edges = np.zeros(labels.shape, bool)
    edges[1:, :] |= labels[1:, :] != labels[:-1, :]
    edges[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    blend[edges] *= 0.35
    out = Image.fromarray(blend.clip(0, 255).astype(np.uint8))
    if not legend:
        return out
    counts = np.bincount(labels.ravel(), minlength=len(names))
    present = [int(i) for i in np.argsort(-counts, kind="stable") if counts[i] > 0]
    h, w = labels.shape
    size = max(12, min(28, h // 30))
    font = _font(size)
    row = int(size * 1.5)
    draw0 = ImageDraw.Draw(out)
    texts = [f"{names[i]}  {100.0 * counts[i] / labels.size:.1f}%" for i in present]
    text_w = max((draw0.textlength(t, font=font) for t in texts), default=0)
    panel_w = int(text_w + 2.5 * size + 16)
    panel_h = max(h, row * len(present) + 16)
    canvas = Image.new("RGB", (w + panel_w, panel_h), (255, 255, 255))
    canvas.paste(out, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for k, (i, text) in enumerate(zip(present, texts)):
        y = 8 + k * row
        draw.rectangle([w + 8, y, w + 8 + size, y + size], fill=tuple(int(c) for c in colours[i]), outline=(0, 0, 0))
        draw.text((w + 16 + size, y - size // 10), text, fill=(0, 0, 0), font=font)
    return canvas
