"""A MaskFormer-style proposal network whose classifier scores queries against text embeddings.

backbone (EfficientNet-Lite0, ImageNet weights) -> FPN pixel decoder (per-pixel embeddings at
stride 4, memory at stride 32) -> transformer decoder with N learnable queries -> per query a mask
(query mask embedding · pixel embeddings) and a class embedding scored by temperature × cosine
against frozen text embeddings of the vocabulary plus one learnable "no object" embedding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..backends.efficientnet_lite import EfficientNetLite0


@dataclass
class MaskFormerConfig:
    num_queries: int = 100
    hidden_dim: int = 256
    num_heads: int = 8
    dec_layers: int = 6
    dim_feedforward: int = 2048
    dropout: float = 0.1
    mask_dim: int = 256
    text_dim: int = 384  # the text encoder's embedding size (MiniLM 384, CLIP ViT-B 512)
    temperature: float = 100.0  # logits = temperature × cosine, as zsseg.baseline
    pretrained_backbone: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


def sine_positions(h: int, w: int, dim: int, device: torch.device) -> torch.Tensor:
    """2-D sine position encoding [h*w, dim] (DETR)."""
    half = dim // 2
    freq = 10000 ** (torch.arange(half // 2, device=device).float() * 2 / half)
    ys = torch.arange(h, device=device).float()[:, None] / freq
    xs = torch.arange(w, device=device).float()[:, None] / freq
    py = torch.cat([ys.sin(), ys.cos()], 1)[:, None, :].expand(h, w, half)
    px = torch.cat([xs.sin(), xs.cos()], 1)[None, :, :].expand(h, w, half)
    return torch.cat([py, px], -1).reshape(h * w, dim)


class PixelDecoder(nn.Module):
    """FPN over strides 4..32: per-pixel embeddings at stride 4 and the stride-32 memory."""

    def __init__(self, in_channels: tuple[int, ...], hidden: int, mask_dim: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, hidden, 1) for c in in_channels)
        self.output = nn.ModuleList(nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1), nn.GroupNorm(32, hidden), nn.ReLU()) for _ in in_channels)
        self.mask_proj = nn.Conv2d(hidden, mask_dim, 3, padding=1)

    def forward(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        memory = self.lateral[-1](feats[-1])
        x = self.output[-1](memory)
        for i in range(len(feats) - 2, -1, -1):
            x = self.lateral[i](feats[i]) + F.interpolate(x, size=feats[i].shape[-2:], mode="nearest")
            x = self.output[i](x)
        return self.mask_proj(x), memory


class MLP(nn.Sequential):
    def __init__(self, dims: list[int]) -> None:
        layers: list[nn.Module] = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < len(dims) - 2:
                layers.append(nn.ReLU())
        super().__init__(*layers)


class ZeroShotMaskFormer(nn.Module):
    """Outputs per decoder layer: ``pred_logits`` [B, Q, C+1] (last = no object) and ``pred_masks``
    [B, Q, H/4, W/4] (logits); the last layer's are the predictions, earlier ones deep supervision."""

    def __init__(self, config: MaskFormerConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or MaskFormerConfig()
        self.backbone = EfficientNetLite0()
        if cfg.pretrained_backbone:
            from ..backends.conse import load_classifier

            self.backbone.load_state_dict(load_classifier().state_dict())
        # the classification head is not part of a segmentation backbone
        del self.backbone._conv_head, self.backbone._bn1, self.backbone._fc
        # frozen BatchNorm (as detectron2's backbones): batch statistics of small batches would
        # overwrite the ImageNet ones and make training and inference disagree
        for m in self.backbone.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.requires_grad_(False)
        self.register_buffer("pixel_mean", torch.tensor(EfficientNetLite0.pixel_mean).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("pixel_std", torch.tensor(EfficientNetLite0.pixel_std).view(1, 3, 1, 1) * 255, persistent=False)
        self.pixel_decoder = PixelDecoder(EfficientNetLite0.stage_channels, cfg.hidden_dim, cfg.mask_dim)
        self.decoder = nn.ModuleList(
            nn.TransformerDecoderLayer(cfg.hidden_dim, cfg.num_heads, cfg.dim_feedforward, cfg.dropout, batch_first=True, norm_first=True)
            for _ in range(cfg.dec_layers)
        )
        self.decoder_norm = nn.LayerNorm(cfg.hidden_dim)
        self.queries = nn.Embedding(cfg.num_queries, cfg.hidden_dim)
        self.mask_embed = MLP([cfg.hidden_dim, cfg.hidden_dim, cfg.hidden_dim, cfg.mask_dim])
        self.class_embed = MLP([cfg.hidden_dim, cfg.hidden_dim, cfg.text_dim])
        self.no_object = nn.Parameter(torch.randn(1, cfg.text_dim) * cfg.text_dim**-0.5)
        self.train()  # puts the backbone's BatchNorm in its frozen (eval) state from the start

    def train(self, mode: bool = True) -> "ZeroShotMaskFormer":
        super().train(mode)
        for m in self.backbone.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def forward(self, images: torch.Tensor, text_embeddings: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """images [B, 3, H, W] on 0..255; text_embeddings [C, text_dim] (unit rows, frozen)."""
        x = (images - self.pixel_mean) / self.pixel_std
        f = self.backbone.features(x, with_head=False)
        pixel, memory = self.pixel_decoder([f.c2, f.c3, f.c4, f.c5])
        b, d, h, w = memory.shape
        mem = memory.flatten(2).transpose(1, 2) + sine_positions(h, w, d, memory.device)[None]
        q = self.queries.weight[None].expand(b, -1, -1)
        classes = torch.cat([F.normalize(text_embeddings, dim=-1), F.normalize(self.no_object, dim=-1)])
        outputs = []
        for layer in self.decoder:
            q = layer(q, mem)
            hq = self.decoder_norm(q)
            logits = self.config.temperature * F.normalize(self.class_embed(hq), dim=-1) @ classes.t()
            masks = torch.einsum("bqc,bchw->bqhw", self.mask_embed(hq), pixel)
            outputs.append({"pred_logits": logits, "pred_masks": masks})
        return outputs
