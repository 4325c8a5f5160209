"""Segment Anything's automatic mask generation as stage 1 (a transformers ``SamModel``)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ZsegError
from ..geometry import box_nms, crop_boxes, mask_boxes_inclusive, point_grid
from ..hub import load_config
from .base import MaskFilter, ProposalGenerator, Proposals


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

            load_config(self.model_name, "sam model", "--proposals-model", ("sam",), "--proposals sam needs one of: sam")
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

    def __call__(self, image: np.ndarray) -> Proposals:
        masks, scores = self.generate(image)
        masks = masks.float()
        keep = self.filter(masks, scores)
        return Proposals(masks[keep], info={"predicted_iou": scores[keep].tolist()})


