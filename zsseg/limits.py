"""What ``zsseg serve`` admits (here, not beside the web stack, so that ``zsseg --help`` needs no fastapi)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerLimits:
    max_upload_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 25_000_000
    max_classes: int = 256  # label maps stay palette PNGs, whose colours the page maps back to classes
    request_timeout_s: float = 120.0
    max_queue: int = 8  # requests admitted at once (one runs, the rest wait); more get 503
    retry_after_s: int = 5
    cached_images: int = 4  # encoded images kept for /api/relabel (least recently used dropped first)
