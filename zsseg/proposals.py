"""Stage 1: class-agnostic mask proposals.

Every generator maps an RGB image [H, W, 3] to ``Proposals``: masks [Q, H, W] in [0, 1] at the
image's resolution and, for generators trained with a vocabulary, per-mask class probabilities.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, is_dataclass

import numpy as np
import torch

from .errors import ZsegError
from .vocabulary import Vocabulary


@dataclass
class Proposals:
    masks: torch.Tensor  # [Q, H, W] float32, soft or binary
    class_probs: torch.Tensor | None = None  # [Q, C] over the vocabulary, or None
    info: dict = field(default_factory=dict)
    seen: torch.Tensor | None = None  # [C] bool: classes the generator was trained on (default: all)

    def __len__(self) -> int:
        return int(self.masks.shape[0])


class ProposalGenerator(ABC):
    name: str = "proposals"

    @abstractmethod
    def __call__(self, image: np.ndarray, vocabulary: Vocabulary | None = None) -> Proposals:
        """image: RGB uint8 [H, W, 3] at working resolution; ``vocabulary``: the classes asked for
        (generators with a trained classifier give their probabilities for them)."""

    def settings(self) -> dict:
        """JSON-friendly description, recorded with every result."""
        return {"name": self.name, **{k: (asdict(v) if is_dataclass(v) else v) for k, v in vars(self).items() if not k.startswith("_")}}


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

    def select(self, area: torch.Tensor, intersection, n_pixels: int, scores: torch.Tensor | None = None) -> torch.Tensor:
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


def label_map_proposals(label_maps: list[np.ndarray], filter: MaskFilter) -> torch.Tensor:
    """Every segment of every label map as a candidate mask, filtered: the same masks as filtering
    all segments' dense masks, but areas and overlaps come from joint histograms of the maps
    (O(pixels) per pair of maps, segments of one map never overlap) and dense masks are built only
    for the segments kept."""
    flat, segments = [], []
    for k, m in enumerate(label_maps):
        values, inverse = np.unique(m.ravel(), return_inverse=True)
        flat.append(inverse)
        segments += [(k, v) for v in values]
    sizes = [int(f.max()) + 1 for f in flat]
    starts = np.cumsum([0] + sizes)
    inter = np.zeros((starts[-1], starts[-1]), np.int64)
    for i, a in enumerate(flat):
        for j in range(i, len(flat)):
            joint = np.bincount(a * sizes[j] + flat[j], minlength=sizes[i] * sizes[j]).reshape(sizes[i], sizes[j])
            inter[starts[i] : starts[i + 1], starts[j] : starts[j + 1]] = joint
            inter[starts[j] : starts[j + 1], starts[i] : starts[i + 1]] = joint.T
    inter_t = torch.from_numpy(inter).float()
    h, w = label_maps[0].shape
    keep = filter.select(torch.diagonal(inter_t).clone(), lambda idx: inter_t[idx][:, idx], h * w)
    if len(keep) == 0:
        return torch.zeros(0, h, w)
    return torch.stack([torch.from_numpy(label_maps[segments[q][0]] == segments[q][1]) for q in keep.tolist()]).float()


class GraphProposals(ProposalGenerator):
    """Multi-scale Felzenszwalb-Huttenlocher graph segmentation (scikit-image): each segment at
    each scale is a proposal, so coarse and fine segments overlap like a hierarchy."""

    name = "graph"

    def __init__(self, scales: tuple[float, ...] = (300.0, 1000.0, 3000.0), sigma: float = 0.8, filter: MaskFilter | None = None) -> None:
        self.scales = tuple(scales)
        self.sigma = sigma
        self.filter = filter or MaskFilter()

    def __call__(self, image: np.ndarray, vocabulary: Vocabulary | None = None) -> Proposals:
        from skimage.segmentation import felzenszwalb

        area = image.shape[0] * image.shape[1]
        maps = [felzenszwalb(image, scale=s, sigma=self.sigma, min_size=max(16, int(self.filter.min_area * area))) for s in self.scales]
        return Proposals(label_map_proposals(maps, self.filter))


class SlicProposals(ProposalGenerator):
    """SLIC superpixels (scikit-image) at several granularities."""

    name = "slic"

    def __init__(self, n_segments: tuple[int, ...] = (12, 36, 100), compactness: float = 10.0, filter: MaskFilter | None = None) -> None:
        self.n_segments = tuple(n_segments)
        self.compactness = compactness
        self.filter = filter or MaskFilter()

    def __call__(self, image: np.ndarray, vocabulary: Vocabulary | None = None) -> Proposals:
        from skimage.segmentation import slic

        maps = [slic(image, n_segments=n, compactness=self.compactness, start_label=0) for n in self.n_segments]
        return Proposals(label_map_proposals(maps, self.filter))


class WholeImageProposal(ProposalGenerator):
    """One mask covering the image: image-level classification (a fallback and a test aid)."""

    name = "whole"

    def __call__(self, image: np.ndarray, vocabulary: Vocabulary | None = None) -> Proposals:
        return Proposals(torch.ones(1, image.shape[0], image.shape[1]))


def _maskformer(model: str | None = None, **kwargs) -> ProposalGenerator:
    from .pretrained_proposals import MaskFormerProposals

    if model is None:
        raise ZsegError(
            "the maskformer proposal generator needs a network trained with `zsseg train`: pass --proposals-model RUN/model.pt "
            "or use --proposals graph, slic, sam or mask2former"
        )
    return MaskFormerProposals(model, **kwargs)


def _sam(**kwargs) -> ProposalGenerator:
    from .pretrained_proposals import SamProposals

    return SamProposals(**kwargs)


def _mask2former(**kwargs) -> ProposalGenerator:
    from .pretrained_proposals import Mask2FormerProposals

    return Mask2FormerProposals(**kwargs)


PROPOSAL_GENERATORS = {"graph": GraphProposals, "slic": SlicProposals, "whole": WholeImageProposal, "maskformer": _maskformer,
                       "sam": _sam, "mask2former": _mask2former}
NEEDS_MODEL = ("sam", "mask2former", "maskformer")


def build_proposals(name: str, model: str | None = None, device: str = "cpu", **kwargs) -> ProposalGenerator:
    """A generator by name; ``model`` (hub id or local folder) for the pretrained ones."""
    if isinstance(name, ProposalGenerator):
        return name
    if name not in PROPOSAL_GENERATORS:
        raise ZsegError(f"unknown proposal generator {name!r}; choose one of {', '.join(PROPOSAL_GENERATORS)}")
    if name in NEEDS_MODEL:
        if model is not None:
            kwargs["model"] = model
        kwargs["device"] = device
    elif model is not None:
        raise ZsegError(f"--proposals-model is only for {' / '.join(NEEDS_MODEL)}, not {name}")
    return PROPOSAL_GENERATORS[name](**kwargs)
