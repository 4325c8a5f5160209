"""Scenes: several objects (a colour and a shape each; some occlude others) on a textured background.

Class names are phrases, "red circle", ...; class 0 is "background". Everything is drawn from a
seeded generator: the same seed gives the same pixels. ``write_split`` writes the generic dataset
layout (ROOT/SPLIT/images/*.png, ROOT/SPLIT/labels/*.png with class indices, ROOT/classes.txt) that
``zsseg eval --dataset generic`` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {
    "red": (215, 45, 40),
    "green": (45, 170, 65),
    "blue": (45, 85, 215),
    "yellow": (230, 205, 40),
    "purple": (140, 55, 185),
}
SHAPES = ("circle", "square", "triangle", "star", "cross")
CLASSES = ("background", *(f"{c} {s}" for c in COLOURS for s in SHAPES))
BACKGROUNDS = ("flat", "noise", "stripes", "checker", "gradient")


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # [H, W, 3] uint8
    label: np.ndarray  # [H, W] uint8 class index (0 = background)


def shape_mask(shape: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A bool [size, size] mask of ``shape``, slightly rotated."""
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    r = size / 2
    angle = rng.uniform(0, 2 * np.pi)

    def polygon(points: list[tuple[float, float]]) -> None:
        c, s = np.cos(angle), np.sin(angle)
        draw.polygon([(r + x * c - y * s, r + x * s + y * c) for x, y in points], fill=255)

    m = 0.92 * r
    if shape == "circle":
        draw.ellipse([r - m, r - m, r + m, r + m], fill=255)
    elif shape == "square":
        polygon([(-0.7 * m, -0.7 * m), (0.7 * m, -0.7 * m), (0.7 * m, 0.7 * m), (-0.7 * m, 0.7 * m)])
    elif shape == "triangle":
        polygon([(m * np.cos(a), m * np.sin(a)) for a in (-np.pi / 2, np.pi / 6, 5 * np.pi / 6)])
    elif shape == "star":
        polygon(
            [
                (
                    (m if k % 2 == 0 else 0.42 * m) * np.cos(k * np.pi / 5 - np.pi / 2),
                    (m if k % 2 == 0 else 0.42 * m) * np.sin(k * np.pi / 5 - np.pi / 2),
                )
                for k in range(10)
            ]
        )
    elif shape == "cross":
        w = 0.3 * m
        polygon(
            [(-w, -m), (w, -m), (w, -w), (m, -w), (m, w), (w, w), (w, m), (-w, m), (-w, w), (-m, w), (-m, -w), (-w, -w)]
        )
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return np.asarray(img) > 127


def background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A muted, textured background [H, W, 3] (never an object colour)."""
    kind = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    base = rng.uniform(70, 190) + rng.uniform(-12, 12, 3) + np.array([8.0, 0.0, -10.0])  # greys and browns
    other = np.clip(base + rng.uniform(-45, 45) + rng.uniform(-8, 8, 3), 40, 220)
    yy, xx = np.mgrid[0:height, 0:width]
    if kind == "flat":
        t = np.zeros((height, width))
    elif kind == "noise":
        t = rng.uniform(0, 1, (height // 4 + 1, width // 4 + 1)).repeat(4, 0).repeat(4, 1)[:height, :width]
    elif kind == "stripes":
        period = rng.integers(6, 20)
        t = ((xx * np.cos(rng.uniform(0, np.pi)) + yy * np.sin(rng.uniform(0, np.pi))) // period % 2).astype(float)
    elif kind == "checker":
        cell = rng.integers(6, 20)
        t = ((xx // cell + yy // cell) % 2).astype(float)
    else:
        t = xx / max(1, width - 1) if rng.random() < 0.5 else yy / max(1, height - 1)
    img = base[None, None] * (1 - t[..., None]) + other[None, None] * t[..., None]
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def paint(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int], rng: np.random.Generator) -> None:
    """An object's colour, a little shaded and noisy, where ``mask`` is set."""
    shade = rng.uniform(0.85, 1.1)
    pixels = np.clip(np.array(colour, float) * shade + rng.normal(0, 6, (int(mask.sum()), 3)), 0, 255)
    image[mask] = pixels.astype(np.uint8)


def scene(
    rng: np.random.Generator,
    height: int = 96,
    width: int = 128,
    objects: tuple[int, int] = (2, 5),
    classes: tuple[str, ...] = CLASSES,
) -> Scene:
    """Several objects of ``classes`` (not background) at random places and sizes; later ones occlude earlier ones."""
    image = background(height, width, rng)
    label = np.zeros((height, width), np.uint8)
    names = [c for c in classes if c != "background"]
    for _ in range(rng.integers(objects[0], objects[1] + 1)):
        name = names[rng.integers(len(names))]
        colour, shape = name.split(" ")
        size = int(rng.integers(min(height, width) // 5, min(height, width) // 2))
        y, x = (
            int(rng.integers(-size // 4, height - 3 * size // 4)),
            int(rng.integers(-size // 4, width - 3 * size // 4)),
        )
        full = np.zeros((height, width), bool)
        m = shape_mask(shape, size, rng)
        ys, xs = slice(max(0, y), min(height, y + size)), slice(max(0, x), min(width, x + size))
        full[ys, xs] = m[ys.start - y : ys.stop - y, xs.start - x : xs.stop - x]
        paint(image, full, COLOURS[colour], rng)
        label[full] = CLASSES.index(name)
    return Scene(image, label)


def write_split(root: str | Path, split: str, count: int, seed: int, **kwargs) -> Path:
    """``count`` scenes as ROOT/SPLIT/images/NNNNN.png + labels/NNNNN.png, and ROOT/classes.txt."""
    root = Path(root)
    for sub in ("images", "labels"):
        (root / split / sub).mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    rng = np.random.default_rng(seed)
    for i in range(count):
        s = scene(rng, **kwargs)
        Image.fromarray(s.image).save(root / split / "images" / f"{i:05d}.png")
        Image.fromarray(s.label).save(root / split / "labels" / f"{i:05d}.png")
    return root
