"""A label map in the shapes other tools read.

- ``coco_segments``: one COCO-style record per connected segment of a class (category, area, bbox,
  RLE mask, score), the ``annotations`` of a COCO file with its ``categories``; the masks are RLE
  as ``pycocotools.mask.encode`` writes them (column-major, counts compressed to a string), so
  ``pycocotools.mask.decode`` gives back the exact pixels.
- ``pipeline_records``: the ``[{label, score, mask}]`` list that transformers' ``image-segmentation``
  pipeline returns (one entry per class present, the mask a PIL "L" image of 0 and 255).

A segment's score is the mean over its pixels of the winning class's share of the pixel's total
score (``Segmentation.confidence``), or None where there is none.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image
from scipy import ndimage

EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)  # a segment: pixels of one class touching by side or corner


def _rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _score(confidence: np.ndarray | None, mask: np.ndarray) -> float | None:
    return None if confidence is None else round(float(confidence[mask].mean()), 4)


def coco_segments(labels: np.ndarray, classes: Sequence[str], confidence: np.ndarray | None = None) -> dict:
    """{"height", "width", "categories", "annotations"}: category ids are class index + 1 (COCO
    keeps 0 for none); annotation ids count from 1 in class order, then in scan order."""
    annotations = []
    for c in np.unique(labels):
        regions, n = ndimage.label(labels == c, structure=EIGHT_NEIGHBOURS)
        boxes = ndimage.find_objects(regions)
        for k in range(1, n + 1):
            mask = regions == k
            ys, xs = boxes[k - 1]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "category_id": int(c) + 1,
                    "category": classes[int(c)],
                    "segmentation": _rle(mask),
                    "area": int(mask.sum()),
                    "bbox": [xs.start, ys.start, xs.stop - xs.start, ys.stop - ys.start],  # x, y, w, h
                    "score": _score(confidence, mask),
                    "iscrowd": 0,
                }
            )
    return {
        "height": int(labels.shape[0]),
        "width": int(labels.shape[1]),
        "categories": [{"id": i + 1, "name": name} for i, name in enumerate(classes)],
        "annotations": annotations,
    }


def pipeline_records(labels: np.ndarray, classes: Sequence[str], confidence: np.ndarray | None = None) -> list[dict]:
    """[{"score", "label", "mask"}] per class present, in class order (transformers' image-segmentation shape)."""
    out = []
    for c in np.unique(labels):
        mask = labels == c
        mask_image = Image.fromarray(mask.astype(np.uint8) * 255)
        out.append({"score": _score(confidence, mask), "label": classes[int(c)], "mask": mask_image})
    return out
