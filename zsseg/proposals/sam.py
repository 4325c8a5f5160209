"""Segment Anything's automatic mask generation as stage 1 (a transformers ``SamModel``)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..geometry import box_nms, crop_boxes, mask_boxes_inclusive, point_grid
from ..hub import load_config, load_parts
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

            load_config(
                self.model_name, "sam model", "--proposals-model", ("sam",), "--proposals sam needs one of: sam"
            )
            _model, _processor = load_parts(
                self.model_name,
                "SAM weights or preprocessor",
                SamModel.from_pretrained,
                SamImageProcessorPil.from_pretrained,
            )
        self._model = _model.eval().to(device)
        self._processor = _processor

    @torch.no_grad()
    def generate(self, image: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Binary masks [N, H, W] and their predicted IoUs [N], after the filters and box NMS."""
        h, w = image.shape[:2]
        parts = [
            self._crop_masks(image, box, layer)
            for box, layer in crop_boxes(h, w, self.crop_n_layers, self.crop_overlap_ratio)
        ]
        masks = torch.cat([m for m, _, _ in parts])
        scores = torch.cat([s for _, s, _ in parts])
        boxes = torch.cat([b for _, _, b in parts])
        if len(masks) == 0:
            return masks, scores
        keep = box_nms(boxes, scores, self.box_nms_thresh)
        return masks[keep], scores[keep]

    def _crop_masks(self, image: np.ndarray, box: tuple[int, int, int, int], layer: int) -> tuple[torch.Tensor, ...]:
        """One crop: its image embedding once, then the point grid in batches -> (masks [N, H, W]
        pasted into the whole image, predicted IoUs [N], boxes [N, 4] in image coordinates)."""
        x0, y0, x1, y1 = box
        h, w = image.shape[:2]
        crop = image[y0:y1, x0:x1]
        ch, cw = crop.shape[:2]
        inputs = self._processor(images=crop, return_tensors="pt")
        embedding = self._model.get_image_embeddings(inputs["pixel_values"].to(self.device))
        if isinstance(embedding, tuple):  # SAM-HQ style outputs
            embedding = embedding[0]
        n = int(self.points_per_side / (self.crop_n_points_downscale_factor**layer))
        target = self._processor.size.get("longest_edge", self._processor.size.get("height"))
        scale = target / max(ch, cw)
        resized = np.array([int(cw * scale + 0.5), int(ch * scale + 0.5)])
        points = torch.tensor(point_grid(n) * resized, dtype=torch.float32)  # in the resized crop's pixels
        masks, scores, boxes = [], [], []
        for i in range(0, len(points), self.points_per_batch):
            m, s = self._point_batch(embedding, points[i : i + self.points_per_batch], inputs)
            m, s, b = self._inside_crop(m, s, box, (w, h))
            if box != (0, 0, w, h):
                m = F.pad(m, (x0, w - x1, y0, h - y1))
            masks.append(m)
            scores.append(s)
            boxes.append(b)
        return torch.cat(masks), torch.cat(scores), torch.cat(boxes)

    def _point_batch(self, embedding: torch.Tensor, points: torch.Tensor, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Masks of a batch of point prompts (3 per point) at the crop's size that pass the
        predicted-IoU and stability filters: (binary masks [N, h, w], predicted IoUs [N])."""
        out = self._model(
            image_embeddings=embedding,
            input_points=points[None, :, None, :].to(self.device),
            input_labels=torch.ones(1, len(points), 1, dtype=torch.long, device=self.device),
            multimask_output=True,
        )
        logits = self._processor.post_process_masks(
            out.pred_masks.cpu(), inputs["original_sizes"], inputs["reshaped_input_sizes"], binarize=False
        )[0]
        logits, iou = logits.flatten(0, 1), out.iou_scores[0].cpu().flatten(0, 1)
        keep = torch.ones(len(iou), dtype=torch.bool)
        if self.pred_iou_thresh > 0:
            keep &= iou > self.pred_iou_thresh
        if self.stability_score_thresh > 0:
            hi = (logits > self.mask_threshold + self.stability_score_offset).flatten(1).sum(1)
            lo = (logits > self.mask_threshold - self.stability_score_offset).flatten(1).sum(1)
            keep &= (hi / lo.clamp(min=1)) > self.stability_score_thresh
        return logits[keep] > self.mask_threshold, iou[keep]

    @staticmethod
    def _inside_crop(
        masks: torch.Tensor, scores: torch.Tensor, box: tuple[int, int, int, int], size: tuple[int, int]
    ) -> tuple[torch.Tensor, ...]:
        """Drop masks cut by a crop edge that is not an image edge: (masks, scores, boxes in image coordinates)."""
        x0, y0, x1, y1 = box
        shifted = mask_boxes_inclusive(masks).float() + torch.tensor([x0, y0, x0, y0], dtype=torch.float32)
        near_crop = torch.isclose(shifted, torch.tensor(box, dtype=torch.float32)[None], atol=20.0, rtol=0)
        near_image = torch.isclose(shifted, torch.tensor([0, 0, *size], dtype=torch.float32)[None], atol=20.0, rtol=0)
        inside = ~(near_crop & ~near_image).any(1)
        return masks[inside], scores[inside], shifted[inside]

    def __call__(self, image: np.ndarray) -> Proposals:
        masks, scores = self.generate(image)
        masks = masks.float()
        keep = self.filter(masks, scores)
        return Proposals(masks, info={"predicted_iou": scores.tolist()}).select(keep)
