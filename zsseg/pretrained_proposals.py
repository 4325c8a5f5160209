"""Stage 1 with pretrained networks from transformers: SAM automatic masks and Mask2Former /
MaskFormer query masks (with their class scores as p_q where their labels meet the vocabulary)."""

from __future__ import annotations

import math
from itertools import product
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .classification import mask_boxes
from .errors import ZsegError
from .modeling import load_trained
from .modeling.common import network_input, pad_to_multiple
from .proposals import MaskFilter, ProposalGenerator, Proposals
from .vocabulary import Vocabulary

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _load(kind: str, name_or_path: str, expected: tuple[str, ...]):
    """(config, model) for a hub id or local folder, with one-line errors."""
    from transformers import AutoConfig

    where = "local directory" if Path(name_or_path).is_dir() else "not a local directory, tried the hub"
    try:
        config = AutoConfig.from_pretrained(name_or_path)
    except Exception as exc:
        raise ZsegError(
            f"cannot load {kind} model {name_or_path!r} ({where}: {' '.join(str(exc).split())[:140]}); on a machine with internet run "
            f"`huggingface-cli download {name_or_path} --local-dir DIR` and pass --proposals-model DIR"
        ) from None
    if config.model_type not in expected:
        raise ZsegError(f"{name_or_path!r} is a {config.model_type!r} checkpoint; --proposals {kind} needs one of: {', '.join(expected)}")
    return config


