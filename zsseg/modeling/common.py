"""What the trainable networks share: their configuration, the backbone and the FPN pixel decoder."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ZsegError
from .efficientnet_lite import EfficientNetLite0, load_classifier


@dataclass
class ModelConfig:
    architecture: str = "maskformer"  # or "per_pixel": the FCN-style baseline (same backbone and pixel decoder)
    backbone: str = "efficientnet_lite0"  # a key of BACKBONES
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


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad [..., H, W] at the bottom and right to multiples of ``multiple`` (a backbone's stride)."""
    h, w = x.shape[-2:]
    return F.pad(x, (0, (multiple - w % multiple) % multiple, 0, (multiple - h % multiple) % multiple))


def network_input(image: np.ndarray, device: str | torch.device) -> torch.Tensor:
    """RGB uint8 [H, W, 3] -> [1, 3, H', W'] float on 0..255, padded to the stride 32 of the networks
    here; their outputs, upsampled to H' × W', are cropped back with ``[..., :H, :W]``."""
    pixels = torch.from_numpy(np.array(image)).to(device)  # uint8 over the bus: a quarter of float32
    return pad_to_multiple(pixels.permute(2, 0, 1).float(), 32)[None]


class PixelDecoder(nn.Module):
    """FPN over strides 4..32: per-pixel embeddings at stride 4 and the stride-32 memory."""

    def __init__(self, in_channels: tuple[int, ...], hidden: int, mask_dim: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, hidden, 1) for c in in_channels)
        self.output = nn.ModuleList(
            nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1), nn.GroupNorm(32, hidden), nn.ReLU())
            for _ in in_channels
        )
        self.mask_proj = nn.Conv2d(hidden, mask_dim, 3, padding=1)

    def forward(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        memory = self.lateral[-1](feats[-1])
        x = self.output[-1](memory)
        for i in range(len(feats) - 2, -1, -1):
            x = self.lateral[i](feats[i]) + F.interpolate(x, size=feats[i].shape[-2:], mode="nearest")
            x = self.output[i](x)
        return self.mask_proj(x), memory


class EfficientNetLite0Backbone(EfficientNetLite0):
    """The pip package's ImageNet EfficientNet-Lite0 without its classification head.

    A backbone is any module with ``stage_channels``, ``pixel_mean`` / ``pixel_std`` (fractions of
    255) and ``forward(x) -> [c2, c3, c4, c5]`` (strides 4..32), built as ``cls(pretrained)``."""

    def __init__(self, pretrained: bool) -> None:
        super().__init__()
        if pretrained:
            self.load_state_dict(load_classifier().state_dict())
        del self._conv_head, self._bn1, self._fc  # the classification head is not part of a segmentation backbone

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f = self.features(x, with_head=False)
        return [f.c2, f.c3, f.c4, f.c5]


BACKBONES: dict[str, type[nn.Module]] = {
    "efficientnet_lite0": EfficientNetLite0Backbone
}  # name -> class(pretrained: bool)


class BackboneFPN(nn.Module):
    """Backbone (ImageNet weights, frozen BatchNorm) + pixel decoder; subclasses add heads."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        if config.backbone not in BACKBONES:
            raise ZsegError(f"unknown backbone {config.backbone!r}; choose one of {', '.join(BACKBONES)}")
        self.backbone = BACKBONES[config.backbone](config.pretrained_backbone)
        # frozen BatchNorm (as detectron2's backbones): batch statistics of small batches would
        # overwrite the ImageNet ones and make training and inference disagree
        for m in self.backbone.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.requires_grad_(False)
        self.register_buffer(
            "pixel_mean", torch.tensor(self.backbone.pixel_mean).view(1, 3, 1, 1) * 255, persistent=False
        )
        self.register_buffer(
            "pixel_std", torch.tensor(self.backbone.pixel_std).view(1, 3, 1, 1) * 255, persistent=False
        )
        self.pixel_decoder = PixelDecoder(self.backbone.stage_channels, config.hidden_dim, config.mask_dim)

    def train(self, mode: bool = True) -> "BackboneFPN":
        super().train(mode)
        for m in self.backbone.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def pixel_features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images [B, 3, H, W] on 0..255 -> (per-pixel embeddings at stride 4, stride-32 memory)."""
        return self.pixel_decoder(self.backbone((images - self.pixel_mean) / self.pixel_std))
