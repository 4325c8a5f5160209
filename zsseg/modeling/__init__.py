"""The trainable networks as plain nn.Modules, built by architecture name from a ModelConfig."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from ..errors import ZsegError
from ..registry import Registry
from .common import ModelConfig
from .maskformer import ZeroShotMaskFormer
from .per_pixel import PerPixelBaseline

ARCHITECTURES: Registry[type[nn.Module]] = Registry(
    "architecture", {"maskformer": ZeroShotMaskFormer, "per_pixel": PerPixelBaseline}
)


def list_architectures() -> list[str]:
    """The trainable networks' architectures."""
    return list(ARCHITECTURES)


def build_model(config: ModelConfig) -> nn.Module:
    """A new network of ``config.architecture``."""
    return ARCHITECTURES.lookup(config.architecture)(config)


def load_trained(path: str | Path) -> tuple[nn.Module, dict]:
    """A ``model.pt`` written by ``zsseg train``: (network in eval mode, its metadata: classes,
    prompts, text_model, templates, dataset, unseen, step)."""
    path = Path(path)
    if not path.is_file():
        raise ZsegError(
            f"{path}: trained network not found; train one with `zsseg train` (docs/training.md) and pass its model.pt"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        cfg = ModelConfig(**{**state["config"], "pretrained_backbone": False})
        net = build_model(cfg)
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state["model"].items()})
    except (
        KeyError,
        RuntimeError,
        TypeError,
        EOFError,
        AttributeError,
        ValueError,
        OSError,
        pickle.UnpicklingError,
    ) as exc:
        raise ZsegError(
            f"{path}: not a zsseg trained-network checkpoint, or a truncated one ({type(exc).__name__}); "
            "pass the model.pt that `zsseg train` writes"
        ) from None
    meta = {k: v for k, v in state.items() if k != "model"}
    return net.eval(), meta


__all__ = ["ARCHITECTURES", "ModelConfig", "PerPixelBaseline", "ZeroShotMaskFormer", "build_model", "load_trained"]
