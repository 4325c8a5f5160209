"""Training-free stage 1: multi-scale graph segments (Felzenszwalb) and SLIC superpixels."""

from __future__ import annotations

import numpy as np
import torch

from .base import MaskFilter, ProposalGenerator, Proposals


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

    def __init__(
        self, scales: tuple[float, ...] = (300.0, 1000.0, 3000.0), sigma: float = 0.8, filter: MaskFilter | None = None
    ) -> None:
        self.scales = tuple(scales)
        self.sigma = sigma
        self.filter = filter or MaskFilter()

    def __call__(self, image: np.ndarray) -> Proposals:
        from skimage.segmentation import felzenszwalb

        area = image.shape[0] * image.shape[1]
        maps = [
            felzenszwalb(image, scale=s, sigma=self.sigma, min_size=max(16, int(self.filter.min_area * area)))
            for s in self.scales
        ]
        return Proposals(label_map_proposals(maps, self.filter))


class SlicProposals(ProposalGenerator):
    """SLIC superpixels (scikit-image) at several granularities."""

    name = "slic"

    def __init__(
        self, n_segments: tuple[int, ...] = (12, 36, 100), compactness: float = 10.0, filter: MaskFilter | None = None
    ) -> None:
        self.n_segments = tuple(n_segments)
        self.compactness = compactness
        self.filter = filter or MaskFilter()

    def __call__(self, image: np.ndarray) -> Proposals:
        from skimage.segmentation import slic

        maps = [slic(image, n_segments=n, compactness=self.compactness, start_label=0) for n in self.n_segments]
        return Proposals(label_map_proposals(maps, self.filter))
