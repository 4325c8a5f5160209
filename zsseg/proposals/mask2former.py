"""Query masks of a pretrained Mask2Former / MaskFormer checkpoint (transformers) as stage 1, with
its class scores as p_q where its labels meet the vocabulary."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..hub import load_config, load_parts
from ..modeling.common import pad_to_multiple
from ..text import SeenRule, read_classes
from ..vocabulary import Vocabulary
from .base import ClassScores, MaskFilter, ProposalGenerator, Proposals

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Mask2FormerProposals(ProposalGenerator):
    """Query masks of a ``Mask2FormerForUniversalSegmentation`` or ``MaskFormerForInstanceSegmentation``
    checkpoint as class-agnostic proposals (the paper's stage 1 with a pretrained network). Where
    a vocabulary class names one of the checkpoint's labels, that label's probability is the
    class's p_q and the class counts as seen; for the other classes (unseen) it has no opinion: p_q = 1."""

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
        probs = out.class_queries_logits[0].softmax(-1).cpu()  # over the checkpoint's labels + "no object"
        score = probs[:, :-1].max(1).values
        keep = self.filter(masks, score)
        keep = keep[score[keep] >= self.min_query_score]
        return Proposals(masks, state=probs).select(keep)

    def score(self, proposals: Proposals, vocabulary: Vocabulary, rule: SeenRule = SeenRule()) -> ClassScores | None:
        readings = read_classes(vocabulary, self._labels, rule=rule, normalise=_norm)  # by name: no text encoder
        if not self.use_class_scores or not any(r.seen for r in readings):
            return None
        p_q = torch.ones(len(proposals), len(vocabulary))
        for c, r in enumerate(readings):
            if r.seen:
                p_q[:, c] = proposals.state[:, r.known_index]
        return ClassScores(p_q, 1 - proposals.state[:, -1], readings)


def _norm(name: str) -> str:
    return " ".join(
        str(name).lower().replace("-merged", "").replace("-other", "").replace("-", " ").replace("_", " ").split()
    )
