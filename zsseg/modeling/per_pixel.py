"""The per-pixel (FCN-style) baseline: the same backbone and pixel decoder, each pixel's embedding
scored by temperature × cosine against the text embeddings. It is what the two-stage method is
compared with: classes are decided pixel by pixel, with no mask proposals."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import BackboneFPN, ModelConfig


class PerPixelBaseline(BackboneFPN):
    """Output: class logits [B, C, H/4, W/4] for the C text embeddings given."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        cfg = config or ModelConfig(architecture="per_pixel")
        super().__init__(cfg)
        self.embed = nn.Conv2d(cfg.mask_dim, cfg.text_dim, 1)
        self.train()

    def forward(self, images: torch.Tensor, text_embeddings: torch.Tensor) -> torch.Tensor:
        pixel, _ = self.pixel_features(images)
        emb = F.normalize(self.embed(pixel), dim=1)
        return self.config.temperature * torch.einsum("bdhw,cd->bchw", emb, F.normalize(text_embeddings, dim=-1))
