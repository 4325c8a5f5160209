"""A MaskFormer-style proposal network whose classifier scores queries against text embeddings.

backbone (EfficientNet-Lite0, ImageNet weights) -> FPN pixel decoder (per-pixel embeddings at
stride 4, memory at stride 32) -> transformer decoder with N learnable queries -> per query a mask
(query mask embedding · pixel embeddings) and a class embedding scored by temperature × cosine
against frozen text embeddings of the vocabulary plus one learnable "no object" embedding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import BackboneFPN, ModelConfig


def sine_positions(h: int, w: int, dim: int, device: torch.device) -> torch.Tensor:
    """2-D sine position encoding [h*w, dim] (DETR)."""
    half = dim // 2
    freq = 10000 ** (torch.arange(half // 2, device=device).float() * 2 / half)
    ys = torch.arange(h, device=device).float()[:, None] / freq
    xs = torch.arange(w, device=device).float()[:, None] / freq
    py = torch.cat([ys.sin(), ys.cos()], 1)[:, None, :].expand(h, w, half)
    px = torch.cat([xs.sin(), xs.cos()], 1)[None, :, :].expand(h, w, half)
    return torch.cat([py, px], -1).reshape(h * w, dim)


class MLP(nn.Sequential):
    def __init__(self, dims: list[int]) -> None:
        layers: list[nn.Module] = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < len(dims) - 2:
                layers.append(nn.ReLU())
        super().__init__(*layers)


class ZeroShotMaskFormer(BackboneFPN):
    """Outputs per decoder layer: ``pred_logits`` [B, Q, C+1] (last = no object) and ``pred_masks``
    [B, Q, H/4, W/4] (logits); the last layer's are the predictions, earlier ones deep supervision."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        cfg = config or ModelConfig()
        super().__init__(cfg)
        self.decoder = nn.ModuleList(
            nn.TransformerDecoderLayer(
                cfg.hidden_dim, cfg.num_heads, cfg.dim_feedforward, cfg.dropout, batch_first=True, norm_first=True
            )
            for _ in range(cfg.dec_layers)
        )
        self.decoder_norm = nn.LayerNorm(cfg.hidden_dim)
        self.queries = nn.Embedding(cfg.num_queries, cfg.hidden_dim)
        self.mask_embed = MLP([cfg.hidden_dim, cfg.hidden_dim, cfg.hidden_dim, cfg.mask_dim])
        self.class_embed = MLP([cfg.hidden_dim, cfg.hidden_dim, cfg.text_dim])
        self.no_object = nn.Parameter(torch.randn(1, cfg.text_dim) * cfg.text_dim**-0.5)
        self.train()  # puts the backbone's BatchNorm in its frozen (eval) state from the start

    def forward(self, images: torch.Tensor, text_embeddings: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """images [B, 3, H, W] on 0..255; text_embeddings [C, text_dim] (unit rows, frozen)."""
        return [
            {"pred_logits": self.classify(out["class_embeddings"], text_embeddings), "pred_masks": out["pred_masks"]}
            for out in self.decode(images)
        ]

    def decode(self, images: torch.Tensor, all_layers: bool = True) -> list[dict[str, torch.Tensor]]:
        """The vocabulary-free part, per decoder layer (the last one alone unless ``all_layers``):
        ``class_embeddings`` [B, Q, text_dim] (unit rows) and ``pred_masks`` [B, Q, H/4, W/4] (logits)."""
        pixel, memory = self.pixel_features(images)
        b, d, h, w = memory.shape
        mem = memory.flatten(2).transpose(1, 2) + sine_positions(h, w, d, memory.device)[None]
        q = self.queries.weight[None].expand(b, -1, -1)
        outputs = []
        for i, layer in enumerate(self.decoder):
            q = layer(q, mem)
            if all_layers or i == len(self.decoder) - 1:
                outputs.append(self._heads(q, pixel))
        return outputs

    def _heads(self, q: torch.Tensor, pixel: torch.Tensor) -> dict[str, torch.Tensor]:
        hq = self.decoder_norm(q)
        return {
            "class_embeddings": F.normalize(self.class_embed(hq), dim=-1),
            "pred_masks": torch.einsum("bqc,bchw->bqhw", self.mask_embed(hq), pixel),
        }

    def classify(self, class_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> torch.Tensor:
        """Logits [B, Q, C+1] (last = no object): temperature × cosine with the classes' text embeddings."""
        classes = torch.cat([F.normalize(text_embeddings, dim=-1), F.normalize(self.no_object, dim=-1)])
        return self.config.temperature * class_embeddings @ classes.t()
