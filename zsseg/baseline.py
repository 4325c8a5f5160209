"""The per-pixel baseline as a segmenter: what the two-stage method is compared with.

One forward pass of a ``per_pixel`` network trained by ``zsseg train``; every pixel takes the class
whose text embedding (same text encoder as in training) its embedding is closest to. No proposals,
no crop classification.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .config import SegmenterConfig, resolve_config
from .ensemble import semantic_map
from .errors import ZsegError
from .image_io import DEFAULT_MAX_PIXELS, ImageInput, load_image, resize_short_side
from .modeling import load_trained
from .modeling.common import network_input
from .segmenter import Segmentation
from .text import ClassEmbedder
from .timing import Stopwatch
from .vocabulary import Vocabulary, resolve_vocabulary


class PerPixelSegmenter:
    """``PerPixelSegmenter("runs/voc15-fcn/model.pt")(image, classes) -> Segmentation``."""

    def __init__(
        self, model: str, short_side: int | None = None, device: str = "cpu", max_pixels: int = DEFAULT_MAX_PIXELS
    ) -> None:
        """``short_side``: working resolution; None = that of the two-stage path on the same text model."""
        net, meta = load_trained(model)
        if net.config.architecture != "per_pixel":
            raise ZsegError(
                f"{model}: a {net.config.architecture} network, not a per-pixel "
                "one; use it with --proposals maskformer --proposals-model"
            )
        self.model, self.device, self.max_pixels = str(model), device, max_pixels
        self.short_side = resolve_config(SegmenterConfig(model=meta["text_model"], short_side=short_side)).short_side
        self._net = net.to(device)
        self._embedder = ClassEmbedder.from_name(meta["text_model"], meta["templates"], device=device)
        self._meta = {
            k: meta[k] for k in ("classes", "text_model", "templates", "dataset", "unseen", "step") if k in meta
        }

    def settings(self) -> dict:
        return {"per_pixel_model": self.model, "short_side": self.short_side, "device": self.device, **self._meta}

    @torch.no_grad()
    def __call__(
        self, image: ImageInput, classes: str | Sequence[str] | Vocabulary, unseen: Sequence[str] | None = None
    ) -> Segmentation:
        """``unseen`` is accepted for the evaluation loop's sake; a per-pixel model treats all classes alike."""
        watch = Stopwatch(self.device)
        with watch("decode"):
            vocab = resolve_vocabulary(classes)
            rgb = load_image(image, self.max_pixels)
            work = resize_short_side(rgb, self.short_side)
        with watch("text"):
            text = self._embedder(vocab.prompts)
        with watch("model"):
            h, w = work.shape[:2]
            x = network_input(work, self.device)
            logits = self._net(x, text)
            probs = (
                torch.nn.functional.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)[
                    0, :, :h, :w
                ]
                .softmax(0)
                .cpu()
            )
        with watch("semantic_map"):
            # class probability maps as "masks" with identity class probabilities: the shared,
            # memory-bounded resize-and-argmax of the two-stage path gives argmax_c p_c per pixel
            eye = torch.eye(len(vocab))
            labels, confidence = semantic_map(eye, probs, rgb.shape[:2])
        class_scores = probs.flatten(1).mean(1)
        return Segmentation(
            labels.numpy().astype(np.int32),
            vocab,
            class_scores.numpy(),
            probs,
            eye,
            confidence.numpy(),
            watch.total(),
            self.settings(),
        )
