"""Vision-language backends by name: ``conse`` (offline default) or ``clip`` / any CLIP/SigLIP id or path."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ZsegError
from ..registry import Registry
from ..text_cache import TextEmbeddingCache
from .base import Backend
from .clip import DEFAULT_CLIP, ClipBackend, build_clip_tokenizer
from .conse import ConseBackend

# Named backends; a hub id (org/name) or a local folder is a CLIP/SigLIP checkpoint.
BACKENDS: Registry[type[Backend]] = Registry("backend", {"conse": ConseBackend, "clip": ClipBackend})

__all__ = [
    "BACKENDS",
    "Backend",
    "ClipBackend",
    "ConseBackend",
    "backend_class",
    "build_backend",
    "build_clip_tokenizer",
    "list_backends",
]


def list_backends() -> list[str]:
    """The named backends (besides: any CLIP/SigLIP hub id or local folder)."""
    return list(BACKENDS)


def is_checkpoint_name(model: str) -> bool:
    """A Hugging Face hub id ("org/name") or a local folder."""
    return "/" in model or Path(model).exists()


def backend_class(model: str) -> type[Backend]:
    """The class that serves ``model`` (its class attributes hold the backend's defaults): a named
    backend, or CLIP for a hub id or folder; anything else is an error that lists the names."""
    if BACKENDS.key(model) is None and is_checkpoint_name(model):
        return ClipBackend
    try:
        return BACKENDS.lookup(model)
    except ZsegError as exc:
        raise ZsegError(f"{exc}, or a CLIP/SigLIP hub id (org/name) or local folder") from None


def build_backend(
    model: str = "conse", device: str | torch.device = "cpu", text_cache: TextEmbeddingCache | None = None
) -> Backend:
    """``"conse"`` -> the offline ConSE backend; ``"clip"`` -> CLIP ViT-B/16; anything else is a
    Hugging Face hub id or local directory of a CLIP/SigLIP checkpoint."""
    if backend_class(model) is ConseBackend:
        return ConseBackend(text_cache=text_cache).to(device)
    return ClipBackend.from_pretrained(DEFAULT_CLIP if BACKENDS.key(model) == "clip" else model, device=device)
