"""Query masks of a pretrained Mask2Former / MaskFormer checkpoint (transformers) as stage 1, with
its class scores as p_q where its labels meet the vocabulary."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..hub import load_config, load_parts
from ..modeling.common import pad_to_multiple
from ..vocabulary import Vocabulary
from .base import ClassScores, MaskFilter, ProposalGenerator, Proposals

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Mask2FormerProposals(ProposalGenerator):
    """Query masks of a ``Mask2FormerForUniversalSegmentation`` or ``MaskFormerForInstanceSegmentation``
    checkpoint as class-agnostic proposals (the paper's stage 1 with a pretrained network). Where
    a vocabulary class names one of the checkpoint's labels, that label's probability is the
    class's p_q and the class counts as seen; other classes are unseen with p_q = 1."""

    name = "mask2former"

    def __init__(
        self,
        model: str = "facebook/mask2former-swin-tiny-coco-panoptic",
        use_class_scores: bool = True,
        min_query_score: float = 0.0,
        filter: MaskFilter | None = None,
        device: str = "cpu",
        _model=None,
    ) -> None:
        self.model_name = str(model)
        self.use_class_scores = use_class_scores
        self.min_query_score = min_query_score
        self.filter = filter or MaskFilter(dedup_iou=0.95)
        self.device = device
        if _model is None:
            from transformers import AutoModelForUniversalSegmentation

            load_config(
                self.model_name,
                "mask2former model",
                "--proposals-model",
                ("mask2former", "maskformer"),
                "--proposals mask2former needs one of: mask2former, maskformer",
            )
            (_model,) = load_parts(self.model_name, "weights", AutoModelForUniversalSegmentation.from_pretrained)
        self._model = _model.eval().to(device)
        labels = getattr(self._model.config, "id2label", {}) or {}
        by_id = {int(k): str(v) for k, v in labels.items()}
        self._labels = [[by_id.get(i, "")] for i in range(max(by_id, default=-1) + 1)]  # the name of label i

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> Proposals:
        h, w = image.shape[:2]
        x = torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255
        x = (x - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)
        x = pad_to_multiple(x, 32)[None].to(self.device)  # the backbones need sizes divisible by 32
        out = self._model(pixel_values=x)
        masks = (
            F.interpolate(out.masks_queries_logits, size=x.shape[-2:], mode="bilinear", align_corners=False)[
                0, :, :h, :w
            ]
            .sigmoid()
            .cpu()
        )
        probs = out.class_queries_logits[0].softmax(-1)[:, :-1].cpu()  # drop "no object" after the softmax
        score = probs.max(1).values
        keep = self.filter(masks, score)
        keep = keep[score[keep] >= self.min_query_score]
        return Proposals(masks[keep], state=probs[keep])  # probabilities over the checkpoint's labels

    def score(self, proposals: Proposals, vocabulary: Vocabulary) -> ClassScores | None:
        index = vocabulary.match(self._labels, normalise=_norm)
        if not self.use_class_scores or all(i is None for i in index):
            return None
        p_q = torch.ones(len(proposals), len(vocabulary))
        for c, i in enumerate(index):
            if i is not None:
                p_q[:, c] = proposals.state[:, i]
        return ClassScores(p_q, torch.tensor([i is not None for i in index]))


def _norm(name: str) -> str:
    return " ".join(
        str(name).lower().replace("-merged", "").replace("-other", "").replace("-", " ").replace("_", " ").split()
    )
