"""Stage 1: mask proposals.

A generator maps an RGB image [H, W, 3] at working resolution to ``Proposals``: masks [Q, H, W]
in [0, 1], which do not depend on the class list. Generators with a classifier of their own (a
trained network, Mask2Former) also score each mask against a vocabulary, in ``score``, from
what they kept of the image in ``Proposals.state`` — so a new vocabulary costs no image pass.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, is_dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..text import ClassReading, SeenRule
from ..vocabulary import Vocabulary


@dataclass
class Proposals:
    masks: torch.Tensor  # [Q, H, W] float32, soft or binary
    info: dict = field(default_factory=dict)
    state: Any = None  # what the generator keeps to score a vocabulary later (e.g. query embeddings)

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def select(self, keep: torch.Tensor) -> Proposals:
        """The proposals ``keep`` (bool [Q] or indices) picks, with their per-proposal info and state."""
        keep = keep.to(self.masks.device)
        info = dict(self.info)
        listed = [k for k, v in info.items() if isinstance(v, list) and len(v) == len(self)]
        if listed:  # host lists (a GPU's masks are selected without a copy to the host otherwise)
            index = keep.nonzero().flatten().tolist() if keep.dtype == torch.bool else keep.tolist()
            info.update({k: [info[k][i] for i in index] for k in listed})
        state = self.state[keep.to(self.state.device)] if isinstance(self.state, torch.Tensor) else self.state
        return Proposals(self.masks[keep], info, state)

    @staticmethod
    def cat(parts: list[Proposals]) -> Proposals:
        """The proposals of ``parts`` one after another (one image's, from several generators):
        per-proposal info lists and tensor states joined, where every part has them."""
        info = {
            k: [x for p in parts for x in p.info[k]]
            for k in parts[0].info
            if all(isinstance(p.info.get(k), list) for p in parts)
        }
        states = [p.state for p in parts]
        state = torch.cat(states) if all(isinstance(s, torch.Tensor) for s in states) else None
        return Proposals(torch.cat([p.masks for p in parts]), info, state)


@dataclass
class ClassScores:
    """A generator's own view of the classes: the paper's p_q, each proposal's objectness, and
    which known class each vocabulary class answers for (the ensemble weighs seen classes apart)."""

    probs: torch.Tensor  # [Q, C] P(object of class c) (no-object dropped); 1 for a class it has no name for
    objectness: torch.Tensor  # [Q] P(an object at all) = 1 - P(no object)
    readings: list[ClassReading]

    @property
    def seen(self) -> torch.Tensor:
        """[C] bool: the classes that answer for one of the generator's known classes."""
        return torch.tensor([r.seen for r in self.readings], device=self.probs.device)

    @property
    def duplicate(self) -> torch.Tensor:
        """[C] bool: the classes whose nearest known class answers for another class (``read_classes``)."""
        return torch.tensor([r.duplicate for r in self.readings], device=self.probs.device)


class ProposalGenerator(ABC):
    name: str = "proposals"

    @abstractmethod
    def __call__(self, image: np.ndarray) -> Proposals:
        """image: RGB uint8 [H, W, 3] at working resolution."""

    def propose_batch(self, images: list[np.ndarray]) -> list[Proposals]:
        """Proposals of several images; networks override it to run one batch per image size."""
        return [self(image) for image in images]

    def score(self, proposals: Proposals, vocabulary: Vocabulary, rule: SeenRule = SeenRule()) -> ClassScores | None:
        """Class probabilities of the proposals for ``vocabulary``, the classes read by ``rule``;
        None for class-agnostic generators."""
        return None

    def settings(self) -> dict:
        """JSON-friendly description, recorded with every result."""
        return {
            "name": self.name,
            **{k: (asdict(v) if is_dataclass(v) else v) for k, v in vars(self).items() if not k.startswith("_")},
        }

    def identity(self) -> dict:
        """``settings`` less what does not change the proposals (the device), with the weights
        named by their content (``weights_id``), not where they lie: a collection's fingerprint."""
        out = {k: v for k, v in self.settings().items() if k != "device"}
        if "model_name" in out:
            out["model_name"] = weights_id(out["model_name"])
        return out


@cache
def weights_id(model: str) -> str:
    """A local checkpoint file or folder by a digest of its content (the same weights moved or
    copied are the same); a hub id as it is."""
    path = Path(model)
    if not path.exists():
        return model
    digest = hashlib.sha256()
    for file in sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode() if file != path else b"")
        with file.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()[:16]


@dataclass
class MaskFilter:
    """Post-processing shared by all generators: drop tiny masks, drop near-duplicates, cap Q."""

    min_area: float = 0.002  # fraction of the image
    dedup_iou: float = 0.9
    max_masks: int = 100

    def __call__(self, masks: torch.Tensor, scores: torch.Tensor | None = None) -> torch.Tensor:
        """Indices of the masks to keep, best first (by score, else by area)."""
        if masks.shape[0] == 0:
            return torch.zeros(0, dtype=torch.long)
        if self.min_area <= 0 and self.dedup_iou > 1 and scores is not None:  # keeps all (IoU <= 1): rank only
            return torch.argsort(scores, descending=True, stable=True)[: self.max_masks]
        binary = (masks > 0.5).flatten(1).float()
        return self.select(binary.sum(1), lambda idx: binary[idx] @ binary[idx].t(), binary.shape[1], scores)

    def select(
        self, area: torch.Tensor, intersection, n_pixels: int, scores: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The filter on mask areas [Q] and ``intersection(indices) -> [K, K]`` pixel counts, so
        callers that know the overlaps cheaper than from dense masks (label maps) need not build them."""
        keep = torch.nonzero(area >= self.min_area * n_pixels).flatten()
        order = keep[torch.argsort(scores[keep] if scores is not None else area[keep], descending=True, stable=True)]
        chosen: list[int] = []
        if len(order):
            inter = intersection(order)
            iou = inter / (area[order][:, None] + area[order][None, :] - inter).clamp(min=1)
            for i in range(len(order)):
                if len(chosen) >= self.max_masks:
                    break
                if not chosen or iou[i, chosen].max() < self.dedup_iou:
                    chosen.append(i)
        return order[chosen] if chosen else torch.zeros(0, dtype=torch.long)


class WholeImageProposal(ProposalGenerator):
    """One mask covering the image: image-level classification (a fallback and a test aid)."""

    name = "whole"

    def __call__(self, image: np.ndarray) -> Proposals:
        return Proposals(torch.ones(1, image.shape[0], image.shape[1]))
