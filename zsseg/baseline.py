"""The per-pixel baseline as a segmenter: what the two-stage method is compared with.

One forward pass of a ``per_pixel`` network trained by ``zsseg train``; every pixel takes the class
whose text embedding (same text encoder as in training) its embedding is closest to. No proposals,
no crop classification.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from .ensemble import semantic_map
from .errors import ZsegError
from .image_io import DEFAULT_MAX_PIXELS, ImageInput, load_image
from .modeling import load_trained
from .modeling.common import network_input
from .prompts import ClassEmbedder
from .segmenter import Segmentation, resize_short_side
from .vocabulary import Vocabulary, resolve_vocabulary


class PerPixelSegmenter:
    """``PerPixelSegmenter("runs/voc15-fcn/model.pt")(image, classes) -> Segmentation``."""

    def __init__(self, model: str, short_side: int = 384, device: str = "cpu", max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        net, meta = load_trained(model)
        if net.config.architecture != "per_pixel":
            raise ZsegError(f"{model}: a {net.config.architecture} network, not a per-pixel one; use it with --proposals maskformer --proposals-model")
        self.model, self.short_side, self.device, self.max_pixels = str(model), short_side, device, max_pixels
        self._net = net.to(device)
        self._embedder = ClassEmbedder(meta["text_model"], meta["templates"], device=device)
        self._meta = {k: meta[k] for k in ("classes", "text_model", "templates", "dataset", "unseen", "step") if k in meta}

    def settings(self) -> dict:
        return {"per_pixel_model": self.model, "short_side": self.short_side, "device": self.device, **self._meta}

    @torch.no_grad()
    def __call__(self, image: ImageInput, classes: str | Sequence[str] | Vocabulary, unseen: Sequence[str] | None = None) -> Segmentation:
        """``unseen`` is accepted for the evaluation loop's sake; a per-pixel model treats all classes alike."""
        timings: dict[str, float] = {}
        t = time.perf_counter()
        vocab = resolve_vocabulary(classes)
        rgb = load_image(image, self.max_pixels)
        work = resize_short_side(rgb, self.short_side)
        timings["decode"] = time.perf_counter() - t
        t = time.perf_counter()
        text = self._embedder(vocab.prompts)
        timings["text"] = time.perf_counter() - t
        t = time.perf_counter()
        h, w = work.shape[:2]
        x = network_input(work, self.device)
        logits = self._net(x, text)
        probs = torch.nn.functional.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, :, :h, :w].softmax(0).cpu()
        timings["model"] = time.perf_counter() - t
        t = time.perf_counter()
        # class probability maps as "masks" with identity class probabilities: the shared,
        # memory-bounded resize-and-argmax of the two-stage path gives argmax_c p_c per pixel
        eye = torch.eye(len(vocab))
        labels, confidence = semantic_map(eye, probs, rgb.shape[:2])
        timings["semantic_map"] = time.perf_counter() - t
        timings["total"] = sum(timings.values())
        class_scores = probs.flatten(1).mean(1)
        return Segmentation(labels.numpy().astype(np.int32), vocab, class_scores.numpy(), probs, eye, confidence.numpy(), timings, self.settings())
