"""Vision-language backends by name: ``conse`` (offline default) or ``clip`` / any CLIP/SigLIP id or path."""

from __future__ import annotations

import torch

from ..prompts import TextEmbeddingCache
from .base import Backend
from .clip import DEFAULT_CLIP, ClipBackend, build_clip_tokenizer
from .conse import ConseBackend

__all__ = ["Backend", "ClipBackend", "ConseBackend", "build_backend", "build_clip_tokenizer"]


def build_backend(model: str = "conse", device: str | torch.device = "cpu", text_cache: TextEmbeddingCache | None = None) -> Backend:
    """``"conse"`` -> the offline ConSE backend; ``"clip"`` -> CLIP ViT-B/16; anything else is a
    Hugging Face hub id or local directory of a CLIP/SigLIP checkpoint."""
    if model == "conse":
        return ConseBackend(text_cache=text_cache).to(device)
    if model == "clip":
        model = DEFAULT_CLIP
    return ClipBackend.from_pretrained(model, device=device)
