"""The trainable stage-1 network (MaskFormer-style) as plain nn.Modules."""

from .maskformer import MaskFormerConfig, ZeroShotMaskFormer

__all__ = ["MaskFormerConfig", "ZeroShotMaskFormer"]
