"""Vision-language backends by name: ``conse`` (offline default) or ``clip`` / any CLIP/SigLIP id or path."""

from __future__ import annotations

import torch

from ..text_cache import TextEmbeddingCache
from .base import Backend
from .clip import DEFAULT_CLIP, ClipBackend, build_clip_tokenizer
from .conse import ConseBackend

# Named backends; any other name is a Hugging Face hub id or local folder of a CLIP/SigLIP checkpoint.
BACKENDS: dict[str, type[Backend]] = {"conse": ConseBackend, "clip": ClipBackend}

__all__ = [
    "BACKENDS",
    "Backend",
    "ClipBackend",
    "ConseBackend",
    "backend_class",
    "build_backend",
    "build_clip_tokenizer",
]


def backend_class(model: str) -> type[Backend]:
    """The class that serves ``model`` (its class attributes hold the backend's defaults)."""
    return BACKENDS.get(model, ClipBackend)


def build_backend(
    model: str = "conse", device: str | torch.device = "cpu", text_cache: TextEmbeddingCache | None = None
) -> Backend:
    """``"conse"`` -> the offline ConSE backend; ``"clip"`` -> CLIP ViT-B/16; anything else is a
    Hugging Face hub id or local directory of a CLIP/SigLIP checkpoint."""
    if backend_class(model) is ConseBackend:
        return ConseBackend(text_cache=text_cache).to(device)
    return ClipBackend.from_pretrained(DEFAULT_CLIP if model == "clip" else model, device=device)
