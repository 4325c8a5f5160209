"""The small interface every vision-language backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import MappingProxyType

import torch
from torch import nn

from ..errors import ZsegError


class Backend(nn.Module, ABC):
    """Encodes images and texts into one embedding space.

    ``encode_images`` takes a batch already cropped, resized to ``input_size`` and normalised
    with ``pixel_mean`` / ``pixel_std`` (0..1 scale); both encoders return L2-normalised rows.
    """

    name: str = "backend"
    input_size: int = 224
    pixel_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    pixel_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    default_templates: str = "imagenet80"
    default_crop: str = "masked"
    # Crop styles measured better with a particular stage-1 generator (its name -> style).
    crop_for_proposals: Mapping[str, str] = MappingProxyType({})
    default_short_side: int = 512
    default_ensemble: str = "reference"  # zsseg.baseline's ensemble formula (zsseg.ensemble.combine)
    default_ensemble_weight: float = 0.8  # lambda of the seen/unseen ensemble: zsseg.baseline's
    default_unseen_weight: float | None = None  # p_q's exponent for unseen classes; None: 1 - lambda (the paper's)
    # Text similarity from which a class answers for a network class it is not named like, for a
    # network trained with this backend's text encoder; None: by name only (not measured for it).
    default_match_threshold: float | None = None
    default_batch_size: int = 8  # crops per encoder call; measured per backend (benchmarks/encoder_batch_size.py)
    # How far a class's text embedding moves towards the classifier concepts its name means or is a kind
    # of (``concepts``; zsseg.text.with_concepts); 0 for a backend without such concepts.
    default_concept_weight: float = 0.0

    @property
    def concepts(self) -> tuple[tuple[str, ...], torch.Tensor] | None:
        """(WordNet noun ids, unit text embeddings [K, D]) of the classes an image embedding is made
        of, for a backend whose image side is a classifier of WordNet concepts (ConSE); else None."""
        return None

    @classmethod
    def crop_for(cls, proposals: str) -> str:
        """The default crop style with the generator named ``proposals``."""
        return cls.crop_for_proposals.get(proposals, cls.default_crop)

    @property
    @abstractmethod
    def cache_key(self) -> str:
        """Identifies the text encoder's weights, for the text-embedding cache."""

    @property
    @abstractmethod
    def logit_scale(self) -> float:
        """Multiplies cosine similarities before the softmax over classes."""

    @abstractmethod
    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] normalised pixels -> [B, D] unit vectors."""

    @abstractmethod
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Texts -> [T, D] unit vectors."""

    def text_features(self, texts: list[str]) -> torch.Tensor:
        """encode_texts with autograd; backends that support prompt learning implement it, together
        with ``token_embedding`` (the text encoder's input embedding layer) and ``tokenizer``."""
        raise ZsegError(f"the {self.name} backend does not support learned prompts")

    def encode_dense(self, pixels: torch.Tensor, variant: str = "dense") -> torch.Tensor:
        """[B, 3, H, W] normalised images -> [B, h, w, D] grids of unit vectors (one encoder pass);
        ``variant`` names a dense mode (a crop style: "dense", "maskclip")."""
        raise ZsegError(f"the {self.name} backend has no dense mode; use --crop masked, context or window")

    def class_logits(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """[B, D] x [C, D] -> [B, C] logits for the softmax over classes."""
        return self.logit_scale * image_emb @ text_emb.t()

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")