def box_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression on (x0, y0, x1, y1) boxes; indices kept, best first."""
    order = torch.argsort(scores, descending=True)
    boxes = boxes.float()
    area = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    keep: list[int] = []
    suppressed = torch.zeros(len(boxes), dtype=torch.bool)
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        lt = torch.maximum(boxes[i, :2], boxes[:, :2])
        rb = torch.minimum(boxes[i, 2:], boxes[:, 2:])
        inter = (rb - lt).clamp(min=0).prod(1)
        iou = inter / (area[i] + area - inter).clamp(min=1e-9)
        suppressed |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.long)


def point_grid(n: int) -> np.ndarray:
    """n x n points at cell centres of the unit square, row by row, as (x, y)."""
    c = (np.arange(n) + 0.5) / n
    xs, ys = np.meshgrid(c, c)
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def crop_boxes(height: int, width: int, n_layers: int, overlap_ratio: float) -> list[tuple[tuple[int, int, int, int], int]]:
    """(box, layer) for the whole image and, per layer i >= 1, (2^i)^2 overlapping crops (SAM's scheme)."""
    out = [((0, 0, width, height), 0)]
    short = min(height, width)
    for layer in range(1, n_layers + 1):
        per_side = 2**layer
        overlap = int(overlap_ratio * short * (2 / per_side))
        cw = math.ceil((overlap * (per_side - 1) + width) / per_side)
        ch = math.ceil((overlap * (per_side - 1) + height) / per_side)
        for x0, y0 in product([int((cw - overlap) * i) for i in range(per_side)], [int((ch - overlap) * i) for i in range(per_side)]):
            out.append(((x0, y0, min(x0 + cw, width), min(y0 + ch, height)), layer))
    return out


def mask_boxes_inclusive(masks: torch.Tensor) -> torch.Tensor:
    """(x0, y0, x1, y1) with inclusive x1/y1 of binary masks [N, H, W]; zeros for empty masks."""
    if masks.shape[0] == 0:
        return torch.zeros(0, 4)
    box = mask_boxes(masks)
    box[:, 2:] -= 1
    box[~masks.flatten(1).any(1)] = 0
    return box


class SamProposals(ProposalGenerator):
    """Segment Anything's automatic mask generation with a transformers ``SamModel``.

    The image embedding is computed once per crop and reused for every batch of point prompts.
    Knobs: ``points_per_side`` (the grid), ``pred_iou_thresh`` and ``stability_score_thresh``
    (quality filters), ``crop_n_layers`` (extra passes on zoomed crops), ``box_nms_thresh``
    (mask NMS by boxes), then zsseg's own filter (minimum area, duplicates, at most 100).
    """

    name = "sam"

    def __init__(
        self,
        model: str = "facebook/sam-vit-base",
        points_per_side: int = 16,
        points_per_batch: int = 64,
        pred_iou_thresh: float = 0.88,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        mask_threshold: float = 0.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        filter: MaskFilter | None = None,
        device: str = "cpu",
        _model=None,
        _processor=None,
    ) -> None:
        self.model_name = str(model)
        self.points_per_side, self.points_per_batch = points_per_side, points_per_batch
        self.pred_iou_thresh, self.stability_score_thresh = pred_iou_thresh, stability_score_thresh
        self.stability_score_offset, self.mask_threshold = stability_score_offset, mask_threshold
        self.box_nms_thresh = box_nms_thresh
        self.crop_n_layers, self.crop_overlap_ratio = crop_n_layers, crop_overlap_ratio
        self.crop_n_points_downscale_factor = crop_n_points_downscale_factor
        self.filter = filter or MaskFilter()
        self.device = device
        if _model is None:
            from transformers import SamImageProcessorPil, SamModel

            _load("sam", self.model_name, ("sam",))
            try:
                _model = SamModel.from_pretrained(self.model_name)
                _processor = SamImageProcessorPil.from_pretrained(self.model_name)
            except Exception as exc:
                raise ZsegError(f"cannot load the SAM weights or preprocessor of {self.model_name!r} ({type(exc).__name__}); the download may be incomplete") from None
        self._model = _model.eval().to(device)
        self._processor = _processor

    @torch.no_grad()
    def generate(self, image: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Binary masks [N, H, W] and their predicted IoUs [N], after the filters and box NMS."""
        h, w = image.shape[:2]
        target = self._processor.size.get("longest_edge", self._processor.size.get("height"))
        all_masks, all_scores, all_boxes = [], [], []
        for (x0, y0, x1, y1), layer in crop_boxes(h, w, self.crop_n_layers, self.crop_overlap_ratio):
            crop = image[y0:y1, x0:x1]
            ch, cw = crop.shape[:2]
            inputs = self._processor(images=crop, return_tensors="pt")
            embedding = self._model.get_image_embeddings(inputs["pixel_values"].to(self.device))
            if isinstance(embedding, tuple):  # SAM-HQ style outputs
                embedding = embedding[0]
            n = int(self.points_per_side / (self.crop_n_points_downscale_factor**layer))
            scale = target / max(ch, cw)
            rw, rh = int(cw * scale + 0.5), int(ch * scale + 0.5)
            points = point_grid(n) * np.array([cw, ch]) * np.array([rw / cw, rh / ch])  # in the resized crop's pixels
            points_t = torch.tensor(points, dtype=torch.float32)
            for i in range(0, len(points_t), self.points_per_batch):
                batch = points_t[i : i + self.points_per_batch]
                out = self._model(
                    image_embeddings=embedding,
                    input_points=batch[None, :, None, :].to(self.device),
                    input_labels=torch.ones(1, len(batch), 1, dtype=torch.long, device=self.device),
                    multimask_output=True,
                )
                logits = self._processor.post_process_masks(out.pred_masks.cpu(), inputs["original_sizes"], inputs["reshaped_input_sizes"], binarize=False)[0]
                logits, iou = logits.flatten(0, 1), out.iou_scores[0].cpu().flatten(0, 1)
                keep = torch.ones(len(iou), dtype=torch.bool)
                if self.pred_iou_thresh > 0:
                    keep &= iou > self.pred_iou_thresh
                if self.stability_score_thresh > 0:
                    hi = (logits > self.mask_threshold + self.stability_score_offset).flatten(1).sum(1)
                    lo = (logits > self.mask_threshold - self.stability_score_offset).flatten(1).sum(1)
                    keep &= (hi / lo.clamp(min=1)) > self.stability_score_thresh
                masks = logits[keep] > self.mask_threshold
                scores = iou[keep]
                boxes = mask_boxes_inclusive(masks)
                # drop masks cut by a crop edge that is not an image edge
                crop_edge = torch.tensor([x0, y0, x1, y1], dtype=torch.float32)
                image_edge = torch.tensor([0, 0, w, h], dtype=torch.float32)
                shifted = boxes.float() + torch.tensor([x0, y0, x0, y0], dtype=torch.float32)
                near_crop = torch.isclose(shifted, crop_edge[None], atol=20.0, rtol=0)
                near_image = torch.isclose(shifted, image_edge[None], atol=20.0, rtol=0)
                inside = ~(near_crop & ~near_image).any(1)
                masks, scores, boxes = masks[inside], scores[inside], shifted[inside]
                if (x0, y0, x1, y1) != (0, 0, w, h):
                    masks = F.pad(masks, (x0, w - x1, y0, h - y1))
                all_masks.append(masks)
                all_scores.append(scores)
                all_boxes.append(boxes)
        masks = torch.cat(all_masks) if all_masks else torch.zeros(0, h, w, dtype=torch.bool)
        scores = torch.cat(all_scores) if all_scores else torch.zeros(0)
        boxes = torch.cat(all_boxes) if all_boxes else torch.zeros(0, 4)
        if len(masks) == 0:
            return masks, scores
        keep = box_nms(boxes, scores, self.box_nms_thresh)
        return masks[keep], scores[keep]

    def __call__(self, image: np.ndarray, vocabulary: Vocabulary | None = None) -> Proposals:
        masks, scores = self.generate(image)
        masks = masks.float()
        keep = self.filter(masks, scores)
        return Proposals(masks[keep], info={"predicted_iou": scores[keep].tolist()})


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

            _load("mask2former", self.model_name, ("mask2former", "maskformer"))
            try:
                _model = AutoModelForUniversalSegmentation.from_pretrained(self.model_name)
            except Exception as exc:
                raise ZsegError(f"cannot load the weights of {self.model_name!r} ({type(exc).__name__}); the download may be incomplete") from None
        self._model = _model.eval().to(device)
        labels = getattr(self._model.config, "id2label", {}) or {}
        by_id = {int(k): str(v) for k, v in labels.items()}
        self._labels = [[by_id.get(i, "")] for i in range(max(by_id, default=-1) + 1)]  # the name of label i

    @torch.no_grad()
    def __call__(self, image: np.ndarray, vocabulary: Vocabulary | None = None) -> Proposals:
        h, w = image.shape[:2]
        x = torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255
        x = (x - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)
        x = pad_to_multiple(x, 32)[None].to(self.device)  # the backbones need sizes divisible by 32
        out = self._model(pixel_values=x)
        masks = F.interpolate(out.masks_queries_logits, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, :, :h, :w].sigmoid().cpu()
        probs = out.class_queries_logits[0].softmax(-1)[:, :-1].cpu()  # drop "no object" after the softmax
        score = probs.max(1).values
        keep = self.filter(masks, score)
        keep = keep[score[keep] >= self.min_query_score]
        masks, probs = masks[keep], probs[keep]
        if not (self.use_class_scores and vocabulary):
            return Proposals(masks)
        index = vocabulary.match(self._labels, normalise=_norm)
        if all(i is None for i in index):
            return Proposals(masks, info={"matched_labels": 0})
        p_q = torch.ones(len(masks), len(vocabulary))
        for c, i in enumerate(index):
            if i is not None:
                p_q[:, c] = probs[:, i]
        seen = torch.tensor([i is not None for i in index])
        return Proposals(masks, p_q, info={"matched_labels": int(seen.sum())}, seen=seen)


def _norm(name: str) -> str:
    return " ".join(str(name).lower().replace("-merged", "").replace("-other", "").replace("-", " ").replace("_", " ").split())


class MaskFormerProposals(ProposalGenerator):
    """The stage-1 network trained by ``zsseg train`` (a ``model.pt``): its query masks, and its
    class probabilities for the user's vocabulary as p_q, computed against text embeddings from the
    same text encoder it was trained with; classes named like a training class count as seen."""

    name = "maskformer"

    def __init__(self, model: str, device: str = "cpu", filter: MaskFilter | None = None) -> None:
        net, meta = load_trained(model)
        if net.config.architecture != "maskformer":
            raise ZsegError(f"{model}: a {net.config.architecture} network gives no mask proposals; evaluate it with `zsseg eval --per-pixel-model`")
        self.model_name = str(model)
        self.device = device
        self.filter = filter or MaskFilter(min_area=0.0, dedup_iou=1.01, max_masks=net.config.num_queries)
        self._net = net.to(device)
        self._trained = [[n, *p] for n, p in zip(meta["classes"], meta["prompts"])]  # each training class's names
        self._trained_prompts = [tuple(p) for p in meta["prompts"]]
        self._text_model, self._templates = meta["text_model"], meta["templates"]
        self._embedder = None  # built on first use

    @torch.no_grad()
    def __call__(self, image: np.ndarray, vocabulary: Vocabulary | None = None) -> Proposals:
        if not vocabulary:
            raise ZsegError("the maskformer proposal generator needs the class names")
        if self._embedder is None:
            from .prompts import ClassEmbedder

            self._embedder = ClassEmbedder(self._text_model, self._templates, device=self.device)
        # a class that names a training class is embedded exactly as in training ("seen")
        matched = vocabulary.match(self._trained)
        prompts = [vocabulary.prompts[c] if t is None else self._trained_prompts[t] for c, t in enumerate(matched)]
        h, w = image.shape[:2]
        x = network_input(image, self.device)
        out = self._net(x, self._embedder(prompts))[-1]
        masks = F.interpolate(out["pred_masks"], size=x.shape[-2:], mode="bilinear", align_corners=False)[0, :, :h, :w].sigmoid().cpu()
        probs = out["pred_logits"][0].softmax(-1)[:, :-1].cpu()  # "no object" dropped after the softmax, as zsseg
        keep = self.filter(masks, probs.max(1).values)
        return Proposals(masks[keep], probs[keep], seen=torch.tensor([t is not None for t in matched]))

