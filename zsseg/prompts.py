"""Prompt templates and the disk cache of class-name text embeddings."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .backends.base import Backend

# The 80 prompt templates CLIP used for ImageNet zero-shot classification (Radford et al. 2021).
IMAGENET_TEMPLATES: tuple[str, ...] = (
    "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.", "a photo of the hard to see {}.",
    "a low resolution photo of the {}.", "a rendering of a {}.", "graffiti of a {}.", "a bad photo of the {}.",
    "a cropped photo of the {}.", "a tattoo of a {}.", "the embroidered {}.", "a photo of a hard to see {}.",
    "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.", "a dark photo of the {}.",
    "a drawing of a {}.", "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.",
    "a close-up photo of a {}.", "a black and white photo of the {}.", "a painting of the {}.", "a painting of a {}.",
    "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.", "a cropped photo of a {}.",
    "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.", "a blurry photo of the {}.",
    "a photo of the {}.", "a good photo of the {}.", "a rendering of the {}.", "a {} in a video game.",
    "a photo of one {}.", "a doodle of a {}.", "a close-up photo of the {}.", "a photo of a {}.",
    "the origami {}.", "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.",
    "a origami {}.", "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.",
    "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.", "a photo of a nice {}.",
    "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.",
    "a sketch of the {}.", "a embroidered {}.", "a pixelated photo of a {}.", "itap of the {}.",
    "a jpeg corrupted photo of the {}.", "a good photo of a {}.", "a plushie {}.", "a photo of the nice {}.",
    "a photo of the small {}.", "a photo of the weird {}.", "the cartoon {}.", "art of the {}.",
    "a drawing of the {}.", "a photo of the large {}.", "a black and white photo of a {}.", "the plushie {}.",
    "a dark photo of a {}.", "itap of a {}.", "graffiti of the {}.", "a toy {}.",
    "itap of my {}.", "a photo of a cool {}.", "a photo of a small {}.", "a tattoo of the {}.",
)
# The 14 templates of ViLD (Gu et al. 2022), as used by zsseg.baseline.
VILD_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.", "This is a photo of a {}", "There is a {} in the scene", "There is the {} in the scene",
    "a photo of a {} in the scene", "a photo of a small {}.", "a photo of a medium {}.", "a photo of a large {}.",
    "This is a photo of a small {}.", "This is a photo of a medium {}.", "This is a photo of a large {}.",
    "There is a small {} in the scene.", "There is a medium {} in the scene.", "There is a large {} in the scene.",
)
SINGLE_TEMPLATE: tuple[str, ...] = ("a photo of a {}.",)

TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "imagenet80": IMAGENET_TEMPLATES,
    "vild": VILD_TEMPLATES,
    "single": SINGLE_TEMPLATE,
    "none": ("{}",),
}


def get_templates(name: str) -> tuple[str, ...]:
    from .errors import ZsegError

    if name not in TEMPLATE_SETS:
        raise ZsegError(f"unknown template set {name!r}; choose one of {', '.join(TEMPLATE_SETS)}")
    return TEMPLATE_SETS[name]


def default_cache_dir() -> Path:
    """$ZSSEG_CACHE_DIR, else $XDG_CACHE_HOME/zsseg, else ~/.cache/zsseg."""
    if os.environ.get("ZSSEG_CACHE_DIR"):
        return Path(os.environ["ZSSEG_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "zsseg"


class TextEmbeddingCache:
    """Class-name embeddings keyed by (backend, template set, name), in memory and on disk.

    One file per (backend, template set) holds every name encoded so far, so a vocabulary such as
    ADE-847 x 80 templates is encoded once per machine. ``directory=None`` keeps it in memory only.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self._memory: dict[str, dict[str, torch.Tensor]] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _key(backend_key: str, templates: tuple[str, ...]) -> str:
        digest = hashlib.sha1("\x1f".join((backend_key,) + templates).encode()).hexdigest()[:16]
        return f"{_slug(backend_key)}-{digest}"

    def _file(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / "text" / f"{key}.pt"

    def _table(self, key: str) -> dict[str, torch.Tensor]:
        if key not in self._memory:
            table: dict[str, torch.Tensor] = {}
            path = self._file(key)
            if path is not None and path.exists():
                try:
                    saved = torch.load(path, map_location="cpu", weights_only=True)
                    table = dict(zip(saved["names"], saved["embeddings"]))
                except Exception:  # a corrupt cache file is rebuilt, never trusted
                    table = {}
            self._memory[key] = table
        return self._memory[key]

    def encode(self, backend: "Backend", names: list[str], templates: tuple[str, ...]) -> torch.Tensor:
        """Normalised mean-over-templates embeddings [len(names), D] (float32, CPU)."""
        key = self._key(backend.cache_key, templates)
        table = self._table(key)
        missing = list(dict.fromkeys(n for n in names if n not in table))
        self.hits += len(names) - len(missing)
        self.misses += len(missing)
        if missing:
            new = encode_with_templates(backend, missing, templates)
            table.update(zip(missing, new))
            self._save(key, table)
        return torch.stack([table[n] for n in names]) if names else torch.zeros(0, 1)

    def _save(self, key: str, table: dict[str, torch.Tensor]) -> None:
        path = self._file(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            torch.save({"names": list(table), "embeddings": torch.stack(list(table.values()))}, tmp)
            os.replace(tmp, path)
        except OSError:
            pass  # an unwritable cache only costs time


def encode_with_templates(backend: "Backend", names: list[str], templates: tuple[str, ...], batch_size: int = 256) -> torch.Tensor:
    """Embed every name under every template and return the normalised per-name mean."""
    texts = [t.format(n) for n in names for t in templates]
    chunks = [backend.encode_texts(texts[i : i + batch_size]).float().cpu() for i in range(0, len(texts), batch_size)]
    emb = torch.cat(chunks).view(len(names), len(templates), -1)
    emb = torch.nn.functional.normalize(emb, dim=-1).mean(dim=1)
    return torch.nn.functional.normalize(emb, dim=-1)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[-60:]


class ClassEmbedder:
    """Unit class embeddings from a named text model, as the trained networks see a vocabulary:
    per class the normalised mean over its prompt names (each averaged over the templates).
    Training and inference both go through this, so they embed a class the same way."""

    def __init__(self, text_model: str, templates: str | None = None, cache: TextEmbeddingCache | None = None, device: str = "cpu") -> None:
        from .backends import build_backend

        self.cache = cache if cache is not None else TextEmbeddingCache(default_cache_dir())
        self.backend = build_backend(text_model, device="cpu", text_cache=self.cache)
        self.templates = templates or self.backend.default_templates
        self.device = device

    def __call__(self, prompts: "list[tuple[str, ...]] | list[list[str]]") -> torch.Tensor:
        tmpl = get_templates(self.templates)
        rows = [torch.nn.functional.normalize(self.cache.encode(self.backend, list(p), tmpl).mean(0), dim=0) for p in prompts]
        return torch.stack(rows).to(self.device)
